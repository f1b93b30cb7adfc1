"""Subtitles (`--subtitles srt|vtt`): one cue per chunk, timed from the audio itself.

With subtitles on, each sentence is its own chunk and a sentence longer than a cue should be
is cut at its clause marks (see `segment.split_cues`), so a cue is one chunk. Its times come
from where that chunk's samples land in the output (after resampling, pauses and joining)
with the chunk's own leading and trailing silence left out, and it shows the text as written
(`Chunk.source_text`), not the spoken form the normalizer made of it.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import safefiles
from .errors import OutputError
from .segment import has_cjk, joiner

FORMATS = ("srt", "vtt")
# a cue line's text at most this many letters, the common subtitle guideline
LINE_CHARS = 42
# 10 ms frames quieter than this RMS level (-40 dBFS) at a chunk's ends are not speech
SPEECH_THRESHOLD = 328


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def speech_bounds(pcm: np.ndarray, sample_rate_hz: int,
                  threshold: int = SPEECH_THRESHOLD) -> tuple[int, int] | None:
    """Where the speech in `pcm` starts and ends, in samples: the first and last 10 ms
    frame whose RMS level is over `threshold` (breaths and clicks at a chunk's ends stay
    under it); None when there is no speech."""
    frame = max(1, sample_rate_hz // 100)
    count = pcm.size // frame
    if count == 0:
        return None
    frames = pcm[:count * frame].astype(np.float32).reshape(count, frame)
    loud = np.flatnonzero(np.einsum("ij,ij->i", frames, frames) > threshold ** 2 * frame)
    if loud.size == 0:
        return None
    return int(loud[0]) * frame, min(pcm.size, (int(loud[-1]) + 1) * frame)


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, int(round(seconds * 1000)))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def wrap(text: str) -> str:
    """A cue's text on lines of about LINE_CHARS letters (a third as many CJK characters)."""
    text = " ".join(text.split())
    if has_cjk(text):
        width = LINE_CHARS // 3 + 2
        lines = -(-len(text) // width)
        per = -(-len(text) // lines)  # lines of even length
        return "\n".join(text[i:i + per] for i in range(0, len(text), per))
    return "\n".join(textwrap.wrap(text, LINE_CHARS)) or text


def format_cue(number: int, cue: Cue, fmt: str) -> str:
    separator = "," if fmt == "srt" else "."
    times = f"{_timestamp(cue.start_s, separator)} --> {_timestamp(cue.end_s, separator)}"
    body = wrap(cue.text).replace("-->", "->")
    if fmt == "vtt":  # `<` starts a tag and `&` an entity in WebVTT
        body = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if fmt == "srt":
        return f"{number}\n{times}\n{body}\n\n"
    return f"{times}\n{body}\n\n"


class SubtitleWriter:
    """Cues written as the audio is, to a temporary name beside the audio output that
    `finish()` renames into place (`abort()` removes it): `book.wav` → `book.srt`."""

    def __init__(self, audio_output: Path, fmt: str):
        if fmt not in FORMATS:
            raise ValueError(f"unknown subtitle format {fmt!r}")
        self.fmt = fmt
        self.destination = audio_output.with_suffix(f".{fmt}")
        self.cues = 0
        self._last_end = 0.0
        self._temporary = None
        try:
            self.destination.parent.mkdir(parents=True, exist_ok=True)
            safefiles.remove_stale(self.destination)
            self._temporary = safefiles.TempFile(self.destination)
            self.partial = self._temporary.path
            self._file = self._temporary.open("w", encoding="utf-8", newline="\n")
            if fmt == "vtt":
                self._file.write("WEBVTT\n\n")
        except OSError as exc:
            if self._temporary is not None:
                self._temporary.discard()
            raise OutputError(f"cannot write {self.destination}: {exc.strerror or exc}") from None

    def add(self, start_s: float, end_s: float, text: str) -> None:
        text = " ".join(text.split())
        if not text or end_s <= start_s:
            return
        start_s = max(start_s, self._last_end)  # cues never overlap
        self._last_end = end_s
        self.cues += 1
        try:
            self._file.write(format_cue(self.cues, Cue(start_s, end_s, text), self.fmt))
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.destination}: {exc.strerror or exc}") from None

    def finish(self) -> Path:
        try:
            self._file.close()
            self._temporary.publish()
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.destination}: {exc.strerror or exc}") from None
        return self.destination

    def abort(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        self._temporary.discard()


def parse(text: str) -> list[Cue]:
    """Cues from SRT or WebVTT text (what players read back; used by the tests)."""
    cues = []
    vtt = text.lstrip("\ufeff").startswith("WEBVTT")
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.strip().split("\n") if line]
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        start, _, end = lines[timing].partition("-->")
        text = ""
        for line in lines[timing + 1:]:  # wrapped lines joined back: no space inside CJK
            if vtt:
                line = html.unescape(line)
            text += (joiner(text, line) if text else "") + line
        cues.append(Cue(_seconds(start), _seconds(end), text))
    return cues


def _seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.strip().replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)
