"""The HTML reader: a saved web article or one chapter of a book, as its main text.

The page is parsed with lxml's HTML parser (libxml2: no scripts run, no network, no
entities beyond HTML's own). Only the main text is read: the page's `<article>` or `<main>`,
else the element that holds most of its paragraphs; navigation, headers, footers, sidebars,
forms, scripts and styles are dropped. Chapters are the page's headings.

Encoding: a byte-order mark, else the charset the page declares (`<meta charset>`), else
UTF-8, else GB18030 or Big5 when the bytes read as Chinese. GB2312 and GBK are read as
GB18030 (which contains them), Big5 as Big5-HKSCS (which contains it).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import voxline

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_WIDER = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
          "big5": "big5hkscs", "x-x-big5": "big5hkscs", "cp950": "big5hkscs",
          "iso-8859-1": "cp1252", "latin1": "cp1252", "ascii": "utf-8", "us-ascii": "utf-8"}


def _looks_chinese(text: str) -> bool:
    hanzi = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    odd = sum(1 for ch in text if "\ue000" <= ch <= "\uf8ff" or ch == "\ufffd")
    return hanzi > 0 and odd == 0


def decode_html(data: bytes, label: str) -> str:
    """The page's text, in the encoding it is in (see the module's docstring)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    declared = _CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii").lower()
        name = _WIDER.get(name, name)
        try:
            codecs.lookup(name)
        except LookupError:
            name = None
        if name:
            try:
                return data.decode(name)
            except UnicodeDecodeError:
                if name == "big5hkscs":
                    try:
                        return data.decode("cp950")
                    except UnicodeDecodeError:
                        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        position = exc.start
    for encoding in ("gb18030", "big5hkscs"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_chinese(text):
            return text
    raise voxline.InputError(f"{label}: not valid UTF-8 at byte {position}, and it declares "
                             "no charset it is valid in; re-save it as UTF-8")


def parse_html(data: bytes, label: str):
    """An lxml tree of an HTML page (its own encoding decoded first)."""
    from lxml import etree, html

    text = decode_html(data, label)
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # lxml refuses a str with a declaration
    parser = html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True,
                             huge_tree=False)
    try:
        root = html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise voxline.InputError(f"{label}: not HTML: {exc}") from None
    return root


class HtmlReader(voxline.Reader):
    name = "html"
    suffixes = (".html", ".htm", ".xhtml")
    version = "1"

    def read(self, path: Path, options: voxline.ReadOptions) -> voxline.ReadBook:
        label = str(path)
        root = parse_html(voxline.read_limited(path, voxline.MAX_PART_BYTES), label)
        blocks, _ = voxline.html_blocks(root, options, main_text=True, label=label)
        if not blocks:
            raise voxline.InputError(f"{label}: no text to read in the page")

        def meta(*names: str) -> str:
            for element in root.iter("meta"):
                key = (element.get("name") or element.get("property") or "").lower()
                if key in names and element.get("content"):
                    return element.get("content").strip()
            return ""

        title_el = next(root.iter("title"), None)
        title = (meta("og:title") or (voxline.tidy(title_el.text_content())
                                      if title_el is not None else "")
                 or next((b.text for b in blocks if b.kind == "heading"), "") or path.stem)
        author = meta("author", "article:author", "dc.creator")
        language = voxline.element_language(root)
        info = voxline.BookInfo(title=title, authors=(author,) if author else (),
                                language=language, description=meta("description",
                                                                    "og:description"),
                                date=meta("article:published_time", "date", "dc.date"))
        return voxline.ReadBook(info, voxline.sections_from_blocks(blocks, title, language))


@voxline.hookimpl
def register_readers(register):
    register(HtmlReader)
