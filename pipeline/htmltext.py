"""HTML and XHTML as blocks of text to speak, for the EPUB and HTML readers.

What is never spoken: scripts, styles, forms, ruby annotations (`<rt>`, `<rp>`: the reading
aid above a character, not the text), footnote and endnote markers, page-break markers and
page-list anchors; footnote bodies and images' alternative text only when asked for.
With `main_text`, navigation, headers, footers, sidebars and the like are dropped too and
only the page's main text (its `<article>`, `<main>`, or the element holding most of its
paragraphs) is read.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from .errors import InputError
from .reading import LINE_BREAK, Block, BlockBuilder, ReadOptions, language_of

OPS = "{http://www.idpf.org/2007/ops}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_SKIP = {"script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe",
         "object", "embed", "button", "select", "input", "textarea", "rt", "rp", "audio",
         "video", "canvas", "map", "meta", "link", "base"}
_BOILERPLATE_TAGS = {"nav", "header", "footer", "aside", "form", "menu", "dialog"}
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search",
                      "menu", "menubar", "dialog", "alert"}
_BOILERPLATE_WORDS = re.compile(
    r"(^|[\s_-])(nav|navbar|menu|footer|header|masthead|sidebar|breadcrumbs?|comments?|share|"
    r"sharing|social|related|advert|ads?|cookie|banner|promo|subscribe|newsletter|popup|"
    r"skip-link|toolbar|pagination)($|[\s_-])", re.I)
_BLOCKS = {"p", "div", "section", "article", "main", "body", "blockquote", "li", "dt", "dd",
           "h1", "h2", "h3", "h4", "h5", "h6", "pre", "figure", "figcaption", "table", "tr",
           "td", "th", "caption", "ul", "ol", "dl", "hr", "address", "center", "header",
           "footer", "aside", "nav", "hgroup", "details", "summary", "html", "tbody", "thead",
           "tfoot", "fieldset", "legend", "form"}
_NOTE_TYPES = {"footnote", "endnote", "rearnote", "note", "footnotes", "endnotes",
               "rearnotes", "doc-footnote", "doc-endnote", "doc-endnotes", "doc-footnotes"}
_NOTEREF_TYPES = {"noteref", "doc-noteref", "biblioref", "doc-biblioref"}
_PAGEBREAK_TYPES = {"pagebreak", "doc-pagebreak"}
_MARKER = re.compile(r"^\s*[\[(]?\s*(\d{1,4}|[*†‡§¶]{1,3}|[a-z]|[ivxlc]{1,6})\s*[\])]?\s*$",
                     re.I)
_PAGE_NUMBER = re.compile(r"^\s*(\d{1,5}|[ivxlcdm]{1,8})\s*$", re.I)
_NOTE_ID = re.compile(r"(fn|note|foot|endnote|ftn|rearnote)", re.I)
_LINE = LINE_BREAK


def local(tag) -> str:
    """An element's tag without its namespace ('' for comments and the like)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def types(element) -> set[str]:
    """The element's epub:type and role tokens."""
    found = set()
    for key in (f"{OPS}type", "epub:type", "role"):
        value = element.get(key)
        if value:
            found.update(value.lower().split())
    return found


def element_language(element) -> str | None:
    return language_of(element.get(XML_LANG) or element.get("lang"))


def _is_boilerplate(element, name: str) -> bool:
    if name in _BOILERPLATE_TAGS or types(element) & _BOILERPLATE_ROLES:
        return True
    marks = f"{element.get('class', '')} {element.get('id', '')}"
    return bool(marks.strip()) and bool(_BOILERPLATE_WORDS.search(marks))


def _is_noteref(element, name: str) -> bool:
    kinds = types(element)
    if kinds & _NOTEREF_TYPES:
        return True
    if name not in ("a", "sup", "span"):
        return False
    text = "".join(element.itertext())
    if not _MARKER.match(text):
        return False
    classes = element.get("class", "").lower()
    if re.search(r"(footnote|noteref|fnref|note-ref|endnote)", classes):
        return True
    href = element.get("href") or ""
    links = [element] if name == "a" else [a for a in element.iter() if local(a.tag) == "a"]
    for link in links:
        href = link.get("href") or ""
        target = href.partition("#")[2]
        if target and (_NOTE_ID.search(target) or name == "sup"
                       or local(link.getparent().tag if link.getparent() is not None
                                else "") == "sup"):
            return True
    return False


def main_container(root):
    """The element that holds a web page's main text."""
    candidates = [el for el in root.iter() if local(el.tag) == "article"]
    candidates = candidates or [el for el in root.iter()
                                if local(el.tag) == "main" or "main" in types(el)]
    if candidates:
        return max(candidates, key=lambda el: len("".join(el.itertext())))
    scores: dict = {}
    for p in root.iter():
        if local(p.tag) != "p":
            continue
        parent = p.getparent()
        if parent is not None:
            scores[parent] = scores.get(parent, 0) + len("".join(p.itertext()))
    if scores:
        return max(scores, key=scores.get)
    body = next((el for el in root.iter() if local(el.tag) == "body"), None)
    return body if body is not None else root


def html_blocks(root, options: ReadOptions, *, main_text: bool = False,
                page_ids: Collection[str] = (), marks: Collection[str] = (),
                label: str = "") -> tuple[list[Block], dict[str, int]]:
    """The blocks of an (X)HTML tree in reading order, and for each id in `marks` found in
    it, the number of blocks before it (where a chapter that starts there begins).
    `page_ids`: ids of page-list targets, whose page-number text is not spoken."""
    builder = BlockBuilder()
    found: dict[str, int] = {}
    wanted, pages = set(marks), set(page_ids)
    start = main_container(root) if main_text else root
    if main_text:
        title = next((el for el in root.iter() if local(el.tag) == "h1"), None)
        if title is not None and title is not start and not _inside(title, start):
            walk_into = [title, start]
        else:
            walk_into = [start]
    else:
        walk_into = [start]

    def walk(element, language: str | None, quote: bool) -> None:
        name = local(element.tag)
        if not name:  # a comment or processing instruction: its tail is read by the parent
            return
        kinds = types(element)
        ident = element.get("id")
        is_block = name in _BLOCKS
        if ident in wanted:
            if is_block:
                builder.flush()
            found.setdefault(ident, len(builder.blocks))
        skip = (name in _SKIP or kinds & _PAGEBREAK_TYPES
                or (main_text and element is not start and _is_boilerplate(element, name))
                or (kinds & _NOTE_TYPES and not options.footnotes)
                or _is_noteref(element, name)
                or (ident in pages and len(element) == 0
                    and _PAGE_NUMBER.match(element.text or "x") is not None)
                or (ident in pages and len(element) == 0 and not (element.text or "").strip()))
        if skip:
            return
        language = element_language(element) or language
        if name == "img":
            alt = (element.get("alt") or "").strip()
            if options.alt_text and alt:
                builder.start("paragraph", language=language)
                builder.text(alt)
                builder.flush()
            return
        if name == "br":
            builder.text(_LINE)
            return
        if is_block:
            if name.startswith("h") and name[1:].isdigit():
                builder.start("heading", int(name[1:]), language)
            elif name == "li":
                builder.start("list_item", language=language)
            elif name == "pre":
                builder.start("verse", language=language)
            else:
                builder.start("quote" if quote else "paragraph", language=language)
        quote = quote or name == "blockquote"
        builder.text(element.text)
        for child in element:
            walk(child, language, quote)
            if child.tail:
                builder.text(child.tail)
        if is_block:
            builder.flush()

    try:
        for element in walk_into:
            walk(element, element_language(root), False)
    except RecursionError:
        raise InputError(f"{label}: nested too deeply to read") from None
    builder.flush()
    return builder.blocks, found


def _inside(element, container) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent is container:
            return True
        parent = parent.getparent()
    return False
