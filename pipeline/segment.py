"""The segment stage: sentences out of text runs, chunks out of sentences.

Sentences end at `。！？；…` and `. ! ? ;` (not after an abbreviation, an initial or inside a
number) and at line breaks. Sentences are then merged into chunks up to the backend's budget;
a sentence longer than the budget is split at commas, then at spaces, then hard.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .models import Chunk, PhonemeSpan, Sentence

_CLOSERS = r"[\"'”’」』）)\]]*"
_END = re.compile(
    r"[。！？；…]+" + _CLOSERS
    + r"|(?:[!?;]+|\.{3,}|(?<!\.)\.(?!\.))" + _CLOSERS + r"(?=\s|$|[^\x00-\x7f])"
    + r"|\n+"
)
_NO_BREAK_AFTER = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "no", "e.g", "i.e", "fig", "vol",
    "approx", "mt", "gen", "gov", "sen", "rep", "lt", "col", "capt", "sgt",
}
_BREAK_IF_CAPITAL_FOLLOWS = {"etc", "a.m", "p.m", "inc", "ltd", "co", "corp", "u.s", "u.k"}
_CLAUSE = re.compile(r"(?<=[，、,：:；;])\s*")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _is_false_stop(text: str, dot: int) -> bool:
    """Whether the '.' at `dot` ends an abbreviation or initial rather than a sentence."""
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:dot])
    if not word:
        return False
    token = word.group(1).lower()
    if len(token) == 1 and text[dot - 1].isupper():  # an initial: "J. K. Rowling"
        return True
    if token in _NO_BREAK_AFTER:
        return True
    if token in _BREAK_IF_CAPITAL_FOLLOWS:
        following = text[dot + 1:].lstrip()
        return bool(following) and not following[0].isupper()
    return False


def split_sentences(text: str, offset: int = 0) -> list[tuple[str, tuple[int, int]]]:
    """Sentences of `text` with their spans (shifted by `offset`), whitespace trimmed."""
    out: list[tuple[str, tuple[int, int]]] = []
    start = 0
    for match in _END.finditer(text):
        if match.group(0).startswith(".") and _is_false_stop(text, match.start()):
            continue
        _emit(out, text, start, match.end(), offset)
        start = match.end()
    _emit(out, text, start, len(text), offset)
    return out


def _emit(out, text: str, start: int, end: int, offset: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        begin = offset + start + lead
        out.append((stripped, (begin, begin + len(stripped))))


def split_long(text: str, budget: int) -> list[str]:
    """Pieces of `text` no longer than `budget`: at clause punctuation, then spaces, then
    hard cuts."""
    if len(text) <= budget:
        return [text]
    pieces: list[str] = []
    for clause in (p for p in _CLAUSE.split(text) if p):
        if len(clause) <= budget:
            pieces.append(clause)
            continue
        words = clause.split(" ") if not _CJK.search(clause) else [clause]
        current = ""
        for word in words:
            while len(word) > budget:
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(word[:budget])
                word = word[budget:]
            candidate = f"{current} {word}" if current else word
            if len(candidate) > budget:
                pieces.append(current)
                current = word
            else:
                current = candidate
        if current:
            pieces.append(current)
    return _merge_pieces(pieces, budget)


def _merge_pieces(pieces: list[str], budget: int) -> list[str]:
    merged: list[str] = []
    for piece in pieces:
        sep = "" if _CJK.search(piece[:1] or " ") else " "
        if merged and len(merged[-1]) + len(sep) + len(piece) <= budget:
            merged[-1] = merged[-1] + sep + piece
        else:
            merged.append(piece)
    return merged


def first_chunk_budget(text: str, first_chars: int) -> int:
    """The first chunk's size limit for `text`: `first_chars` letters of Latin script, a
    third as many CJK characters (each is a syllable: about as long to say as three
    letters)."""
    return max(8, first_chars // 3) if _CJK.search(text) else first_chars


def split_clauses(text: str, budget: int) -> list[str]:
    """`text` cut at clause punctuation into pieces of up to `budget` characters where the
    clauses allow; a clause is never cut inside."""
    return _merge_pieces([c for c in _CLAUSE.split(text) if c], budget)


# clause marks in written text: CJK ones anywhere, Latin ones before a space (not "1,000")
_WRITTEN_CLAUSE = re.compile(r"(?<=[，、：；])|(?<=[,;:])(?=\s)")


def split_cues(text: str, span: tuple[int, int], cue_chars: int) -> list[tuple[str, tuple[int, int]]]:
    """A written sentence cut at its clause marks into pieces that each fit a subtitle cue
    (`cue_chars` letters, a third as many CJK characters; see `first_chunk_budget`), with
    their spans. A clause longer than that stays whole: it is cut later if it exceeds the
    backend's budget."""
    limit = first_chunk_budget(text, cue_chars)
    if len(text) <= limit:
        return [(text, span)]
    bounds = [0] + [m.start() for m in _WRITTEN_CLAUSE.finditer(text)
                    if 0 < m.start() < len(text)] + [len(text)]
    pieces: list[tuple[int, int]] = []
    for start, end in zip(bounds, bounds[1:]):
        if pieces and end - pieces[-1][0] <= limit:
            pieces[-1] = (pieces[-1][0], end)
        else:
            pieces.append((start, end))
    out: list[tuple[str, tuple[int, int]]] = []
    for start, end in pieces:
        _emit(out, text, start, end, span[0])
    return out


# a run this long without spaces (outside CJK text, which has none) is not a word: a hash, a
# URL, a blob pasted into the text. It is cut into pieces like any over-long sentence and
# read as written; how long a voice takes over it says nothing about swallowed words
RUN_ON = re.compile(r"[^\s\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]{64,}")


def run_on_warning(text: str) -> str | None:
    """The one warning for the runs without spaces in `text`, if it has any; the same
    words for every block of a large input, so it is given once."""
    match = RUN_ON.search(text)
    if match is None:
        return None
    return (f"text without spaces (\"{match.group()[:16]}…\", 64 or more characters in a "
            "row) is not words: it is read in pieces as it is written, without the "
            "audio-length check")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def joiner(left: str, right: str) -> str:
    return "" if _CJK.search(left[-1:]) or _CJK.search(right[:1]) else " "


def pack_chunks(
    sentences: list[Sentence], budgets: dict[str, int], sentence_pause_s: float,
    inline_breaks: dict[str, float] | None = None, paragraph_pause_s: float = 0.6,
    first_chars: int = 0, merge: bool = True,
) -> list[Chunk]:
    """Merge consecutive sentences that go to the same backend, voice, language and
    delivery, up to that backend's budget. A sentence with a pause after it (a break, a
    paragraph end) ends its chunk, except a break no longer than the backend's
    `inline_breaks` (and shorter than a paragraph pause): that one stays inside the chunk as
    a (offset, seconds) entry of `Chunk.breaks`.

    `first_chars` > 0 keeps the first chunk short (see `first_chunk_budget`) so that its
    audio, the first a listener of a stream hears, is ready sooner: it ends after the first
    sentence, or at a clause mark of a long one, once that limit is reached.

    `merge=False` (subtitles) makes every sentence its own chunk, so each chunk's audio
    times one cue."""
    inline_breaks = inline_breaks or {}
    chunks: list[Chunk] = []
    current: list[Sentence] = []

    def flush() -> None:
        if not current:
            return
        first, last = current[0], current[-1]
        text = first.text
        breaks = []
        phonemes = list(first.phonemes)
        for before, sentence in zip(current, current[1:]):
            if before.pause_after_s:
                breaks.append((len(text), before.pause_after_s))
            text += joiner(text, sentence.text)
            phonemes.extend(p.shifted(len(text)) for p in sentence.phonemes)
            text += sentence.text
        chunks.append(Chunk(
            index=len(chunks), text=text, language=first.language, backend=first.backend,
            voice=first.voice, prosody=first.prosody,
            pause_after_s=(last.pause_after_s or (0.0 if last.continues else sentence_pause_s)),
            span=(first.span[0], last.span[1]),
            source_text=" ".join(s.source_text for s in current if s.source_text),
            breaks=tuple(breaks),
            continues=last.continues and not last.pause_after_s,
            phonemes=tuple(phonemes),
        ))
        current.clear()

    for sentence in sentences:
        budget = budgets[sentence.backend]
        if first_chars and not chunks:
            limit = min(budget, first_chunk_budget(sentence.text, first_chars))
            pieces = [piece for clauses in split_clauses(sentence.text, limit)
                      for piece in split_long(clauses, budget)]
        else:
            limit, pieces = budget, split_long(sentence.text, budget)
        spans = (_phonemes_of_pieces(sentence.text, pieces, sentence.phonemes)
                 if len(pieces) > 1 else [sentence.phonemes])
        for i, piece in enumerate(pieces):
            final = i == len(pieces) - 1
            part = replace(
                sentence, text=piece,
                pause_after_s=sentence.pause_after_s if final else 0.0,
                continues=sentence.continues and final, phonemes=spans[i],
            )
            if current:
                head = current[-1]
                same = (head.backend, head.voice, head.language, head.prosody) == (
                    part.backend, part.voice, part.language, part.prosody)
                length = sum(len(s.text) + 1 for s in current) + len(part.text)
                inline = inline_breaks.get(head.backend, 0.0)
                kept = (0 < head.pause_after_s <= inline
                        and head.pause_after_s < paragraph_pause_s)
                if (not merge or not same or (head.pause_after_s and not kept)
                        or length > budget
                        or (first_chars and not chunks and length > limit)):
                    flush()
            current.append(part)
    flush()
    return chunks


def _phonemes_of_pieces(text: str, pieces: list[str], phonemes: tuple[PhonemeSpan, ...]
                        ) -> list[tuple[PhonemeSpan, ...]]:
    """The phonemes of `text` that fall wholly inside each of its `pieces` (split_long's),
    with offsets into the piece. A span the cut goes through is dropped: its text, the
    lexicon's replacement, is spoken instead."""
    out, cursor = [], 0
    for piece in pieces:
        at = text.find(piece, cursor) if phonemes else -1
        if at < 0:
            out.append(())
            continue
        cursor = at + len(piece)
        out.append(tuple(p.shifted(-at) for p in phonemes
                         if at <= p.start and p.end <= cursor))
    return out
