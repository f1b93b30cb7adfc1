"""Inputs read by readers (EPUB, HTML, Markdown, DOCX, PDF) on their way into a job.

The job reads text files, so a book's chapters are written as UTF-8 text to a work folder
and become ordinary inputs (the cache, the manifest and resuming work as for any file):

- with `--chapters`, into the book's work folder (`chapters.plan_book`);
- an EPUB without it: one output per chapter, numbered and titled, in a folder named after
  the book (`OUT/Pride and Prejudice/03 Chapter 1.wav`), each tagged as a track of the album;
- any other: one output per input, as for a text file.

`Tags` are what the outputs say about themselves (title, author, album, narrator, year,
genre, description, language, track, cover), from the book and the command line.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from . import audio as audio_mod
from .errors import InputError, OutputError, UsageError
from .reading import (BookInfo, ReadBook, Reader, ReadOptions, count_words, kept_sections,
                      pick_sections, section_text)

# ISO 639-2 codes for the language tag (ID3 TLAN, an MP4 track's language)
_ISO639_2 = {"en": "eng", "zh": "chi", "yue": "yue", "ja": "jpn", "ko": "kor", "fr": "fre",
             "de": "ger", "es": "spa", "it": "ita", "ru": "rus", "pt": "por", "nl": "dut",
             "sv": "swe", "pl": "pol", "la": "lat", "el": "gre", "fi": "fin", "da": "dan"}


@dataclass(frozen=True)
class Piece:
    """A chapter to be: its title, the input it came from, its text (SSML or plain), and
    what the file said it is (role, kind)."""

    title: str
    source: str
    text: str
    is_ssml: bool = False
    role: str = "body"
    kind: str = ""
    language: str | None = None

    @property
    def words(self) -> int:
        return count_words(re.sub(r"<[^>]+>", " ", self.text) if self.is_ssml else self.text)


@dataclass(frozen=True)
class Tags:
    """An output's tags. `track` is (number, of how many) for a book's chapter files."""

    title: str = ""
    authors: tuple[str, ...] = ()
    album: str = ""
    narrator: str = ""
    year: str = ""
    genre: str = "Audiobook"
    description: str = ""
    language: str | None = None
    publisher: str = ""
    track: tuple[int, int] | None = None
    cover: Path | None = None

    def ffmetadata(self) -> list[str]:
        """The global lines of an ffmetadata file (FFmpeg maps them to ID3 frames and MP4
        atoms: title TIT2/©nam, artist TPE1/©ART, album TALB/©alb, composer — where
        audiobook players look for the narrator — TCOM/©wrt, date TDRC/©day, genre
        TCON/©gen, description and comment, track TRCK/trkn)."""
        author = ", ".join(self.authors)
        fields = [("title", self.title), ("artist", author), ("album_artist", author),
                  ("album", self.album), ("composer", self.narrator),
                  ("narrator", self.narrator), ("date", self.year), ("genre", self.genre),
                  ("publisher", self.publisher),
                  ("description", self.description[:4000]),
                  ("comment", self.description[:4000]),
                  ("language", iso639_2(self.language) or ""),
                  ("track", f"{self.track[0]}/{self.track[1]}" if self.track else "")]
        return [f"{key}={escape(value)}" for key, value in fields if value]


def iso639_2(language: str | None) -> str | None:
    if not language:
        return None
    return _ISO639_2.get(language, language if len(language) == 3 else None)


def escape(value: str) -> str:
    """A value as an ffmetadata file writes it."""
    return re.sub(r"([=;#\\\n])", r"\\\1", value)


def reader_for(source: Path | str, registry) -> Reader | None:
    """The reader for an input, or None when the pipeline reads it itself (plain text,
    SSML, standard input, a suffix no reader takes)."""
    if source == "-" or registry is None:
        return None
    cls = registry.readers.get(Path(source).suffix.lower())
    return None if cls is None or cls.streams else cls()


def read_book(source: Path | str, registry, options: ReadOptions) -> ReadBook | None:
    """What the reader for `source` makes of it; None for inputs read as text."""
    reader = reader_for(source, registry)
    if reader is None:
        return None
    book = reader.read(Path(source), options)
    if not isinstance(book, ReadBook):
        raise InputError(f"{source}: reader {type(reader).__name__} returned "
                         f"{type(book).__name__}, not voxline.ReadBook")
    return book


def book_pieces(book: ReadBook, label: str, options: ReadOptions,
                listing: bool = False) -> list[Piece]:
    """A read book's chapters as pieces: the ones to read, or with `listing` all of them
    (front and back matter keep their role, so a listing can say they are skipped)."""
    sections = book.sections if listing else kept_sections(book, options)
    return [Piece(s.title, label, section_text(s), False, s.role, s.kind,
                  s.language or book.info.language) for s in sections
            if any(any(ch.isalnum() for ch in b.text) for b in s.blocks)]


def pick(pieces: list[Piece], spec: str | None) -> list[Piece]:
    """`--pick`: the pieces chosen (see `reading.pick_sections`)."""
    return [piece for _, piece in pick_sections(pieces, spec)]


def make_tags(info: BookInfo | None, overrides: dict, narrator, fallback_title: str) -> Tags:
    """Tags from what the book says, the command line's --title --author --narrator winning;
    `narrator` is the narrator's name, or a function of the book's language that gives it
    (the voice that will read it)."""
    info = info or BookInfo()
    if callable(narrator):
        narrator = "" if overrides.get("narrator") else narrator(info.language)
    author = overrides.get("author")
    title = overrides.get("title") or info.title or fallback_title
    return Tags(title=title, authors=(author,) if author else info.authors, album=title,
                narrator=overrides.get("narrator") or narrator, year=info.year,
                description=info.description, language=info.language,
                publisher=info.publisher)


def cover_file(info: BookInfo | None, given: str | None, work: Path) -> Path | None:
    """The cover to embed: `--cover FILE`, else the book's own, written into `work`."""
    if given:
        path = Path(given)
        try:
            head = path.read_bytes()[:8]
        except OSError as exc:
            raise UsageError(f"--cover {given}: cannot be read: {exc.strerror or exc}") from None
        if not (head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG")):
            raise UsageError(f"--cover {given}: not a JPEG or PNG image")
        return path.resolve()
    if info is None or not info.cover:
        return None
    suffix = ".png" if info.cover.startswith(b"\x89PNG") else ".jpg"
    if not (info.cover.startswith(b"\x89PNG") or info.cover.startswith(b"\xff\xd8\xff")):
        return None
    path = work / f"cover{suffix}"
    _write(path, info.cover)
    return path


def container_metadata(tags: Tags, path: Path, extra: list[str] | None = None
                       ) -> audio_mod.ContainerMetadata:
    """Write `tags` (and `extra` ffmetadata lines: chapters) to the ffmetadata file `path`."""
    text = "\n".join([";FFMETADATA1", *tags.ffmetadata(), *(extra or [])]) + "\n"
    _write(path, text.encode("utf-8"))
    return audio_mod.ContainerMetadata(path, tags.cover, iso639_2(tags.language))


def _write(path: Path, data: bytes) -> None:
    from . import safefiles

    try:  # a private work folder, files replaced whole, never through a planted link
        safefiles.private_dir(path.parent)
        if not path.is_file() or path.read_bytes() != data:
            safefiles.write_atomic(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def folder_name(title: str) -> str:
    """A book's title as a folder or file name."""
    from .job import safe_name

    return safe_name(re.sub(r"\s+", " ", title).strip()[:120]) or "book"


@dataclass
class ReadSpecs:
    """The specs for inputs read by readers, and the work folders to remove after the job."""

    specs: list
    work: list[Path]
    notes: list[str]


def read_output_specs(inputs, output: Path, fmt: audio_mod.OutputFormat, single: bool,
                      registry, options: ReadOptions, pick_spec: str | None,
                      overrides: dict, narrator) -> ReadSpecs:
    """Outputs for inputs a reader reads, without --chapters: an EPUB (a reader that says
    `split`) becomes a folder named after the book with a file per chapter, numbered,
    titled and tagged as tracks; any other input one file, as a text file would."""
    from .job import InputSpec, safe_name

    found = ReadSpecs([], [], [])
    for source, root in inputs:
        book = read_book(source, registry, options)
        label = str(source)
        found.notes.extend(book.warnings)
        pieces = pick(book_pieces(book, label, options), pick_spec)
        if not pieces:
            raise InputError(f"{label}: nothing to read (every part is front or back matter; "
                             "--include-front-matter reads them)")
        if book.split:
            if single:
                raise UsageError(f"{label}: a book becomes a folder of chapter files; give "
                                 "an output folder, or --chapters with -o BOOK.m4b")
            tags = make_tags(book.info, overrides, narrator, Path(label).stem)
            target = output / folder_name(tags.album)
            work = output / f".{target.name}.text"
            found.work.append(work)
            cover = cover_file(book.info, overrides.get("cover"), work)
            width = max(2, len(str(len(pieces))))
            for number, piece in enumerate(pieces, 1):
                text = work / f"{number:0{width}d}.txt"
                _write(text, piece.text.encode("utf-8"))
                name = safe_name(f"{number:0{width}d} {piece.title}"[:100])
                chapter_tags = replace(tags, title=piece.title, track=(number, len(pieces)),
                                       cover=cover)
                meta = container_metadata(chapter_tags, work / f"{number:0{width}d}.meta")
                found.specs.append(InputSpec(text, target / f"{name}{fmt.extension}", meta))
        else:
            name = safe_name(Path(label).stem)
            target = output if single else (
                output / Path(label).relative_to(root).parent / f"{name}{fmt.extension}"
                if root else output / f"{name}{fmt.extension}")
            work = target.parent / f".{target.name}.text"
            found.work.append(work)
            text = work / f"{name}.txt"
            _write(text, "\n".join(p.text for p in pieces).encode("utf-8"))
            tags = make_tags(book.info, overrides, narrator, Path(label).stem)
            tags = replace(tags, cover=cover_file(book.info, overrides.get("cover"), work))
            found.specs.append(InputSpec(text, target, container_metadata(
                tags, work / f"{name}.meta")))
    return found


def remove_work(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
