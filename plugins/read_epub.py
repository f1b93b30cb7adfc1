"""The EPUB reader (EPUB 2 and 3): spine order, chapter titles from the navigation document
(EPUB 3) or the NCX (EPUB 2), front and back matter recognised, metadata and cover.

An EPUB is a zip: META-INF/container.xml names the package document (OPF), whose manifest
lists the files, whose spine gives the reading order and whose metadata the title, authors,
language, publisher, date, description and cover. It is read with `zipfile` and lxml (no
EPUB library: the ones on PyPI are AGPL or unmaintained, and this is a few hundred lines).
Nothing is extracted to disk. The zip is checked before use: at most MAX_ENTRIES files,
each part at most voxline's part limit and not compressed more than MAX_RATIO to one (a zip
bomb), no path that leaves the book, no encrypted (DRM) content.

Vertical text (`writing-mode: vertical-rl`, `page-progression-direction="rtl"`) changes how a
page is laid out, not the order of its text: the spine and each document are read in their
logical order, which is the reading order.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from urllib.parse import unquote

import voxline

MAX_ENTRIES = 20_000
MAX_TOTAL_BYTES = 2 * 2**30   # everything in the zip, uncompressed
MAX_RATIO = 200               # uncompressed / compressed, for parts over 1 MiB
MAX_COVER_BYTES = 16 * 2**20

# what the file may call its front and back matter (EPUB 3 structural semantics, EPUB 2
# guide types, DPUB-ARIA roles), and names that give it away when it calls it nothing
FRONT = {"cover", "titlepage", "title-page", "halftitlepage", "halftitle", "copyright-page",
         "copyright", "toc", "contents", "loi", "lot", "imprint", "doc-toc", "doc-cover",
         "frontispiece"}
BACK = {"index", "colophon", "uncopyright", "footnotes", "endnotes", "rearnotes",
        "doc-index", "doc-colophon", "doc-endnotes", "loa", "lov", "bibliography"}
_NAME_KINDS = re.compile(
    r"^(?:.*[_-])?(cover|titlepage|title-page|title|halftitle|copyright|uncopyright|toc|"
    r"contents|nav|index|colophon|imprint|loi|lot)(?:[_-]?\d*)?$", re.I)
_TITLE_KINDS = {
    "contents": "toc", "table of contents": "toc", "目录": "toc", "目錄": "toc", "目次": "toc",
    "copyright": "copyright", "版权": "copyright", "版權": "copyright", "版权页": "copyright",
    "版權頁": "copyright", "index": "index", "索引": "index", "title page": "titlepage",
    "cover": "cover", "封面": "cover", "colophon": "colophon", "imprint": "imprint",
}
_CONTENT_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}
_COVER_TYPES = {"image/jpeg", "image/jpg", "image/png"}


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _children(element, name: str):
    return [child for child in element if _local(child.tag) == name]


def _all(element, name: str):
    return [el for el in element.iter() if _local(el.tag) == name]


def _text(element) -> str:
    return voxline.tidy("".join(element.itertext())) if element is not None else ""


def _role_of(kind: str) -> str:
    if kind in FRONT:
        return "front"
    if kind in BACK:
        return "back"
    return "body"


class Epub:
    """One EPUB file opened for reading, its parts read with limits."""

    def __init__(self, path: Path):
        self.label = str(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise voxline.InputError(f"{path}: not an EPUB (not a zip file)") from None
        except OSError as exc:
            raise voxline.InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        infos = self.zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise voxline.InputError(f"{path}: {len(infos)} files inside; voxline reads EPUBs "
                                     f"of at most {MAX_ENTRIES}")
        if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES:
            raise voxline.InputError(f"{path}: unpacks to more than "
                                     f"{MAX_TOTAL_BYTES // 2**30} GiB (a zip bomb?)")
        self.names = {info.filename: info for info in infos}

    def close(self) -> None:
        self.zip.close()

    def resolve(self, base: str, href: str) -> str | None:
        """A reference from the part `base` as a name inside the zip, or None when it points
        outside the book (or elsewhere on the web)."""
        href = unquote(href.partition("#")[0])
        if not href or re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I):
            return None
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), href))
        if joined.startswith(("../", "/")) or joined in ("..", "."):
            return None
        return joined

    def part(self, name: str, limit: int = voxline.MAX_PART_BYTES) -> bytes:
        info = self.names.get(name)
        if info is None:
            raise voxline.InputError(f"{self.label}: {name} is missing from the book")
        if info.flag_bits & 0x1:
            raise voxline.InputError(f"{self.label}: {name} is encrypted (DRM); voxline reads "
                                     "only EPUBs without DRM")
        if info.file_size > limit:
            raise voxline.InputError(f"{self.label}: {name} is larger than "
                                     f"{limit // 2**20} MiB")
        if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise voxline.InputError(f"{self.label}: {name} is compressed {info.file_size // max(info.compress_size, 1)} to 1 (a zip bomb?)")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise voxline.InputError(f"{self.label}: {name} cannot be read: {exc}") from None
        if len(data) > limit:  # the zip's directory understated it
            raise voxline.InputError(f"{self.label}: {name} is larger than "
                                     f"{limit // 2**20} MiB")
        return data

    def xml(self, name: str):
        return voxline.parse_xml(self.part(name), f"{self.label}: {name}")


class EpubReader(voxline.Reader):
    name = "epub"
    suffixes = (".epub",)
    version = "1"

    def read(self, path: Path, options: voxline.ReadOptions) -> voxline.ReadBook:
        book = Epub(path)
        try:
            return _read(book, options)
        finally:
            book.close()


def _read(book: Epub, options: voxline.ReadOptions) -> voxline.ReadBook:
    warnings: list[str] = []
    if "META-INF/encryption.xml" in book.names:
        encrypted = [ref.get("URI", "") for ref in _all(book.xml("META-INF/encryption.xml"),
                                                        "cipherreference")]
        if any(re.search(r"\.(x?html?|xml|ncx|opf)$", uri, re.I) for uri in encrypted):
            raise voxline.InputError(f"{book.label}: its text is encrypted (DRM); voxline "
                                     "reads only EPUBs without DRM")
    container = book.xml("META-INF/container.xml")
    rootfile = next((el.get("full-path") for el in _all(container, "rootfile")
                     if el.get("full-path")), None)
    if not rootfile:
        raise voxline.InputError(f"{book.label}: META-INF/container.xml names no package "
                                 "document; not an EPUB")
    opf_name = posixpath.normpath(unquote(rootfile))
    opf = book.xml(opf_name)
    manifest: dict[str, tuple[str, str, set[str]]] = {}  # id → (name, media type, properties)
    by_name: dict[str, str] = {}
    for item in _all(opf, "item"):
        name = book.resolve(opf_name, item.get("href") or "")
        if name is None:
            if item.get("href"):
                warnings.append(f"{item.get('href')}: points outside the book; ignored")
            continue
        manifest[item.get("id", "")] = (name, (item.get("media-type") or "").lower(),
                                        set((item.get("properties") or "").split()))
        by_name[name] = item.get("id", "")
    info = _metadata(book, opf, opf_name, manifest)
    spine = next(iter(_all(opf, "spine")), None)
    if spine is None:
        raise voxline.InputError(f"{book.label}: its package document has no spine")

    toc, pages, landmarks, nav_name = _navigation(book, opf, spine, manifest, warnings)
    kinds = {**_guide(book, opf, opf_name), **landmarks}
    by_file: dict[str, list[tuple[str, str]]] = {}
    for name, fragment, title in toc:
        by_file.setdefault(name, []).append((fragment, title))

    sections: list[voxline.Section] = []
    guessed: set[int] = set()  # sections taken for front or back matter by their file name
    for itemref in _children(spine, "itemref"):
        entry = manifest.get(itemref.get("idref", ""))
        if entry is None:
            continue
        name, media, _ = entry
        if media not in _CONTENT_TYPES:
            continue
        root = book.xml(name)
        kind = _kind(name, itemref, root, kinds, by_file.get(name, []), nav_name)
        guess, kind, before = kind.startswith("guess:"), kind.removeprefix("guess:"), len(sections)
        role = _role_of(kind)
        if itemref.get("linear", "yes").lower() == "no" and role == "body":
            role, kind = "back", kind or "auxiliary"
        if not options.front_matter:
            _drop_boilerplate(root)
        entries = by_file.get(name, [])
        blocks, found = voxline.html_blocks(
            root, options, page_ids=pages.get(name, ()),
            marks=[fragment for fragment, _ in entries if fragment], label=name)
        language = voxline.element_language(root) or next(
            (voxline.element_language(el) for el in _all(root, "body")), None)
        cuts = sorted(((found.get(fragment, 0) if fragment else 0), order, title)
                      for order, (fragment, title) in enumerate(entries))
        head = blocks[:cuts[0][0]] if cuts else blocks
        if head:
            previous = sections[-1] if sections else None
            if previous is not None and previous.role == role == "body" and not kind:
                sections[-1] = voxline.Section(previous.title, previous.blocks + tuple(head),
                                               previous.role, previous.kind, previous.language)
            else:
                title = next((b.text for b in head if b.kind == "heading"), "") or _text(
                    next(iter(_all(root, "title")), None)) or Path(name).stem
                sections.append(voxline.Section(title, tuple(head), role, kind, language))
        for i, (start, _, title) in enumerate(cuts):
            end = cuts[i + 1][0] if i + 1 < len(cuts) else len(blocks)
            part = blocks[start:end]
            section_kind = kind or _TITLE_KINDS.get(title.strip().lower(), "")
            sections.append(voxline.Section(title or Path(name).stem, tuple(part),
                                            role if kind else _role_of(section_kind),
                                            section_kind, language))
        if guess:
            guessed.update(range(before, len(sections)))
    if not options.front_matter:
        sections = _without_gutenberg(sections)
    title = re.sub(r"\W+", " ", info.title).strip().casefold()
    sections = [  # a short section named after the book is its title page
        voxline.Section(s.title, s.blocks, "front", "titlepage", s.language)
        if s.role == "body" and title and s.words < 500
        and re.sub(r"\W+", " ", s.title).strip().casefold() == title else s
        for s in sections]
    if not any(s.role == "body" and s.blocks for s in sections):
        sections = [voxline.Section(s.title, s.blocks, "body", "", s.language)
                    if i in guessed else s for i, s in enumerate(sections)]
    sections = [s for s in sections if s.blocks]
    if not sections:
        raise voxline.InputError(f"{book.label}: no text in the book (is it only images?)")
    return voxline.ReadBook(info, tuple(sections), tuple(warnings), split=True)


def _metadata(book: Epub, opf, opf_name: str, manifest) -> voxline.BookInfo:
    metadata = next(iter(_all(opf, "metadata")), opf)

    def values(name: str) -> list[str]:
        return [_text(el) for el in _all(metadata, name) if _text(el)]

    refines = {}
    for meta in _all(metadata, "meta"):
        if meta.get("refines") and meta.get("property") == "role":
            refines[meta.get("refines").lstrip("#")] = _text(meta)
    creators = []
    for el in _all(metadata, "creator"):
        role = (el.get("{http://www.idpf.org/2007/opf}role") or el.get("role")
                or refines.get(el.get("id", ""), "aut"))
        if _text(el) and role in ("aut", ""):
            creators.append(_text(el))
    creators = creators or values("creator")
    description = " ".join(values("description"))
    if "<" in description:  # often escaped HTML
        import html

        description = voxline.tidy(html.unescape(re.sub(r"<[^>]+>", " ", description)))
    cover, cover_type = _cover(book, metadata, opf_name, manifest)
    return voxline.BookInfo(
        title=next(iter(values("title")), ""), authors=tuple(dict.fromkeys(creators)),
        language=voxline.language_of(next(iter(values("language")), None)),
        publisher=next(iter(values("publisher")), ""), date=next(iter(values("date")), ""),
        description=description, cover=cover, cover_type=cover_type)


def _cover(book: Epub, metadata, opf_name: str, manifest) -> tuple[bytes | None, str]:
    """The cover image: EPUB 3's `cover-image` item, EPUB 2's `<meta name="cover">`, or an
    image item named cover; JPEG and PNG only (what MP4 and ID3 covers take)."""
    candidates = [item_id for item_id, (_, media, props) in manifest.items()
                  if "cover-image" in props]
    for meta in _all(metadata, "meta"):
        if (meta.get("name") or "").lower() == "cover" and meta.get("content"):
            content = meta.get("content")
            candidates.append(content)
            candidates.extend(i for i, (name, _, _) in manifest.items()
                              if name == book.resolve(opf_name, content))
    candidates.extend(i for i, (name, media, _) in manifest.items()
                      if media.startswith("image/") and "cover" in (i + name).lower())
    for item_id in candidates:
        name, media, _ = manifest.get(item_id, ("", "", set()))
        if media in _COVER_TYPES:
            try:
                return book.part(name, MAX_COVER_BYTES), (
                    "image/jpeg" if media == "image/jpg" else media)
            except voxline.InputError:
                continue
    return None, ""


def _navigation(book: Epub, opf, spine, manifest, warnings: list[str]):
    """(toc entries [(part, fragment, title)], page-list ids by part, landmark kinds by
    part, the navigation document's name) from EPUB 3's nav document, else the NCX."""
    toc: list[tuple[str, str, str]] = []
    pages: dict[str, set[str]] = {}
    landmarks: dict[str, str] = {}
    nav_name = next((name for name, _, props in manifest.values() if "nav" in props), None)
    if nav_name:
        try:
            nav = book.xml(nav_name)
        except voxline.InputError as exc:
            warnings.append(f"{exc}; its table of contents is not used")
            nav = None
        for element in _all(nav, "nav") if nav is not None else []:
            kinds = voxline.element_types(element)
            for link in _all(element, "a"):
                target = book.resolve(nav_name, link.get("href") or "")
                if target is None:
                    continue
                fragment = unquote((link.get("href") or "").partition("#")[2])
                if "toc" in kinds or "doc-toc" in kinds:
                    toc.append((target, fragment, _text(link)))
                elif "page-list" in kinds or "doc-pagelist" in kinds:
                    if fragment:
                        pages.setdefault(target, set()).add(fragment)
                elif "landmarks" in kinds:
                    for kind in voxline.element_types(link):
                        landmarks.setdefault(target, kind)
    ncx_name = manifest.get(spine.get("toc", ""), (None,))[0] or next(
        (name for name, media, _ in manifest.values() if media == "application/x-dtbncx+xml"),
        None)
    if ncx_name and (not toc or not pages):
        try:
            ncx = book.xml(ncx_name)
        except voxline.InputError as exc:
            warnings.append(f"{exc}; its table of contents is not used")
            ncx = None
        if ncx is not None and not toc:
            for point in _all(ncx, "navpoint"):
                content = next(iter(_children(point, "content")), None)
                label = next(iter(_children(point, "navlabel")), None)
                src = content.get("src", "") if content is not None else ""
                target = book.resolve(ncx_name, src)
                if target is not None:
                    toc.append((target, unquote(src.partition("#")[2]), _text(label)))
        if ncx is not None and not pages:
            for target_el in _all(ncx, "pagetarget"):
                content = next(iter(_children(target_el, "content")), None)
                src = content.get("src", "") if content is not None else ""
                target = book.resolve(ncx_name, src)
                if target is not None and "#" in src:
                    pages.setdefault(target, set()).add(unquote(src.partition("#")[2]))
    return toc, pages, landmarks, nav_name


def _guide(book: Epub, opf, opf_name: str) -> dict[str, str]:
    kinds = {}
    for reference in _all(opf, "reference"):
        target = book.resolve(opf_name, reference.get("href") or "")
        if target is not None and reference.get("type"):
            kinds.setdefault(target, reference.get("type").lower())
    return kinds


def _kind(name: str, itemref, root, kinds: dict[str, str], entries, nav_name) -> str:
    """What a spine document is when it is front or back matter ('' for the body)."""
    if name == nav_name:
        return "toc"
    declared = kinds.get(name, "")
    if declared in FRONT or declared in BACK:
        return declared
    for element in _all(root, "body")[:1] + [
            el for el in _all(root, "section")[:1]]:
        found = voxline.element_types(element) & (FRONT | BACK)
        if found:
            return sorted(found)[0]
    if entries and len(entries) == 1 and entries[0][1].strip().lower() in _TITLE_KINDS:
        return _TITLE_KINDS[entries[0][1].strip().lower()]
    match = _NAME_KINDS.match(Path(name).stem) or _NAME_KINDS.match(itemref.get("idref", ""))
    if match:  # a guess from its name: undone if it would leave the book empty
        kind = match.group(1).lower()
        return "guess:" + {"nav": "toc", "contents": "toc", "title": "titlepage",
                           "title-page": "titlepage"}.get(kind, kind)
    return ""


_PG_START = re.compile(r"\*{3}\s*START OF (?:THIS|THE) PROJECT GUTENBERG", re.I)
_PG_END = re.compile(r"\*{3}\s*END OF (?:THIS|THE) PROJECT GUTENBERG|^End of (?:the )?Project "
                     r"Gutenberg", re.I | re.M)


def _without_gutenberg(sections: list) -> list:
    """Project Gutenberg's header (up to its `*** START OF THIS PROJECT GUTENBERG EBOOK`
    line) and licence (from `*** END OF ...`), in EPUBs that do not mark them."""
    flat = [(i, j) for i, s in enumerate(sections) for j in range(len(s.blocks))]
    start = next((k for k, (i, j) in enumerate(flat)
                  if _PG_START.search(sections[i].blocks[j].text)), None)
    end = next((k for k, (i, j) in enumerate(flat)
                if _PG_END.search(sections[i].blocks[j].text)), None)
    if start is None and end is None:
        return sections
    keep = set(flat[(start + 1 if start is not None else 0):end])
    return [voxline.Section(s.title, tuple(b for j, b in enumerate(s.blocks) if (i, j) in keep),
                            s.role, s.kind, s.language) for i, s in enumerate(sections)]


def _drop_boilerplate(root) -> None:
    """Project Gutenberg's header and licence, which its EPUBs put around the book."""
    found = [el for el in root.iter() if isinstance(el.tag, str) and (
        el.get("id") in ("pg-header", "pg-footer")
        or "pg-boilerplate" in (el.get("class") or "").split())]
    for element in found:
        parent = element.getparent()
        if parent is None:
            continue
        if element.tail:  # the text after it is not part of it
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + element.tail
            else:
                parent.text = (parent.text or "") + element.tail
        parent.remove(element)


@voxline.hookimpl
def register_readers(register):
    register(EpubReader)
