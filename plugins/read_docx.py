"""The DOCX reader: Word documents through python-docx (MIT licence). Heading styles
(Heading 1…9, or any style with an outline level) are chapters; the Title style is the
book's title; list paragraphs are list items; tables are skipped with a warning. Footnote
and endnote markers are never read; their text is, at the end, with `--footnotes`.

A DOCX is a zip: it is checked for too many parts, parts too large and zip bombs before
python-docx opens it (whose XML parser resolves no entities).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import voxline

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MAX_ENTRIES = 10_000
MAX_RATIO = 200


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile:
        raise voxline.InputError(f"{path}: not a DOCX (not a zip file)") from None
    except OSError as exc:
        raise voxline.InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise voxline.InputError(f"{path}: {len(infos)} parts inside; too many")
    for info in infos:
        if info.file_size > voxline.MAX_PART_BYTES or (
                info.file_size > 2**20
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise voxline.InputError(f"{path}: {info.filename} unpacks to "
                                     f"{info.file_size // 2**20} MiB (a zip bomb?)")


def _heading_level(paragraph) -> int:
    """1… for a heading paragraph, 0 otherwise."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    match = re.match(r"(?i)heading\s*(\d)$", name)
    if match:
        return int(match.group(1))
    while style is not None:  # a style with an outline level is a heading, whatever its name
        ppr = style.element.find(f"{W}pPr")
        level = ppr.find(f"{W}outlineLvl") if ppr is not None else None
        if level is not None and level.get(f"{W}val", "9").isdigit() and \
                int(level.get(f"{W}val")) < 9:
            return int(level.get(f"{W}val")) + 1
        style = style.base_style
    ppr = paragraph._p.pPr
    level = ppr.find(f"{W}outlineLvl") if ppr is not None else None
    if level is not None and level.get(f"{W}val", "9").isdigit() and \
            int(level.get(f"{W}val")) < 9:
        return int(level.get(f"{W}val")) + 1
    return 0


def _notes(document, label: str) -> list[voxline.Block]:
    """The footnotes' and endnotes' text, in order."""
    blocks = []
    for rel in document.part.rels.values():
        if not rel.reltype.endswith(("/footnotes", "/endnotes")):
            continue
        root = voxline.parse_xml(rel.target_part.blob, f"{label}: notes")
        for note in root:
            if note.get(f"{W}type") in ("separator", "continuationSeparator",
                                        "continuationNotice"):
                continue
            text = "".join(t.text or "" for t in note.iter(f"{W}t"))
            block = voxline.paragraph(text)
            if block is not None:
                blocks.append(block)
    return blocks


class DocxReader(voxline.Reader):
    name = "docx"
    suffixes = (".docx",)
    version = "1"

    def read(self, path: Path, options: voxline.ReadOptions) -> voxline.ReadBook:
        try:
            import docx
        except ImportError:
            raise voxline.InputError(f"{path}: reading DOCX needs python-docx (pip install "
                                     "python-docx)") from None
        label = str(path)
        voxline.read_limited(path)  # the size limit, and a clear error if unreadable
        _check_zip(path)
        try:
            document = docx.Document(str(path))
        except Exception as exc:  # python-docx raises many kinds for a damaged file
            raise voxline.InputError(f"{label}: not a readable DOCX: {exc}") from None
        blocks: list[voxline.Block] = []
        title = ""
        tables = 0
        for item in document.iter_inner_content():
            if not hasattr(item, "style") or not hasattr(item, "text") or hasattr(item, "rows"):
                tables += 1
                continue
            text = voxline.tidy(item.text)
            if not any(ch.isalnum() for ch in text):
                continue
            style = (item.style.name or "") if item.style is not None else ""
            level = _heading_level(item)
            if style.lower() == "title":
                title = title or text
                blocks.append(voxline.Block("heading", text, 1))
            elif level:
                blocks.append(voxline.Block("heading", text, level))
            elif style.lower().startswith("list") or item._p.pPr is not None and \
                    item._p.pPr.numPr is not None:
                blocks.append(voxline.Block("list_item", text))
            elif style.lower() in ("quote", "intense quote"):
                blocks.append(voxline.Block("quote", text))
            else:
                blocks.append(voxline.paragraph(text))
        blocks = [b for b in blocks if b is not None]
        if title:  # the Title paragraph is the book's name, one level above its headings
            top = min((b.level for b in blocks if b.kind == "heading" and b.text != title),
                      default=1)
            blocks = [voxline.Block("heading", b.text, max(top - 1, 0)) if
                      (b.kind == "heading" and b.text == title) else b for b in blocks]
        props = document.core_properties
        title = props.title or title or path.stem
        language = voxline.language_of(props.language)
        warnings = [f"{label}: {tables} tables skipped (not read aloud)"] if tables else []
        sections = list(voxline.sections_from_blocks(blocks, title, language))
        if options.footnotes:
            notes = _notes(document, label)
            if notes:
                sections.append(voxline.Section("Notes", tuple(notes), "body", "footnotes",
                                                language))
        info = voxline.BookInfo(
            title=title, authors=(props.author,) if props.author else (), language=language,
            date=props.created.date().isoformat() if props.created else "",
            description=props.subject or props.comments or "")
        if not sections:
            raise voxline.InputError(f"{label}: no text in the document")
        return voxline.ReadBook(info, tuple(sections), tuple(warnings))


@voxline.hookimpl
def register_readers(register):
    register(DocxReader)
