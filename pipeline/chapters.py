"""`--chapters`: several inputs, a book's own chapters (EPUB, HTML, Markdown, DOCX, PDF, as
its reader gives them), or one text input's Markdown headings, become one audiobook file
(M4B, M4A or MP3) with a chapter each, tagged and with the book's cover.

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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import audio as audio_mod
from . import safefiles
from . import subtitles as subtitles_mod
from .errors import InputError, OutputError, UsageError
from .books import (Piece, Tags, book_pieces, cover_file, escape, iso639_2, make_tags, pick,
                    read_book)
from .reading import HEADING, BookInfo, ReadOptions, _spoken_heading, split_headings
from .textio import TextInput

BOOK_FORMATS = ("m4b", "mp3", "m4a")


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
    tags: Tags = field(default_factory=Tags)


def _title_from_name(path: Path) -> str:
    name = re.sub(r"^\d+[\s._-]+", "", path.stem)  # "01_intro" → "intro"
    name = re.sub(r"[_-]+", " ", name).strip() or path.stem
    return name[:1].upper() + name[1:]


def collect_pieces(inputs: list[tuple[Path | str, Path | None]], registry=None,
                   options: ReadOptions = ReadOptions(), listing: bool = False
                   ) -> tuple[list[Piece], BookInfo | None, list[str]]:
    """The chapters `--chapters` makes of `inputs`, the first read book's metadata, and
    the readers' warnings. A text input on its own: a chapter per Markdown heading in it
    (`# Title`); among several: a chapter, titled by its first line when that is a heading,
    else by its file name. A file a reader reads (EPUB, HTML, ...): its own chapters, front
    and back matter left out (kept, with their role, for a `listing`)."""
    pieces: list[Piece] = []
    info: BookInfo | None = None
    warnings: list[str] = []
    for source, _ in inputs:
        book = read_book(source, registry, options)
        if book is not None:
            info = info or book.info
            warnings.extend(book.warnings)
            pieces.extend(book_pieces(book, str(source), options, listing))
            continue
        with TextInput.open(source) as reader:
            text, is_ssml, label = reader.text(), reader.is_ssml, reader.label
        if is_ssml:
            pieces.append(Piece(_title_from_name(Path(source)), label, text, True))
            continue
        if len(inputs) == 1:
            for title, part in split_headings(text):
                pieces.append(Piece(title or _title_from_name(Path(source)), label, part))
            continue
        first = next((line for line in text.splitlines() if line.strip()), "")
        heading = HEADING.match(first)
        pieces.append(Piece(heading.group(2).strip() if heading
                            else _title_from_name(Path(source)), label,
                            _spoken_heading(text)))
    return pieces, info, warnings


def plan_book(inputs: list[tuple[Path | str, Path | None]], output: Path, registry=None,
              options: ReadOptions = ReadOptions(), pick_spec: str | None = None,
              overrides: dict | None = None, narrator="") -> Book:
    """The chapters of `inputs` (see `collect_pieces`; `--pick` chooses among them) and where
    their text and audio go, with the book's tags (the first read book's metadata, the
    command line's --title --author --narrator --cover winning)."""
    if any(source == "-" for source, _ in inputs):
        raise UsageError("--chapters reads files, not standard input")
    work = output.parent / f".{output.name}.chapters"
    pieces, info, _ = collect_pieces(inputs, registry, options)
    pieces = pick(pieces, pick_spec)
    if not pieces:
        raise InputError("--chapters: nothing to read")
    width = max(3, len(str(len(pieces))))
    chapters = []
    try:
        # private, and never a link planted at its (predictable) name
        safefiles.private_dir(work)
        for number, piece in enumerate(pieces, 1):
            path = work / f"{number:0{width}d}{'.ssml' if piece.is_ssml else '.txt'}"
            if not path.is_file() or path.read_text(encoding="utf-8") != piece.text:
                safefiles.write_atomic(path, piece.text)
            chapters.append(Chapter(piece.title, piece.source, path, path.with_suffix(".wav")))
    except OSError as exc:
        raise OutputError(f"cannot write {work}: {exc.strerror or exc}") from None
    overrides = overrides or {}
    tags = make_tags(info, overrides, narrator, _title_from_name(output))
    tags = replace(tags, cover=cover_file(info, overrides.get("cover"), work))
    return Book(output, work, chapters, tags.title, tags=tags)


def estimate_by_backend(text: str, language: str | None, settings, registry) -> dict[str, float]:
    """Seconds of speech `text` will probably take, by the backend that would speak each of
    its sentences (routed as a job routes them: --backend, --voice, [routes], --lang);
    sentences no backend speaks count under "none"."""
    from . import langdetect, segment
    from .errors import VoxlineError
    from .plan import estimate_s
    from .prepare import route

    forced = settings.lang and langdetect.canonical_language(settings.lang)
    dominant = forced or language or langdetect.dominant(text)
    backends: dict[str, str] = {}
    out: dict[str, float] = {}
    previous = dominant
    for sentence, _ in segment.split_sentences(text):
        spoken = forced or langdetect.detect(sentence, previous) or dominant
        previous = spoken
        if spoken not in backends:
            try:
                backends[spoken] = route(spoken, None, settings, registry)[0]
            except VoxlineError:
                backends[spoken] = "none"
        name = backends[spoken]
        out[name] = out.get(name, 0.0) + estimate_s(sentence, spoken) + settings.sentence_pause_s
    return {name: round(seconds, 1) for name, seconds in out.items()}


def chapter_listing(inputs, registry, settings, options: ReadOptions = ReadOptions(),
                    pick_spec: str | None = None) -> dict:
    """What `voxline chapters` shows: the book's metadata, and every chapter --chapters
    would make of `inputs` with its number (what --pick takes), words and estimated
    duration by backend; front and back matter listed without a number (skipped), chapters
    --pick leaves out marked."""
    pieces, info, warnings = collect_pieces(inputs, registry, options, listing=True)
    kept = [p for p in pieces if options.front_matter or p.role == "body"]
    chosen = {id(p) for p in pick(kept, pick_spec)}
    entries, number = [], 0
    totals: dict[str, float] = {}
    words = 0
    for piece in pieces:
        is_kept = any(p is piece for p in kept)
        number += is_kept
        text = re.sub(r"<[^>]+>", " ", piece.text) if piece.is_ssml else piece.text
        estimate = estimate_by_backend(text, piece.language, settings, registry)
        read = is_kept and id(piece) in chosen
        if read:
            words += piece.words
            for name, seconds in estimate.items():
                totals[name] = round(totals.get(name, 0.0) + seconds, 1)
        entries.append({"number": number if is_kept else None, "title": piece.title,
                        "source": piece.source, "role": piece.role, "kind": piece.kind,
                        "words": piece.words, "read": read, "estimated_s": estimate})
    info = info or BookInfo()
    return {"title": info.title, "authors": list(info.authors), "language": info.language,
            "publisher": info.publisher, "date": info.date, "cover": bool(info.cover),
            "chapters": entries, "words": words, "estimated_s": totals,
            "warnings": warnings}


def metadata(book: Book) -> str:
    """FFmpeg's ffmetadata text: the book's tags and a chapter per entry of `book.toc`."""
    lines = [";FFMETADATA1", *book.tags.ffmetadata()]
    if not any(line.startswith("title=") for line in lines):
        lines.append(f"title={escape(book.title)}")
    for entry in book.toc:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(entry['start_s'] * 1000)}",
                  f"END={round(entry['end_s'] * 1000)}", f"title={escape(entry['title'])}"]
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
    container = audio_mod.ContainerMetadata(meta, book.tags.cover,
                                            iso639_2(book.tags.language))
    encoder = audio_mod.open_encoder(book.output, fmt, sample_rate_hz, loudness,
                                     metadata=container)
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
