"""The plain-text and SSML reader. The pipeline reads these files itself, a block at a time,
so a text of any size is spoken in bounded memory (`streams`); `read` serves listings
(`voxline chapters`): one chapter per Markdown heading (`# Title`), as `--chapters` makes
them of a single text file."""

from __future__ import annotations

import re
from pathlib import Path

import voxline


class TextReader(voxline.Reader):
    name = "text"
    suffixes = (".txt", ".ssml")
    version = "1"
    streams = True

    def read(self, path: Path, options: voxline.ReadOptions) -> voxline.ReadBook:
        document = voxline.read_document(path)
        title = path.stem
        if document.is_ssml:  # for counting words: the markup is not spoken
            parts = [(None, re.sub(r"<[^>]+>", " ", document.text))]
        else:
            parts = voxline.split_headings(document.text)
        sections = tuple(
            voxline.Section(heading or title, (voxline.Block("paragraph", text.strip()),))
            for heading, text in parts if text.strip())
        return voxline.ReadBook(voxline.BookInfo(title=title), sections)


@voxline.hookimpl
def register_readers(register):
    register(TextReader)
