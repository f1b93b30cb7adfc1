"""`--chapters`: several inputs, or one input's Markdown headings, become one audiobook file
(M4B or MP3) with a chapter each.

Each chapter is an ordinary document of the job: its text goes to a work folder beside the
book (`.book.m4b.chapters/`), its audio to a WAV there, with the job manifest, the cache and
resuming working as for any other input. When every chapter is done, `assemble` joins them
with a pause between chapters into the book, once, with the chapter marks (FFmpeg's
ffmetadata), loudness normalization over the whole book, and one subtitle file; the work
folder is removed after that. A failed or interrupted run keeps it: the same command again
goes on from there.
"""

from __future__ import annotations

import re
import shutil
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import audio as audio_mod
from . import safefiles
from . import subtitles as subtitles_mod
from .errors import InputError, OutputError, UsageError
from .textio import TextInput

BOOK_FORMATS = ("m4b", "mp3", "m4a")
HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


@dataclass(frozen=True)
class Chapter:
    title: str
    source: str        # the input it came from
    text: Path         # its text, in the work folder
    audio: Path        # its audio, in the work folder


@dataclass
class Book:
    output: Path
    work: Path
    chapters: list[Chapter]
    title: str
    toc: list[dict] = field(default_factory=list)  # filled by assemble()


def _title_from_name(path: Path) -> str:
    name = re.sub(r"^\d+[\s._-]+", "", path.stem)  # "01_intro" → "intro"
    name = re.sub(r"[_-]+", " ", name).strip() or path.stem
    return name[:1].upper() + name[1:]


def _spoken_heading(text: str) -> str:
    """A Markdown heading line as text to speak: the title as its own paragraph."""
    return HEADING.sub(lambda m: m.group(2) + "\n", text)


def split_headings(text: str) -> list[tuple[str | None, str]]:
    """(title, text) per Markdown heading of `text`; text before the first heading has no
    title. Each chapter's text starts with its heading, spoken as a line of its own."""
    marks = list(HEADING.finditer(text))
    parts: list[tuple[str | None, str]] = []
    if not marks:
        return [(None, text)]
    if text[:marks[0].start()].strip():
        parts.append((None, text[:marks[0].start()]))
    for mark, following in zip(marks, marks[1:] + [None]):
        end = following.start() if following else len(text)
        parts.append((mark.group(2).strip(), _spoken_heading(text[mark.start():end])))
    return parts


def plan_book(inputs: list[tuple[Path | str, Path | None]], output: Path) -> Book:
    """The chapters of `inputs` and where their text and audio go. One input: a chapter per
    Markdown heading in it (`# Title`); several: a chapter per input, titled by its first
    line when that is a heading, else by its file name."""
    if any(source == "-" for source, _ in inputs):
        raise UsageError("--chapters reads files, not standard input")
    work = output.parent / f".{output.name}.chapters"
    pieces: list[tuple[str, str, str, bool]] = []  # title, source, text, is_ssml
    for source, _ in inputs:
        with TextInput.open(source) as reader:
            text, is_ssml, label = reader.text(), reader.is_ssml, reader.label
        if is_ssml:
            pieces.append((_title_from_name(Path(source)), label, text, True))
            continue
        if len(inputs) == 1:
            for title, part in split_headings(text):
                pieces.append((title or _title_from_name(Path(source)), label, part, False))
            continue
        first = next((line for line in text.splitlines() if line.strip()), "")
        heading = HEADING.match(first)
        pieces.append((heading.group(2).strip() if heading else _title_from_name(Path(source)),
                       label, _spoken_heading(text), False))
    if not pieces:
        raise InputError("--chapters: nothing to read")
    width = max(3, len(str(len(pieces))))
    chapters = []
    try:
        # private, and never a link planted at its (predictable) name
        safefiles.private_dir(work)
        for number, (title, label, text, is_ssml) in enumerate(pieces, 1):
            path = work / f"{number:0{width}d}{'.ssml' if is_ssml else '.txt'}"
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                safefiles.write_atomic(path, text)
            chapters.append(Chapter(title, label, path, path.with_suffix(".wav")))
    except OSError as exc:
        raise OutputError(f"cannot write {work}: {exc.strerror or exc}") from None
    return Book(output, work, chapters, _title_from_name(output))


def _escape(value: str) -> str:
    return re.sub(r"([=;#\\\n])", r"\\\1", value)


def metadata(book: Book) -> str:
    """FFmpeg's ffmetadata text: the book's title and a chapter per entry of `book.toc`."""
    lines = [";FFMETADATA1", f"title={_escape(book.title)}", "genre=Audiobook"]
    for entry in book.toc:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(entry['start_s'] * 1000)}",
                  f"END={round(entry['end_s'] * 1000)}", f"title={_escape(entry['title'])}"]
    return "\n".join(lines) + "\n"


def assemble(book: Book, fmt: audio_mod.OutputFormat, sample_rate_hz: int, pause_s: float,
             loudness: audio_mod.LoudnessTarget | None, subtitles: str | None) -> dict:
    """Join the chapters' audio into the book with chapter marks (and its subtitles); remove
    the work folder. Returns what was written: output, audio seconds, chapters, loudness."""
    gap = audio_mod.silence(pause_s, sample_rate_hz)
    lengths = []
    for chapter in book.chapters:
        with wave.open(str(chapter.audio), "rb") as w:
            if w.getframerate() != sample_rate_hz:
                raise OutputError(f"{chapter.audio}: {w.getframerate()} Hz, expected "
                                  f"{sample_rate_hz} (remove {book.work} and run again)")
            lengths.append(w.getnframes())
    book.toc, position = [], 0
    for chapter, frames in zip(book.chapters, lengths):
        book.toc.append({"title": chapter.title, "source": chapter.source,
                         "start_s": round(position / sample_rate_hz, 3),
                         "end_s": round((position + frames) / sample_rate_hz, 3)})
        position += frames + gap.size
    meta = safefiles.write_atomic(book.work / "metadata.txt", metadata(book))
    encoder = audio_mod.open_encoder(book.output, fmt, sample_rate_hz, loudness,
                                     metadata=meta)
    try:
        for number, chapter in enumerate(book.chapters):
            if number:
                encoder.write(gap)
            with wave.open(str(chapter.audio), "rb") as w:
                while block := w.readframes(1 << 18):
                    encoder.write(np.frombuffer(block, dtype="<i2"))
        written = encoder.finish()
    except BaseException:
        encoder.abort()
        raise
    result = {"output": str(written), "audio_s": round(encoder.frames_written / sample_rate_hz, 3),
              "chapters": book.toc,
              "loudness": getattr(encoder, "report", None) and encoder.report.to_dict()}
    if subtitles:
        result["subtitles"] = str(_join_subtitles(book, subtitles))
    shutil.rmtree(book.work, ignore_errors=True)
    return result


def _join_subtitles(book: Book, fmt: str) -> Path:
    """The chapters' subtitle files as one, each chapter's cues moved to where it starts."""
    writer = subtitles_mod.SubtitleWriter(book.output, fmt)
    try:
        for chapter, entry in zip(book.chapters, book.toc):
            path = chapter.audio.with_suffix(f".{fmt}")
            if not path.is_file():
                continue
            for cue in subtitles_mod.parse(path.read_text(encoding="utf-8")):
                writer.add(cue.start_s + entry["start_s"], cue.end_s + entry["start_s"],
                           cue.text)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise
