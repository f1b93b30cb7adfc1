"""Readers: how a file (EPUB, HTML, Markdown, DOCX, PDF, plain text) becomes voxline's
document model, and the tools readers share.

A reader plugin registers a `Reader` subclass (`register_readers(register)`); its `read`
returns a `ReadBook`: book metadata and `Section`s (chapters) of `Block`s (headings,
paragraphs, dialogue, list items), with the language where the file states it. The pipeline
turns sections into chapters and spoken text (`section_text`), and the metadata into the
output's tags.

Everything that parses a file here is bounded: bytes read (`read_limited`), XML without DTDs,
entity expansion or network access (`parse_xml`), so a hostile file is a clear `InputError`
(exit 3), never a hang or a file written elsewhere.
"""

from __future__ import annotations

import html.entities
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

MAX_INPUT_BYTES = 256 * 2**20   # the largest book or document file a reader opens
MAX_PART_BYTES = 64 * 2**20     # the largest single part inside one (an EPUB's XHTML, a cover)

BLOCK_KINDS = ("heading", "paragraph", "dialogue", "list_item", "quote", "verse")
# section roles: body is read; front and back matter (cover, title page, copyright, table of
# contents, index, notes) are skipped unless --include-front-matter
ROLES = ("body", "front", "back")


@dataclass(frozen=True)
class Block:
    """One block of text: `kind` is one of BLOCK_KINDS; `level` is a heading's level (1 is
    the top); `language` is what the file says this block is in, when it says so."""

    kind: str
    text: str
    level: int = 0
    language: str | None = None


@dataclass(frozen=True)
class Section:
    """A chapter as the file has it: its title, its blocks in reading order, its role (body,
    front or back matter) and language, and `kind`, what the file calls it (`cover`,
    `titlepage`, `copyright-page`, `toc`, `index`, `chapter`, ...; empty when it does not
    say)."""

    title: str
    blocks: tuple[Block, ...]
    role: str = "body"
    kind: str = ""
    language: str | None = None

    @property
    def words(self) -> int:
        return sum(count_words(b.text) for b in self.blocks)


@dataclass(frozen=True)
class BookInfo:
    """What a file says about itself; every field may be empty. `cover` is the cover
    image's bytes and `cover_type` its media type (image/jpeg, image/png)."""

    title: str = ""
    authors: tuple[str, ...] = ()
    language: str | None = None
    publisher: str = ""
    date: str = ""
    description: str = ""
    cover: bytes | None = None
    cover_type: str = ""

    @property
    def year(self) -> str:
        found = re.search(r"\b(\d{4})\b", self.date)
        return found.group(1) if found else ""


@dataclass(frozen=True)
class ReadBook:
    """What a reader made of one file: its metadata, its sections in reading order, and
    warnings (a table skipped, a part that could not be read). `split` says the file is a
    book whose sections are chapters enough to be files of their own (EPUB): without
    --chapters it becomes a folder of numbered files, one per chapter."""

    info: BookInfo
    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = ()
    split: bool = False


@dataclass(frozen=True)
class ReadOptions:
    """How to read: `front_matter` keeps cover, title page, copyright, contents and index
    sections; `alt_text` reads images' alternative text; `footnotes` reads footnotes and
    endnotes (markers in the text are never read)."""

    front_matter: bool = False
    alt_text: bool = False
    footnotes: bool = False


class Reader:
    """Base class of a reader plugin.

    Class attributes, read without calling it: `name`; `suffixes` (lower case, with the dot)
    it reads; `version`; `streams`: the pipeline reads the file itself, a block at a time
    (plain text and SSML), instead of calling `read` for the job (`read` still serves
    `voxline chapters`). `read(path, options)` returns a `ReadBook` or raises `InputError`
    (a file it cannot read: exit 3) naming the file.
    """

    name: str = ""
    suffixes: tuple[str, ...] = ()
    version: str = "1"
    streams: bool = False

    def read(self, path: Path, options: ReadOptions) -> ReadBook:
        raise NotImplementedError


# -- Markdown headings in plain text (what --chapters splits a single text file at) ---------

HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


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


# -- bounded reading -------------------------------------------------------------------------


def read_limited(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A file's bytes, refused (InputError) over `limit` or when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: file vanished before it could be read") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit // 2**20} MiB; voxline does not read "
                         "files that large")
    return data


_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}


def parse_xml(data: bytes, label: str, *, recover: bool = True):
    """An lxml element tree of `data`, parsed safely: entity declarations refused (no
    "billion laughs"), no DTD loaded, no network, no huge trees. HTML's named entities
    (`&nbsp;`), which XHTML files use without their DTD, become characters first."""
    from lxml import etree

    if _ENTITY_DECL.search(data):
        raise InputError(f"{label}: declares XML entities, which voxline refuses (a file "
                         "that does so may be built to exhaust memory)")

    def named(match: re.Match) -> bytes:
        name = match.group(1)
        if name in _XML_ENTITIES:
            return match.group(0)
        code = html.entities.name2codepoint.get(name.decode("ascii"))
        return f"&#{code};".encode("ascii") if code else b""

    data = _NAMED_ENTITY.sub(named, data)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, recover=recover,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"{label}: not well-formed XML: {exc}") from None
    if root is None:
        raise InputError(f"{label}: not XML (nothing could be parsed)")
    return root


# -- text ------------------------------------------------------------------------------------

_CJK_CHAR = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
                       r"\u3040-\u30ff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SPACE_RUN = re.compile(r"[ \t\r\f\v\u00a0]*\n[ \t\r\n\f\v\u00a0]*")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def count_words(text: str) -> int:
    """Words as a listener counts them: each Han character, kana or hangul syllable is one,
    and so is each run of other letters and digits."""
    cjk = len(re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
                         r"\uac00-\ud7af]", text))
    rest = re.sub(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]",
                  " ", text)
    return cjk + len(_WORD.findall(rest))


def tidy(text: str) -> str:
    """Whitespace as a reader hears it: runs collapsed to one space, and a line break
    between two CJK characters removed altogether (source files wrap Chinese lines anywhere;
    a space there is not in the text). Full-width punctuation, and traditional or
    simplified characters, are kept exactly as written."""
    def join(match: re.Match) -> str:
        before = match.string[match.start() - 1] if match.start() else ""
        after = match.string[match.end()] if match.end() < len(match.string) else ""
        if before and after and _CJK_CHAR.match(before) and _CJK_CHAR.match(after):
            return ""
        return " "

    text = unicodedata.normalize("NFC", text)
    text = _SPACE_RUN.sub(join, text)
    return _SPACES.sub(" ", text).strip()


def is_dialogue(text: str) -> bool:
    """A paragraph that opens with a quotation mark or a dash is a line of dialogue."""
    return bool(re.match(r"[\"“‘'「『«‹—―]", text))


def paragraph(text: str, language: str | None = None) -> Block | None:
    """A paragraph (or dialogue) block of `text`, or None when it holds nothing to say."""
    text = tidy(text)
    if not any(ch.isalnum() for ch in text):
        return None
    return Block("dialogue" if is_dialogue(text) else "paragraph", text, language=language)


def sections_from_blocks(blocks: Sequence[Block], title: str,
                         language: str | None = None) -> tuple[Section, ...]:
    """Chapters out of a flat run of blocks: split at the top heading level that occurs
    more than once (else at the top level there is), each chapter titled by its heading;
    blocks before the first such heading are a chapter titled `title`. Lower headings stay
    in their chapter as heading blocks."""
    levels = [b.level for b in blocks if b.kind == "heading"]
    if not levels:
        return (Section(title, tuple(blocks), language=language),) if blocks else ()
    split = next((lvl for lvl in sorted(set(levels)) if levels.count(lvl) > 1), min(levels))
    sections: list[Section] = []
    current_title, current = title, []
    for block in blocks:
        if block.kind == "heading" and block.level <= split:
            if any(b.kind != "heading" for b in current):
                sections.append(Section(current_title, tuple(current), language=language))
            current_title, current = block.text, [block]
        else:
            current.append(block)
    if any(b.kind != "heading" for b in current):
        sections.append(Section(current_title, tuple(current), language=language))
    return tuple(sections)


def section_text(section: Section) -> str:
    """What is spoken for a section: its blocks one paragraph each, the title first as a
    line of its own when the blocks do not start with it."""
    parts = [b.text for b in section.blocks]
    first = next((b for b in section.blocks), None)
    if section.title and not (first is not None and first.kind == "heading"
                              and first.text == section.title):
        parts.insert(0, section.title)
    return "\n\n".join(parts) + "\n"


def kept_sections(book: ReadBook, options: ReadOptions) -> list[Section]:
    """The sections to read: body only unless front matter is asked for; sections with
    nothing to say dropped."""
    return [s for s in book.sections
            if (options.front_matter or s.role == "body")
            and any(any(ch.isalnum() for ch in b.text) for b in s.blocks)]


def pick_sections(sections: Sequence[Section], spec: str | None) -> list[tuple[int, Section]]:
    """(number, section) for `--pick`: numbers and ranges (`3-12,15`, 1-based, as
    `voxline chapters` lists them) or titles (`"Chapter 1"`: exact, else the one title that
    starts with it, case-insensitively). Without `spec`, all of them."""
    from .errors import UsageError

    numbered = list(enumerate(sections, 1))
    if not spec:
        return numbered
    chosen: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        ranged = re.fullmatch(r"(\d+)\s*-\s*(\d+)?", part)
        if part.isdigit() or ranged:
            first, last = (int(part), int(part)) if part.isdigit() else (
                int(ranged.group(1)), int(ranged.group(2) or len(sections)))
            if not (1 <= first <= last <= len(sections)):
                raise UsageError(f"--pick {part}: the book has chapters 1 to {len(sections)} "
                                 "(see `voxline chapters`)")
            chosen.extend(range(first, last + 1))
            continue
        wanted = part.casefold()
        exact = [n for n, s in numbered if s.title.casefold() == wanted]
        starts = [n for n, s in numbered if s.title.casefold().startswith(wanted)]
        match = exact or starts
        if len(match) != 1:
            titles = "; ".join(s.title for n, s in numbered if n in match[:5])
            raise UsageError(f"--pick {part!r}: " + (f"{len(match)} chapters match ({titles})"
                             if match else "no chapter has that title")
                             + " (see `voxline chapters`)")
        chosen.append(match[0])
    seen: set[int] = set()
    return [(n, sections[n - 1]) for n in chosen if not (n in seen or seen.add(n))]


def language_of(code: str | None) -> str | None:
    """A language tag as the file writes it (`zh-Hant-TW`, `en-GB`) in voxline's codes."""
    if not code or not code.strip():
        return None
    from .langdetect import canonical_language

    return canonical_language(code)


LINE_BREAK = "\u2028"  # a line break inside a block, as BlockBuilder.text receives it


@dataclass
class BlockBuilder:
    """Collects inline text into blocks as a document tree is walked."""

    blocks: list[Block] = field(default_factory=list)
    _parts: list[str] = field(default_factory=list)
    _kind: str = "paragraph"
    _level: int = 0
    _language: str | None = None

    def text(self, value: str | None) -> None:
        if value:
            self._parts.append(value)

    def start(self, kind: str = "paragraph", level: int = 0,
              language: str | None = None) -> None:
        self.flush()
        self._kind, self._level, self._language = kind, level, language

    def flush(self) -> None:
        raw = "".join(self._parts)
        self._parts = []
        kind, self._kind = self._kind, "paragraph"
        level, self._level = self._level, 0
        language = self._language
        if kind == "verse":  # preformatted: its own line breaks are the text's
            raw = raw.replace("\n", LINE_BREAK)
        # a line break inside a block (<br>, a line of verse) stays one: a pause when spoken
        lines = [tidy(line) for line in raw.split(LINE_BREAK)]
        text = (" " if kind == "heading" else "\n").join(line for line in lines if line)
        if not any(ch.isalnum() for ch in text):
            return
        if kind == "paragraph" and is_dialogue(text):
            kind = "dialogue"
        self.blocks.append(Block(kind, text, level, language))
