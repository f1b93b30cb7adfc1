"""The ssml-clean stage: parse SSML with a hardened parser into text runs, pauses and
boundaries that the later stages understand, whatever the backend.

Hardened: no DOCTYPE, no entity declarations, no external references (so no entity bombs and no
file reads), a size limit, a nesting limit. Malformed input is an `SSMLError` with the line and
column. Plain text goes through the same stage: paragraphs (blank lines) become boundaries.

Supported: <speak> <p> <s> <break time|strength> <prosody rate|pitch|volume> <sub alias>
<say-as interpret-as> <voice name|xml:lang> <lang xml:lang> <emphasis> <mark>
<phoneme alphabet="ipa|x-pinyin" ph> <audio>. What a backend cannot do itself is translated
later (pauses become silence at concatenation, rate a tempo filter, volume a gain) or dropped
with a warning; a `<phoneme>` goes the way of a lexicon entry (`voxline.lexicon`).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from xml.parsers import expat

from .errors import SSMLError
from .langdetect import canonical_language
from .lexicon import ALPHABETS, check_pinyin
from .models import Prosody

MAX_SSML_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_BREAK_S = 30.0

BREAK_STRENGTH_S = {
    "none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.4, "strong": 0.7, "x-strong": 1.2,
}
RATE_WORDS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25,
              "x-fast": 1.6}
PITCH_WORDS = {"x-low": 0.7, "low": 0.85, "medium": 1.0, "default": 1.0, "high": 1.15,
               "x-high": 1.3}
VOLUME_WORDS = {"silent": -60.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0,
                "loud": 6.0, "x-loud": 10.0}
SPELL_OUT = {"characters", "spell-out", "letters", "verbatim", "digits", "telephone"}
KNOWN_TAGS = {"speak", "p", "s", "break", "prosody", "sub", "say-as", "voice", "lang",
              "emphasis", "mark", "phoneme", "audio", "paragraph", "sentence", "desc"}


@dataclass(frozen=True)
class TextRun:
    """Written text with the delivery that applies to it.

    `text` is what goes on to normalization (a `<sub>` alias already substituted);
    `source_text` is what the document says there; `span` is its character range in the
    document. `say_as` is the SSML interpret-as value, if any. `phonemes`: a `<phoneme>`'s
    pronunciation of all of `text`, as (alphabet, phonemes) pairs.
    """

    text: str
    span: tuple[int, int]
    source_text: str
    prosody: Prosody = field(default_factory=Prosody)
    language: str | None = None
    voice: str | None = None
    say_as: str | None = None
    speaker: str | None = None  # a dialogue turn's label as written ("客服："), not spoken
    phonemes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pause:
    """Silence to insert at this point, in seconds."""

    duration_s: float


@dataclass(frozen=True)
class Boundary:
    """The end of a sentence (`s`) or a paragraph (`p`)."""

    kind: str


Item = TextRun | Pause | Boundary


@dataclass
class CleanResult:
    items: list[Item]
    warnings: list[str]


_PARAGRAPH = re.compile(r"\n[ \t\u3000]*\n\s*")


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each paragraph of plain text (blank lines between them)."""
    spans, start = [], 0
    for match in _PARAGRAPH.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def clean_plain(text: str) -> CleanResult:
    """Plain text: one run per paragraph, paragraphs separated by boundaries."""
    items: list[Item] = []
    for number, (start, end) in enumerate(_paragraphs(text)):
        if number:
            items.append(Boundary("p"))
        _add_run(items, text, start, end)
    return CleanResult(items, [])


# a line that opens with something shaped like a speaker label: "客服：", "Agent:"
_LABEL_LIKE = re.compile(r"^[ \t\u3000]*([^\s:：]{1,16})[ \t]*[:：]", re.M)


def clean_dialogue(text: str, speakers: Mapping[str, str], turn_pause_s: float) -> CleanResult:
    """A dialogue script: a line that starts with a speaker's label (`客服：`, `Agent:`; one
    of `speakers`' keys, followed by a colon, full-width or not) opens that speaker's turn,
    spoken with the speaker's voice (`speakers`' value: `backend:voice`, or a voice) and
    followed by `turn_pause_s` of silence. The turn goes on over the lines after it until
    the next label or a blank line; other text is narration in the default voice. The label
    itself is not spoken."""
    labels = sorted(speakers, key=len, reverse=True)
    turn = re.compile(r"^[ \t\u3000]*(" + "|".join(map(re.escape, labels))
                      + r")[ \t]*[:：][ \t\u3000]*", re.M)
    unmapped = Counter(match.group(1) for match in _LABEL_LIKE.finditer(text)
                       if match.group(1) not in speakers)
    items: list[Item] = []
    for number, (start, end) in enumerate(_paragraphs(text)):
        if number:
            items.append(Boundary("p"))
        marks = list(turn.finditer(text, start, end))
        _add_run(items, text, start, marks[0].start() if marks else end)
        for mark, following in zip(marks, marks[1:] + [None]):
            stop = following.start() if following else end
            if text[mark.end():stop].strip():
                written = text[mark.start():mark.end()].strip()
                items.append(TextRun(text[mark.end():stop], (mark.end(), stop),
                                     text[mark.end():stop], voice=speakers[mark.group(1)],
                                     speaker=written + ("" if written.endswith("：") else " ")))
                items.append(Pause(turn_pause_s))
    warnings = [f"{count} lines start with {label!r} and a colon, but no voice is mapped to "
                f"that speaker (they are read as they are; --voices {label}=BACKEND:VOICE)"
                for label, count in unmapped.items() if count >= 2]
    return CleanResult(items, warnings)


def _add_run(items: list[Item], text: str, start: int, end: int) -> None:
    if text[start:end].strip():
        items.append(TextRun(text[start:end], (start, end), text[start:end]))


def parse_time(value: str) -> float:
    """'500ms', '1.5s', '2' (seconds) → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", value or "")
    if not match:
        raise ValueError(f"break time {value!r} is not like '500ms' or '1.5s'")
    number = float(match.group(1))
    return number / 1000.0 if match.group(2) == "ms" else number


def _relative(value: str, words: dict[str, float], what: str) -> float:
    value = value.strip().lower()
    if value in words:
        return words[value]
    match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)(%|st)?", value)
    if not match:
        raise ValueError(f"{what} {value!r} not understood")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "st":
        return 2.0 ** (number / 12.0)
    if unit == "%":
        # '+20%' is relative to the current value; '80%' is a fraction of it
        return 1.0 + number / 100.0 if value[0] in "+-" else number / 100.0
    return number


def parse_rate(value: str) -> float:
    rate = _relative(value, RATE_WORDS, "prosody rate")
    if not 0.2 <= rate <= 4.0:
        raise ValueError(f"prosody rate {value!r} is outside 20%–400%")
    return rate


def parse_pitch(value: str) -> float:
    return max(0.25, min(_relative(value, PITCH_WORDS, "prosody pitch"), 4.0))


def parse_volume(value: str) -> float:
    value = value.strip().lower()
    if value in VOLUME_WORDS:
        return VOLUME_WORDS[value]
    match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*db", value)
    if not match:
        raise ValueError(f"prosody volume {value!r} is not a word or like '+6dB'")
    return float(match.group(1))


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.items: list[Item] = []
        self.warnings: list[str] = []
        self.depth = 0
        self.stack: list[dict] = [
            {"tag": None, "prosody": Prosody(), "language": None, "voice": None, "say_as": None,
             "sub": None}
        ]
        data = text.encode("utf-8")
        # byte offset → character offset, for spans (expat reports bytes)
        self._byte_starts = []
        position = 0
        for ch in text:
            self._byte_starts.append(position)
            position += len(ch.encode("utf-8"))
        self.data = data
        self.parser = expat.ParserCreate("utf-8")
        self.parser.buffer_text = True
        self.parser.StartDoctypeDeclHandler = self._refuse_doctype
        self.parser.EntityDeclHandler = self._refuse_entity
        self.parser.ExternalEntityRefHandler = self._refuse_external
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._chars
        self.root_seen = False
        self.shortened: list[float] = []  # <break>s longer than MAX_BREAK_S, as asked

    def _error(self, message: str) -> SSMLError:
        return SSMLError(
            message, line=self.parser.CurrentLineNumber,
            column=self.parser.CurrentColumnNumber + 1,
        )

    def _refuse_doctype(self, *args):
        raise self._error("DOCTYPE declarations are not allowed")

    def _refuse_entity(self, *args):
        raise self._error("entity declarations are not allowed")

    def _refuse_external(self, *args):
        raise self._error("external references are not allowed")

    def _char_offset(self, byte_index: int) -> int:
        return bisect.bisect_right(self._byte_starts, byte_index) - 1

    def _start(self, raw_tag: str, attrs: dict[str, str]):
        tag = raw_tag.rsplit(":", 1)[-1]
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"elements nested deeper than {MAX_DEPTH}")
        if not self.root_seen:
            self.root_seen = True
            if tag != "speak":
                raise self._error(f"the root element must be <speak>, not <{raw_tag}>")
        top = dict(self.stack[-1], tag=tag)
        try:
            self._apply(tag, attrs, top)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        self.stack.append(top)

    def _apply(self, tag: str, attrs: dict[str, str], top: dict) -> None:
        lang = attrs.get("xml:lang") or attrs.get("lang")
        if lang:
            top["language"] = canonical_language(lang)
        if tag in ("p", "paragraph", "s", "sentence"):
            self.items.append(Boundary("p" if tag in ("p", "paragraph") else "s"))
        elif tag == "break":
            if "time" in attrs:
                seconds = parse_time(attrs["time"])
            else:
                strength = attrs.get("strength", "medium")
                if strength not in BREAK_STRENGTH_S:
                    raise ValueError(f"break strength {strength!r} not understood")
                seconds = BREAK_STRENGTH_S[strength]
            if seconds > MAX_BREAK_S:  # one warning for all of them, said at the end
                self.shortened.append(seconds)
                seconds = MAX_BREAK_S
            self.items.append(Pause(seconds))
        elif tag == "prosody":
            prosody = top["prosody"]
            if "rate" in attrs:
                prosody = replace(prosody, rate=prosody.rate * parse_rate(attrs["rate"]))
            if "pitch" in attrs:
                prosody = replace(prosody, pitch=prosody.pitch * parse_pitch(attrs["pitch"]))
            if "volume" in attrs:
                prosody = replace(
                    prosody, volume_db=prosody.volume_db + parse_volume(attrs["volume"])
                )
            top["prosody"] = prosody
        elif tag == "sub":
            if "alias" not in attrs:
                raise ValueError("<sub> needs an alias attribute")
            top["sub"] = {"alias": attrs["alias"], "start": None, "end": None, "source": []}
        elif tag == "say-as":
            top["say_as"] = (attrs.get("interpret-as") or "").lower() or None
        elif tag == "voice":
            if attrs.get("name"):
                top["voice"] = attrs["name"]
        elif tag == "emphasis":
            self.warnings.append("<emphasis> is spoken without emphasis")
        elif tag == "audio":
            self.warnings.append("<audio> is not played; its fallback text is spoken")
        elif tag == "phoneme":
            alphabet = attrs.get("alphabet", "ipa")
            if alphabet not in ALPHABETS:
                self.warnings.append(f"<phoneme alphabet={alphabet!r}>: not an alphabet voxline "
                                     f"knows ({', '.join(sorted(ALPHABETS))}); its text is "
                                     "spoken")
            elif attrs.get("ph", "").strip():
                top["sub"] = {"alias": None, "start": None, "end": None, "source": [],
                              "phonemes": (alphabet, " ".join(attrs["ph"].split()))}
        elif tag not in KNOWN_TAGS:
            self.warnings.append(f"unknown SSML tag <{tag}> ignored; its text is spoken")

    def _end(self, raw_tag: str):
        frame = self.stack.pop()
        self.depth -= 1
        tag = frame["tag"]
        if tag == "sub" and frame["sub"] is not None:
            sub = frame["sub"]
            if sub["start"] is None:
                sub["start"] = sub["end"] = self._char_offset(self.parser.CurrentByteIndex)
            self.items.append(TextRun(
                sub["alias"], (sub["start"], sub["end"]), "".join(sub["source"]),
                frame["prosody"], frame["language"], frame["voice"], frame["say_as"],
            ))
        elif tag == "phoneme" and (frame["sub"] or {}).get("phonemes"):
            # its text is what a backend that cannot read the alphabet speaks
            sub, text = frame["sub"], "".join(frame["sub"]["source"])
            alphabet, ph = sub["phonemes"]
            problem = check_pinyin(ph, text.strip()) if ALPHABETS[alphabet] == "pinyin" else None
            if problem:
                raise self._error(f"<phoneme>: {problem}")
            if text.strip():
                self.items.append(TextRun(
                    text, (sub["start"], sub["end"]), text, frame["prosody"],
                    frame["language"], frame["voice"], frame["say_as"],
                    phonemes=(sub["phonemes"],)))
        elif tag in ("p", "paragraph", "s", "sentence"):
            self.items.append(Boundary("p" if tag in ("p", "paragraph") else "s"))

    def _chars(self, data: str):
        top = self.stack[-1]
        if top["tag"] == "desc":
            return
        # with buffered text, expat reports the position of the markup that ends the text
        end = self._char_offset(self.parser.CurrentByteIndex)
        if end < 0 or self.parser.CurrentByteIndex >= len(self.data):
            end = len(self.text)
        start = max(0, end - len(data))  # exact unless the text held entity references
        sub = next((f["sub"] for f in reversed(self.stack) if f.get("sub")), None)
        if sub is not None:
            sub["start"] = start if sub["start"] is None else sub["start"]
            sub["end"] = end
            sub["source"].append(data)
            return
        if not data.strip():
            return
        if len(self.stack) == 1:
            return
        self.items.append(TextRun(
            data, (start, end), data, top["prosody"], top["language"], top["voice"],
            top["say_as"],
        ))

    def parse(self) -> CleanResult:
        if len(self.data) > MAX_SSML_BYTES:
            raise SSMLError(f"document larger than {MAX_SSML_BYTES // (1024 * 1024)} MiB")
        try:
            self.parser.Parse(self.data, True)
        except expat.ExpatError as exc:
            raise SSMLError(
                expat.ErrorString(exc.code), line=exc.lineno, column=exc.offset + 1
            ) from None
        if len(self.shortened) == 1:
            self.warnings.append(f"<break> of {self.shortened[0]:g}s shortened to "
                                 f"{MAX_BREAK_S:g}s")
        elif self.shortened:
            self.warnings.append(f"{len(self.shortened)} <break>s longer than {MAX_BREAK_S:g}s "
                                 f"(up to {max(self.shortened):g}s) shortened to "
                                 f"{MAX_BREAK_S:g}s")
        return CleanResult(self.items, self.warnings)


def clean_ssml(text: str) -> CleanResult:
    """Parse an SSML document into runs, pauses and boundaries."""
    return _Parser(text).parse()
