"""Readers turn EPUB 2 and 3, HTML, Markdown, DOCX and PDF files (built here, at test time)
into chapters: titles, order, front matter skipped, and nothing spoken that a listener
should not hear (page numbers, running headers, footnote markers, ruby annotations)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import voxline
from voxline.books import book_pieces
from voxline.errors import InputError
from voxline.pluginmanager import build_registry, get_plugin_manager
from voxline.reading import ReadOptions

import bookfiles

REGISTRY = build_registry(get_plugin_manager(load_env=""))


def read(path: Path, **options) -> voxline.ReadBook:
    return REGISTRY.readers[path.suffix.lower()]().read(path, ReadOptions(**options))


def spoken(book: voxline.ReadBook, **options) -> list[tuple[str, str]]:
    """(title, text) of each chapter that would be read."""
    return [(p.title, p.text) for p in book_pieces(book, "x", ReadOptions(**options))]


@pytest.mark.parametrize("version", [2, 3])
def test_an_epub_reads_in_spine_order_with_titles_from_its_navigation(tmp_path, version):
    book = read(bookfiles.english_epub(tmp_path / "book.epub", version))
    assert book.split
    info = book.info
    assert (info.title, info.authors, info.language, info.publisher, info.year) == \
        ("A Test Book", ("Ann Author",), "en", "Test Press", "1901")
    assert info.description == "A book made by the tests."
    assert info.cover == bookfiles.png() and info.cover_type == "image/png"
    chapters = spoken(book)
    assert [title for title, _ in chapters] == ["Chapter One", "Chapter Two"]
    one = chapters[0][1]
    # the chapter split over two files is one chapter; markers and page numbers are not read
    assert "The keeper lit the lamp. Night fell over the water." in one
    assert "dawn. Gulls" in one and "boats.\n" in one
    for never in ("Footnote text", "endnote", "7", "8", "lighthouse", "1"):
        assert never not in one, never
    # front and back matter are recognised, and read only when asked for
    roles = {s.title: (s.role, s.kind) for s in book.sections}
    assert roles["Copyright"][0] == roles["Contents"][0] == roles["Title Page"][0] == "front"
    assert roles["Index"][0] == "back"
    everything = [title for title, _ in spoken(book, front_matter=True)]
    assert everything[:3] == ["Title Page", "Copyright", "Contents"]
    assert "Index" in everything


def test_images_alternative_text_and_footnotes_are_read_only_when_asked(tmp_path):
    book_path = bookfiles.english_epub(tmp_path / "book.epub")
    plain = spoken(read(book_path))[0][1]
    with_alt = spoken(read(book_path, alt_text=True))[0][1]
    with_notes = spoken(read(book_path, footnotes=True))[0][1]
    assert "lighthouse" not in plain and "A lighthouse at night" in with_alt
    assert "Footnote text never read." in with_notes
    assert "dawn.1" not in with_notes and "dawn. 1" not in with_notes  # the marker still not


def test_a_vertical_traditional_chinese_epub_reads_in_logical_order(tmp_path):
    book = read(bookfiles.vertical_chinese_epub(tmp_path / "zh.epub"))
    assert book.info.language == "zh" and book.info.title == "唐詩選讀"
    assert book.info.authors == ("孟浩然",)
    chapters = spoken(book)
    assert [title for title, _ in chapters] == ["第一章　春眠", "第二章　靜夜"]
    first = chapters[0][1]
    # logical order, traditional characters and full-width punctuation as written; the line
    # break inside a sentence of hanzi is no space; ruby (zhuyin) annotations are not read
    assert "春眠不覺曉，處處聞啼鳥。" in first
    assert "夜來風雨聲，花落知多少？曉色12分。" in first
    assert "ㄒㄧㄠ" not in first
    assert "「床前明月光，疑是地上霜。」" in chapters[1][1]


def test_project_gutenbergs_header_and_title_page_are_not_read(tmp_path):
    header = ("<pre>The Project Gutenberg EBook of A Test Book\nThis eBook is for the use of "
              "anyone anywhere.\n*** START OF THIS PROJECT GUTENBERG EBOOK A TEST BOOK ***"
              "</pre><h1>A TEST BOOK</h1><p>By Ann Author</p>")
    docs = [bookfiles.Doc("p0.xhtml", "Front", header),
            bookfiles.Doc("p1.xhtml", "One", "<h2>Chapter 1</h2><p>It begins.</p>"),
            bookfiles.Doc("p2.xhtml", "End", "<p>The end.</p><p>*** END OF THIS PROJECT "
                          "GUTENBERG EBOOK A TEST BOOK ***</p><p>Licence terms.</p>")]
    book = read(bookfiles.Epub(version=2, docs=docs,
                               toc=[("p1.xhtml", "Chapter 1")]).write(tmp_path / "pg.epub"))
    chapters = spoken(book)
    assert [t for t, _ in chapters] == ["Chapter 1"]
    assert chapters[0][1] == "Chapter 1\n\nIt begins.\n\nThe end.\n"
    assert book.sections[0].kind == "titlepage"


def test_html_in_legacy_chinese_encodings_keeps_only_the_main_text(tmp_path):
    page = """<html lang="zh-CN"><head><meta charset="{charset}"><title>{title}</title>
<script>var x = "{n[0]}";</script><style>p {{ color: red }}</style></head>
<body><nav><a href="/">{n[1]}</a> <a href="/news">{title}</a></nav>
<header class="site-header">{n[2]}</header>
<article><h1>{title}</h1><p>{first}</p><p>{second}</p></article>
<aside class="sidebar">{n[3]}</aside><footer>{n[4]}</footer></body></html>"""
    cases = [("gb2312", "gb18030", "今日新闻", "北京今天晴，气温二十五度。", "市民出行方便。",
              ("脚本不读", "首页", "网站标题", "相关阅读", "版权所有")),
             ("big5", "big5", "今日新聞", "台北今天晴，氣溫二十五度。", "市民出行方便。",
              ("腳本不讀", "首頁", "網站標題", "相關閱讀", "版權所有"))]
    for charset, codec, title, first, second, never_read in cases:
        path = tmp_path / f"{charset}.html"
        path.write_bytes(page.format(charset=charset, title=title, first=first,
                                     second=second, n=never_read).encode(codec))
        book = read(path)
        assert book.info.title == title
        text = "\n".join(text for _, text in spoken(book))
        assert first in text and second in text
        assert text.count(title) == 1  # the heading, not the navigation's link
        for never in (*never_read, "color"):
            assert never not in text, (charset, never)


def test_markdown_headings_are_chapters_and_code_and_tables_are_skipped(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("---\ntitle: Field Notes\nauthor: Mo Marker\n---\n\n# Field Notes\n\n"
                    "## Morning\n\nWe walked **early** to [the pier](http://x).\n\n"
                    "```python\nprint('code is not read')\n```\n\n"
                    "| a | b |\n|---|---|\n| table | cell |\n\n"
                    "## Evening\n\n- first item\n- second item\n", encoding="utf-8")
    book = read(path)
    assert book.info.title == "Field Notes" and book.info.authors == ("Mo Marker",)
    chapters = spoken(book)
    assert [t for t, _ in chapters] == ["Morning", "Evening"]
    assert "We walked early to the pier." in chapters[0][1]
    assert "print" not in chapters[0][1] and "table" not in chapters[0][1]
    assert "first item\n\nsecond item" in chapters[1][1]
    assert any("code blocks skipped" in w for w in book.warnings)
    assert any("tables skipped" in w for w in book.warnings)


def test_docx_heading_styles_are_chapters(tmp_path):
    book = read(bookfiles.docx(tmp_path / "book.docx"))
    assert book.info.title == "The Word Book" and book.info.authors == ("Wendy Writer",)
    assert book.info.language == "en"
    chapters = spoken(book)
    assert [t for t, _ in chapters] == ["The Word Book", "First Chapter", "Second Chapter"]
    assert "Apples" in chapters[1][1] and "A Section" in chapters[1][1]
    assert all("Table cell" not in text for _, text in chapters)
    assert chapters[2][1].endswith("“Hello,” she said.\n")


@pytest.mark.parametrize("outline", [True, False])
def test_pdf_chapters_without_headers_page_numbers_or_broken_words(tmp_path, outline):
    book = read(bookfiles.pdf(tmp_path / "book.pdf", columns=True, outline=outline))
    assert book.info.title == "The PDF Book" and book.info.authors == ("Pat Printer",)
    chapters = spoken(book)
    assert [t for t, _ in chapters] == ["Chapter One", "Chapter Two"]
    one = chapters[0][1]
    assert "It is about an example of a word broken at the end of a line." in one
    assert "RUNNING HEADER" not in one and "\n1\n" not in one and "\n2\n" not in one
    assert "over the page break." in one
    # the left column is read before the right one
    left = one.index("Left column line 6.")
    assert left < one.index("Right column line 1.")
    assert one.index("Left column line 1.") < left
    assert chapters[1][1].strip().endswith("The second chapter is short.")


def epub_with(tmp_path: Path, name: str, **parts: bytes) -> Path:
    """A copy of the test EPUB with some parts replaced or added."""
    source = bookfiles.english_epub(tmp_path / "base.epub")
    path = tmp_path / name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename not in parts:
                dst.writestr(info, src.read(info))
        for part, data in parts.items():
            dst.writestr(part, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_hostile_epubs_are_refused_with_a_clear_error(tmp_path):
    bomb = epub_with(tmp_path, "bomb.epub", **{"OEBPS/ch2.xhtml": b" " * (80 * 2**20)})
    with pytest.raises(InputError, match="zip bomb|larger than"):
        read(bomb)
    laughs = (b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;">]>'
              b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>&b;</p></body></html>')
    with pytest.raises(InputError, match="entities"):
        read(epub_with(tmp_path, "laughs.epub", **{"OEBPS/ch2.xhtml": laughs}))
    not_zip = tmp_path / "fake.epub"
    not_zip.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match="not an EPUB"):
        read(not_zip)


def test_a_path_outside_the_book_is_ignored(tmp_path):
    opf = zipfile.ZipFile(bookfiles.english_epub(tmp_path / "b.epub")).read(
        "OEBPS/content.opf").decode()
    opf = opf.replace('<item id="d6" href="ch2.xhtml"', '<item id="d6" href="../../../etc/passwd"')
    book = read(epub_with(tmp_path, "escape.epub", **{"OEBPS/content.opf": opf.encode()}))
    assert [t for t, _ in spoken(book)] == ["Chapter One"]
    assert any("outside the book" in w for w in book.warnings)


def test_pick_by_numbers_ranges_and_titles(tmp_path):
    from voxline.books import Piece, pick
    from voxline.errors import UsageError

    pieces = [Piece(f"Chapter {n}", "x", "text") for n in range(1, 21)]
    assert [p.title for p in pick(pieces, "3-5,15")] == ["Chapter 3", "Chapter 4",
                                                          "Chapter 5", "Chapter 15"]
    assert [p.title for p in pick(pieces, "Chapter 1")] == ["Chapter 1"]  # exact wins
    assert [p.title for p in pick(pieces, "chapter 20")] == ["Chapter 20"]
    with pytest.raises(UsageError, match="1 to 20"):
        pick(pieces, "19-25")
    with pytest.raises(UsageError, match="no chapter"):
        pick(pieces, "Epilogue")


class StoryReader(voxline.Reader):
    """A reader of a made-up format: `== Title ==` lines start chapters."""

    name = "story"
    suffixes = (".story",)

    def read(self, path, options):
        sections, title, lines = [], None, []
        for line in path.read_text(encoding="utf-8").splitlines() + ["== end =="]:
            if line.startswith("== "):
                if title:
                    sections.append(voxline.Section(title, tuple(
                        voxline.Block("paragraph", text) for text in lines)))
                title, lines = line.strip("= "), []
            elif line.strip():
                lines.append(line.strip())
        return voxline.ReadBook(voxline.BookInfo(title="Stories", authors=("S. Teller",)),
                                tuple(sections), split=True)


def test_register_readers_adds_a_file_type(tmp_path, pm_with_tone):
    class Plugin:
        @voxline.hookimpl
        def register_readers(self, register):
            register(StoryReader)

    pm_with_tone.register(Plugin(), name="undo-story")
    registry = build_registry(pm_with_tone)
    assert registry.readers[".story"] is StoryReader
    assert registry.provided_by["reader:.story"] == "undo-story"
    path = tmp_path / "tales.story"
    path.write_text("== The Fox ==\nA fox ran.\n== The Crow ==\nA crow sang.\n",
                    encoding="utf-8")
    from voxline.chapters import plan_book

    book = plan_book([(path, None)], tmp_path / "tales.m4b", registry)
    assert [c.title for c in book.chapters] == ["The Fox", "The Crow"]
    assert book.tags.authors == ("S. Teller",) and book.title == "Stories"
    assert book.chapters[1].text.read_text(encoding="utf-8") == "The Crow\n\nA crow sang.\n"


def test_a_reader_that_is_not_a_reader_class_is_a_skipped_plugin(pm_with_tone):
    class Broken:
        @voxline.hookimpl
        def register_readers(self, register):
            register(object)

    pm_with_tone.register(Broken(), name="undo-broken-reader")
    build_registry(pm_with_tone)
    assert any("not a voxline.Reader" in p for p in pm_with_tone.problems)
