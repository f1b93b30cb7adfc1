"""The PDF reader, on pypdf (BSD licence, pure Python).

A PDF has no paragraphs, only text drawn at positions, so the reader rebuilds them: text
fragments are gathered with their position and size, joined into lines, lines into
paragraphs (a wider gap, or a change of size, starts a new one). What is not text is left
out: running headers and footers (a line in the top or bottom margin that repeats, digits
aside, on several pages) and page numbers. A word hyphenated at the end of a line is joined
again (`exam-` + `ple` → `example`). A page in two columns (lines that start right of the
middle, lines that end left of it) is read left column first, then the right one, between
any full-width lines. Chapters are the document's outline (bookmarks) when it has one, else
its headings (lines in a larger type than the body).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import voxline

MAX_PAGES = 5_000
_PAGE_NUMBER = re.compile(
    r"^\s*(?:page\s+)?[-–—(\[]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-–—)\]]?\s*"
    r"(?:(?:/|of)\s*\d{1,4})?\s*$|^\s*第\s*\d{1,4}\s*页\s*$", re.I)
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@dataclass
class Line:
    page: int
    x0: float
    x1: float
    y: float        # of the baseline, from the bottom of the page
    size: float
    text: str


def _width(text: str, size: float) -> float:
    """An estimate of how wide `text` is drawn (PDF text carries no widths here)."""
    return sum(size if _CJK.match(ch) else 0.5 * size for ch in text)


def _page_lines(page, number: int) -> list[Line]:
    fragments: list[tuple[float, float, float, str]] = []

    def visit(text, cm, tm, font, size):
        if not text or not text.strip():
            return
        a, b, c, d, e, f = (tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3],
                            tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3],
                            tm[4] * cm[0] + tm[5] * cm[2] + cm[4],
                            tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
        scale = math.hypot(c, d) or 1.0
        for piece in text.split("\n"):
            if piece.strip():
                fragments.append((e, f, (size or 10) * scale, piece))

    page.extract_text(visitor_text=visit)
    fragments.sort(key=lambda fr: (-fr[1], fr[0]))
    rows: list[list[tuple[float, float, float, str]]] = []
    for fragment in fragments:
        if rows and abs(rows[-1][0][1] - fragment[1]) <= 0.4 * fragment[2]:
            rows[-1].append(fragment)
        else:
            rows.append([fragment])
    lines: list[Line] = []
    for row in rows:
        row.sort(key=lambda fr: fr[0])
        segment: list[tuple[float, float, float, str]] = []
        end = None
        for fragment in row:
            x, _, size, _ = fragment
            if segment and end is not None and x - end > 2.5 * size:  # a gutter: a new column
                lines.append(_line(number, segment))
                segment = []
            segment.append(fragment)
            end = max(end or x, x + _width(fragment[3], size))
        if segment:
            lines.append(_line(number, segment))
    return lines


def _line(page: int, segment) -> Line:
    text = ""
    end = None
    for x, _, size, piece in segment:
        if text and end is not None and x - end > 0.15 * size and not text.endswith(" ") \
                and not piece.startswith(" ") and not (_CJK.match(text[-1])
                                                       and _CJK.match(piece.lstrip()[:1])):
            text += " "
        text += piece
        end = x + _width(piece, size)
    sizes = [size for _, _, size, _ in segment]
    return Line(page, segment[0][0], end or segment[0][0], segment[0][1],
                max(set(sizes), key=sizes.count), text.strip())


def _in_columns(lines: list[Line], width: float) -> list[Line]:
    """A page's lines in reading order: two columns left then right, between full-width
    lines."""
    middle = width / 2
    right = [ln for ln in lines if ln.x0 >= middle - 0.05 * width]
    left = [ln for ln in lines if ln.x1 <= middle + 0.05 * width]
    if len(right) < 3 or len(left) < 3:
        return lines
    ordered: list[Line] = []
    band_left: list[Line] = []
    band_right: list[Line] = []
    for line in lines:  # already top to bottom
        if line in right:
            band_right.append(line)
        elif line in left:
            band_left.append(line)
        else:
            ordered += band_left + band_right + [line]
            band_left, band_right = [], []
    return ordered + band_left + band_right


def _margins(pages: list[list[Line]], heights: list[float]) -> set[tuple[int, int]]:
    """(page, index) of the lines that are running headers, footers or page numbers."""
    def key(text: str) -> str:
        return re.sub(r"\d+", "#", text.strip().lower())

    zone: list[tuple[int, int, str]] = []
    for number, (lines, height) in enumerate(zip(pages, heights)):
        for index, line in enumerate(lines):
            if line.y >= height * 0.92 or line.y <= height * 0.08:
                zone.append((number, index, line.text))
    counts = Counter(key(text) for _, _, text in zone)
    repeated = max(2, math.ceil(0.3 * len(pages)))
    return {(number, index) for number, index, text in zone
            if _PAGE_NUMBER.match(text) or (len(pages) > 1 and counts[key(text)] >= repeated)}


def _join(previous: str, line: str) -> str:
    if re.search(r"[^\W\d_]-$", previous) and re.match(r"[a-zà-ÿ]", line):
        return previous[:-1] + line  # a word hyphenated at the end of the line
    return previous + "\n" + line


class PdfReader(voxline.Reader):
    name = "pdf"
    suffixes = (".pdf",)
    version = "1"

    def read(self, path: Path, options: voxline.ReadOptions) -> voxline.ReadBook:
        try:
            import pypdf
        except ImportError:
            raise voxline.InputError(f"{path}: reading PDF needs pypdf (pip install "
                                     "pypdf)") from None
        import io
        import logging

        label = str(path)
        data = voxline.read_limited(path)
        logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged-file chatter
        try:
            pdf = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if pdf.is_encrypted and not pdf.decrypt(""):
                raise voxline.InputError(f"{label}: encrypted (it needs a password)")
            count = len(pdf.pages)
            if count > MAX_PAGES:
                raise voxline.InputError(f"{label}: {count} pages; voxline reads PDFs of at "
                                         f"most {MAX_PAGES}")
            pages, heights = [], []
            for number, page in enumerate(pdf.pages):
                box = page.mediabox
                lines = _page_lines(page, number)
                pages.append(_in_columns(lines, float(box.width)))
                heights.append(float(box.height))
            outline = self._outline(pdf)
            meta = pdf.metadata or {}
            root = pdf.trailer["/Root"]
            language = voxline.language_of(str(root.get("/Lang", "")) or None)
        except voxline.InputError:
            raise
        except Exception as exc:  # pypdf raises many kinds for a damaged file
            raise voxline.InputError(f"{label}: not a readable PDF: "
                                     f"{type(exc).__name__}: {exc}") from None
        dropped = _margins(pages, heights)
        body = [ln for number, lines in enumerate(pages) for index, ln in enumerate(lines)
                if (number, index) not in dropped]
        if not body:
            raise voxline.InputError(f"{label}: no text in the PDF (a scan? voxline does not "
                                     "recognise text in images)")
        blocks, places = self._blocks(body)
        title = str(meta.get("/Title") or "") or path.stem
        author = str(meta.get("/Author") or "")
        date = str(meta.get("/CreationDate") or "")
        date = f"{date[2:6]}-{date[6:8]}-{date[8:10]}" if re.match(r"D:\d{8}", date) else ""
        info = voxline.BookInfo(title=title, authors=(author,) if author else (),
                                language=language, date=date,
                                description=str(meta.get("/Subject") or ""))
        if outline:
            sections = self._by_outline(blocks, places, outline, title, language)
        else:
            sections = voxline.sections_from_blocks(blocks, title, language)
        return voxline.ReadBook(info, tuple(sections))

    @staticmethod
    def _outline(pdf) -> list[tuple[str, int, float | None]]:
        """(title, page, top) of the outline's chapters: its top level, or the level under a
        single top entry."""
        entries = pdf.outline
        top = [e for e in entries if not isinstance(e, list)]
        if len(top) == 1:
            nested = next((e for e in entries if isinstance(e, list)), [])
            if nested:
                top = [e for e in nested if not isinstance(e, list)]
        out = []
        for entry in top:
            try:
                page = pdf.get_destination_page_number(entry)
            except Exception:
                continue
            if page is None or page < 0:
                continue
            where = getattr(entry, "top", None)
            out.append((voxline.tidy(str(entry.title)), page,
                        float(where) if where is not None else None))
        return sorted(out, key=lambda e: (e[1], -(e[2] or 1e9)))

    @staticmethod
    def _blocks(lines: list[Line]) -> tuple[list[voxline.Block], list[tuple[int, float]]]:
        """Paragraphs and headings from lines, and where each block starts (page, y)."""
        sizes = Counter(round(ln.size) for ln in lines for _ in ln.text)
        body = sizes.most_common(1)[0][0] if sizes else 10
        heading_sizes = sorted({round(ln.size) for ln in lines if ln.size >= body * 1.15},
                               reverse=True)
        blocks: list[voxline.Block] = []
        places: list[tuple[int, float]] = []
        text, start, previous = "", None, None
        kind_level = (None, 0)

        def flush():
            nonlocal text
            if text:
                kind, level = kind_level
                if kind == "heading":
                    blocks.append(voxline.Block("heading", voxline.tidy(text), level))
                else:
                    block = voxline.paragraph(text)
                    if block is not None:
                        blocks.append(block)
                if len(places) < len(blocks):
                    places.append(start)
            text = ""

        for line in lines:
            size = round(line.size)
            level = heading_sizes.index(size) + 1 if size in heading_sizes else 0
            this = ("heading", level) if level else ("paragraph", 0)
            gap = (previous.y - line.y) if previous is not None and \
                previous.page == line.page else None
            new = (previous is None or this != kind_level or gap is None or gap < 0
                   or gap > 1.6 * max(line.size, previous.size)
                   or (previous.page == line.page and abs(previous.x0 - line.x0) > 3 * body
                       and line.x0 > previous.x0 and previous.text.endswith((".", "。", "!",
                                                                              "?", "！", "？"))))
            if new:
                flush()
                kind_level, start, text = this, (line.page, line.y), line.text
            else:
                text = _join(text, line.text)
            previous = line
        flush()
        return blocks, places

    @staticmethod
    def _by_outline(blocks, places, outline, title, language):
        cuts = []
        for name, page, top in outline:
            # where the chapter starts: its title on its page, else the outline's position
            # on it (which some writers get wrong), else the page's first block
            on_page = [i for i, (p, _) in enumerate(places) if p == page]
            index = next((i for i in on_page if blocks[i].text.casefold() == name.casefold()),
                         None)
            if index is None and top is not None:
                index = next((i for i in on_page if places[i][1] <= top + 2), None)
            if index is None:
                index = next((i for i, (p, _) in enumerate(places) if p >= page), len(blocks))
            cuts.append((index, name))
        cuts.sort()
        sections = []
        if cuts and cuts[0][0] > 0:
            sections.append(voxline.Section(title, tuple(blocks[:cuts[0][0]]),
                                            language=language))
        for i, (index, name) in enumerate(cuts):
            end = cuts[i + 1][0] if i + 1 < len(cuts) else len(blocks)
            if end > index:
                sections.append(voxline.Section(name, tuple(blocks[index:end]),
                                                language=language))
        return sections


@voxline.hookimpl
def register_readers(register):
    register(PdfReader)
