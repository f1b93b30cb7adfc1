"""The Markdown reader (`.md`, `.markdown`): headings as chapters; code blocks and tables
skipped with a warning (they are not read aloud well); links read as their text, images as
their alternative text when asked for. Parsed with markdown-it-py (CommonMark, MIT licence),
which voxline already has through Textual. A YAML front-matter block (`---` … `---`) gives
the title and author and is not read.
"""

from __future__ import annotations

import re
from pathlib import Path

import voxline

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*\n", re.S)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields = {}
    for line in match.group(1).splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() and not key.startswith((" ", "\t", "-")):
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, text[match.end():]


class MarkdownReader(voxline.Reader):
    name = "markdown"
    suffixes = (".md", ".markdown")
    version = "1"

    def read(self, path: Path, options: voxline.ReadOptions) -> voxline.ReadBook:
        from markdown_it import MarkdownIt

        label = str(path)
        data = voxline.read_limited(path, voxline.MAX_PART_BYTES)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise voxline.InputError(f"{label}: not valid UTF-8 at byte {exc.start}; "
                                     "re-save it as UTF-8") from None
        fields, text = _front_matter(text)
        tokens = MarkdownIt("commonmark").enable("table").parse(text)
        builder = voxline.BlockBuilder()
        skipped = {"code": 0, "table": 0}
        kind, level, depth_quote = "paragraph", 0, 0
        in_table = False
        for token in tokens:
            if token.type == "table_open":
                in_table = True
                skipped["table"] += 1
            elif token.type == "table_close":
                in_table = False
            elif in_table:
                continue
            elif token.type in ("fence", "code_block"):
                skipped["code"] += 1
            elif token.type == "heading_open":
                kind, level = "heading", int(token.tag[1:])
            elif token.type == "blockquote_open":
                depth_quote += 1
            elif token.type == "blockquote_close":
                depth_quote -= 1
            elif token.type == "list_item_open":
                kind = "list_item"
            elif token.type == "inline":
                builder.start(kind if kind != "paragraph" or not depth_quote else "quote",
                              level)
                for child in token.children or []:
                    if child.type in ("text", "code_inline"):
                        builder.text(child.content)
                    elif child.type == "softbreak":
                        builder.text(" ")
                    elif child.type == "hardbreak":
                        builder.text(voxline.LINE_BREAK)
                    elif child.type == "image" and options.alt_text:
                        builder.text(child.content)
                builder.flush()
                if kind == "heading":
                    kind, level = "paragraph", 0
            elif token.type == "list_item_close":
                kind = "paragraph"
            elif token.type == "html_block":
                builder.start("quote" if depth_quote else "paragraph")
                builder.text(re.sub(r"<[^>]+>", " ", token.content))
                builder.flush()
        warnings = []
        if skipped["code"]:
            warnings.append(f"{label}: {skipped['code']} code blocks skipped (not read aloud)")
        if skipped["table"]:
            warnings.append(f"{label}: {skipped['table']} tables skipped (not read aloud)")
        blocks = builder.blocks
        title = (fields.get("title") or next((b.text for b in blocks if b.kind == "heading"
                                              and b.level == 1), "") or path.stem)
        author = fields.get("author", "")
        language = voxline.language_of(fields.get("lang") or fields.get("language"))
        info = voxline.BookInfo(title=title, authors=(author,) if author else (),
                                language=language, date=fields.get("date", ""),
                                description=fields.get("description", ""))
        return voxline.ReadBook(info, voxline.sections_from_blocks(blocks, title, language),
                                tuple(warnings))


@voxline.hookimpl
def register_readers(register):
    register(MarkdownReader)
