"""Books and documents built at test time (no binary fixtures in the repository): EPUB 2 and
3 written as the specifications lay them out, HTML in legacy Chinese encodings, Markdown,
DOCX (python-docx) and PDF (fpdf2)."""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path


def png(width: int = 8, height: int = 8, rgb=(200, 30, 30)) -> bytes:
    """A small solid-colour PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                            0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


XHTML = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"{lang}>
<head><title>{title}</title>{css}</head>
<body{body_type}>
{body}
</body>
</html>
"""


@dataclass
class Doc:
    name: str
    title: str
    body: str
    linear: bool = True
    body_type: str = ""   # epub:type of <body>
    lang: str = ""


@dataclass
class Epub:
    title: str = "A Test Book"
    authors: tuple[str, ...] = ("Ann Author",)
    language: str = "en"
    publisher: str = "Test Press"
    date: str = "1901-05-06"
    description: str = "A book made by the tests."
    version: int = 3
    docs: list[Doc] = field(default_factory=list)
    toc: list[tuple[str, str]] = field(default_factory=list)      # (href, title)
    landmarks: list[tuple[str, str]] = field(default_factory=list)  # (href, epub:type)
    guide: list[tuple[str, str]] = field(default_factory=list)     # (type, href)
    page_list: list[tuple[str, str]] = field(default_factory=list)  # (href#id, label)
    cover: bytes | None = None
    direction: str | None = None   # spine page-progression-direction
    css: str | None = None

    def write(self, path: Path) -> Path:
        items, spine = [], []
        files: dict[str, bytes] = {}
        css_link = ""
        if self.css:
            files["OEBPS/style.css"] = self.css.encode()
            items.append('<item id="css" href="style.css" media-type="text/css"/>')
            css_link = '<link rel="stylesheet" type="text/css" href="style.css"/>'
        for i, doc in enumerate(self.docs):
            lang = (f' xml:lang="{doc.lang}" lang="{doc.lang}"' if doc.lang else
                    f' xml:lang="{self.language}" lang="{self.language}"')
            body_type = f' epub:type="{doc.body_type}"' if doc.body_type else ""
            files[f"OEBPS/{doc.name}"] = XHTML.format(
                lang=lang, title=doc.title, css=css_link, body_type=body_type,
                body=doc.body).encode("utf-8")
            items.append(f'<item id="d{i}" href="{doc.name}" media-type="application/xhtml+xml"/>')
            linear = "" if doc.linear else ' linear="no"'
            spine.append(f'<itemref idref="d{i}"{linear}/>')
        cover_meta = ""
        if self.cover is not None:
            files["OEBPS/images/cover.png"] = self.cover
            props = ' properties="cover-image"' if self.version == 3 else ""
            items.append(f'<item id="cover-img" href="images/cover.png" media-type="image/png"'
                         f'{props}/>')
            cover_meta = '<meta name="cover" content="cover-img"/>'
        if self.version == 3:
            files["OEBPS/nav.xhtml"] = self._nav().encode("utf-8")
            items.append('<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
                         'properties="nav"/>')
        files["OEBPS/toc.ncx"] = self._ncx().encode("utf-8")
        items.append('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>')
        creators = "".join(f'<dc:creator opf:role="aut">{a}</dc:creator>'
                           for a in self.authors)
        direction = (f' page-progression-direction="{self.direction}"'
                     if self.direction else "")
        guide = ""
        if self.guide:
            guide = "<guide>" + "".join(f'<reference type="{t}" href="{h}" title="{t}"/>'
                                        for t, h in self.guide) + "</guide>"
        opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" xmlns:opf="http://www.idpf.org/2007/opf" version="{self.version}.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="id">urn:uuid:12345678-1234-1234-1234-123456789abc</dc:identifier>
<dc:title>{self.title}</dc:title>{creators}
<dc:language>{self.language}</dc:language>
<dc:publisher>{self.publisher}</dc:publisher>
<dc:date>{self.date}</dc:date>
<dc:description>{self.description}</dc:description>
{cover_meta}
</metadata>
<manifest>{''.join(items)}</manifest>
<spine toc="ncx"{direction}>{''.join(spine)}</spine>
{guide}
</package>"""
        files["OEBPS/content.opf"] = opf.encode("utf-8")
        container = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
            z.writestr("META-INF/container.xml", container)
            for name, data in files.items():
                z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        return path

    def _nav(self) -> str:
        toc = "".join(f'<li><a href="{h}">{t}</a></li>' for h, t in self.toc)
        marks = "".join(f'<li><a epub:type="{k}" href="{h}">{k}</a></li>'
                        for h, k in self.landmarks)
        pages = "".join(f'<li><a href="{h}">{t}</a></li>' for h, t in self.page_list)
        return f"""<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>Contents</title></head><body>
<nav epub:type="toc" id="toc"><h1>Contents</h1><ol>{toc}</ol></nav>
<nav epub:type="landmarks" hidden=""><ol>{marks}</ol></nav>
<nav epub:type="page-list" hidden=""><ol>{pages}</ol></nav>
</body></html>"""

    def _ncx(self) -> str:
        points = "".join(
            f'<navPoint id="n{i}" playOrder="{i + 1}"><navLabel><text>{t}</text></navLabel>'
            f'<content src="{h}"/></navPoint>' for i, (h, t) in enumerate(self.toc))
        pages = "".join(
            f'<pageTarget id="p{i}" type="normal" value="{t}"><navLabel><text>{t}</text>'
            f'</navLabel><content src="{h}"/></pageTarget>'
            for i, (h, t) in enumerate(self.page_list))
        page_list = f"<pageList>{pages}</pageList>" if pages else ""
        return f"""<?xml version="1.0" encoding="utf-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
<head><meta name="dtb:uid" content="x"/></head>
<docTitle><text>{self.title}</text></docTitle>
<navMap>{points}</navMap>{page_list}
</ncx>"""


def english_epub(path: Path, version: int = 3) -> Path:
    """A short novel with a cover image, a cover page, a title page, a copyright page, a
    table of contents, two chapters (footnote markers, page-list anchors, an image, a
    chapter split across two files) and an index."""
    docs = [
        Doc("cover.xhtml", "Cover", '<div><img src="images/cover.png" alt="The cover"/></div>',
            body_type="cover" if version == 3 else ""),
        Doc("titlepage.xhtml", "Title Page",
            "<h1>A Test Book</h1><p>by Ann Author</p>",
            body_type="titlepage" if version == 3 else ""),
        Doc("copyright.xhtml", "Copyright",
            "<p>Copyright 1901 Test Press. All rights reserved.</p>",
            body_type="copyright-page" if version == 3 else ""),
        Doc("contents.xhtml", "Contents",
            "<h2>Contents</h2><p>Chapter One ... 1</p><p>Chapter Two ... 9</p>"),
        Doc("ch1.xhtml", "Chapter One",
            '<section epub:type="chapter"><h2>Chapter One</h2>'
            '<p>The harbour was quiet at dawn.<a epub:type="noteref" href="#fn1">1</a> '
            'Gulls circled over the boats.<sup><a href="notes.xhtml#note2" '
            'id="ref2">2</a></sup></p>'
            '<p><span epub:type="pagebreak" id="page7" title="7">7</span>'
            '“Who goes there?” asked the keeper.</p>'
            '<p><img src="images/cover.png" alt="A lighthouse at night"/></p>'
            '<aside epub:type="footnote" id="fn1"><p>Footnote text never read.</p></aside>'
            '</section>'),
        Doc("ch1b.xhtml", "Chapter One (continued)",
            '<p>The keeper lit the lamp.<span id="page8"/> Night fell over the water.</p>'),
        Doc("ch2.xhtml", "Chapter Two",
            '<h2>Chapter Two</h2><p>A letter arrived in the morning post.</p>'
            '<p>It was written in a hurried hand.</p>'),
        Doc("notes.xhtml", "Notes", '<p id="note2">An endnote that is not read.</p>',
            linear=False),
        Doc("index.xhtml", "Index", "<h2>Index</h2><p>harbour, 1</p><p>letter, 9</p>",
            body_type="index" if version == 3 else ""),
    ]
    book = Epub(version=version, docs=docs, cover=png(),
                toc=[("titlepage.xhtml", "Title Page"), ("copyright.xhtml", "Copyright"),
                     ("contents.xhtml", "Contents"), ("ch1.xhtml", "Chapter One"),
                     ("ch2.xhtml", "Chapter Two"), ("index.xhtml", "Index")],
                landmarks=[("cover.xhtml", "cover"), ("ch1.xhtml", "bodymatter"),
                           ("contents.xhtml", "toc")] if version == 3 else [],
                guide=[("cover", "cover.xhtml"), ("title-page", "titlepage.xhtml"),
                       ("copyright-page", "copyright.xhtml"), ("toc", "contents.xhtml"),
                       ("text", "ch1.xhtml"), ("index", "index.xhtml")] if version == 2 else [],
                page_list=[("ch1.xhtml#page7", "7"), ("ch1b.xhtml#page8", "8")])
    return book.write(path)


def vertical_chinese_epub(path: Path) -> Path:
    """A traditional-Chinese EPUB 3 typeset vertically (writing-mode vertical-rl, spine
    right to left), with ruby (zhuyin) annotations and full-width punctuation."""
    css = ("html { writing-mode: vertical-rl; -epub-writing-mode: vertical-rl; }\n"
           ".tcy { text-combine-upright: all; }")
    docs = [
        Doc("cover.xhtml", "封面", '<div><img src="images/cover.png" alt="封面"/></div>',
            body_type="cover"),
        Doc("p1.xhtml", "第一章", '<h1>第一章　春眠</h1>'
            '<p>春眠不覺曉，處處聞啼鳥。</p>'
            '<p>夜來風雨聲，\n花落知多少？<ruby>曉<rt>ㄒㄧㄠˇ</rt></ruby>色<span class="tcy">12</span>分。</p>'),
        Doc("p2.xhtml", "第二章", '<h1>第二章　靜夜</h1><p>「床前明月光，疑是地上霜。」</p>'),
    ]
    book = Epub(title="唐詩選讀", authors=("孟浩然",), language="zh-Hant", publisher="測試出版社",
                date="2020", description="直排測試。", docs=docs, cover=png(rgb=(0, 0, 0)),
                toc=[("p1.xhtml", "第一章　春眠"), ("p2.xhtml", "第二章　靜夜")],
                landmarks=[("cover.xhtml", "cover")], direction="rtl", css=css)
    return book.write(path)


def pdf(path: Path, *, columns: bool = False, outline: bool = True) -> Path:
    """A three-page PDF with a running header, page numbers in the footer, a word hyphenated
    at a line end, an outline of two chapters, and with `columns` a two-column page."""
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_auto_page_break(False)
    doc.set_title("The PDF Book")
    doc.set_author("Pat Printer")

    def page(number: int) -> None:
        doc.add_page()
        doc.set_font("Helvetica", size=9)
        doc.set_xy(20, 8)
        doc.cell(0, 5, "THE PDF BOOK - A RUNNING HEADER")
        doc.set_xy(100, 285)
        doc.cell(10, 5, str(number))

    def line(y: float, text: str, size: int = 11, x: float = 20) -> None:
        doc.set_font("Helvetica", size=size)
        doc.set_xy(x, y)
        doc.cell(0, 6, text)

    page(1)
    if outline:
        doc.start_section("Chapter One")
    line(30, "Chapter One", 20)
    line(50, "The first chapter begins here. It is about an exam-")
    line(56, "ple of a word broken at the end of a line.")
    line(70, "A second paragraph follows after a gap.")
    page(2)
    line(30, "The first chapter goes on over the page break.")
    if columns:
        for i in range(6):
            line(50 + 6 * i, f"Left column line {i + 1}.", x=20)
            line(50 + 6 * i, f"Right column line {i + 1}.", x=115)
    page(3)
    if outline:
        doc.start_section("Chapter Two")
    line(30, "Chapter Two", 20)
    line(50, "The second chapter is short.")
    doc.output(str(path))
    return path


def docx(path: Path) -> Path:
    """A Word document: a title, two Heading 1 chapters with a Heading 2 inside, a list, a
    table and a footnote-free body."""
    import docx as python_docx

    document = python_docx.Document()
    document.core_properties.title = "The Word Book"
    document.core_properties.author = "Wendy Writer"
    document.core_properties.language = "en-GB"
    document.add_heading("The Word Book", level=0)
    document.add_paragraph("A preface before the first chapter.")
    document.add_heading("First Chapter", level=1)
    document.add_paragraph("The first chapter has words.")
    document.add_heading("A Section", level=2)
    document.add_paragraph("Apples", style="List Bullet")
    document.add_paragraph("Pears", style="List Bullet")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Table cell never read"
    document.add_heading("Second Chapter", level=1)
    document.add_paragraph("“Hello,” she said.")
    document.save(str(path))
    return path
