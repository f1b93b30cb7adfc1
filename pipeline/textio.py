"""Finding input files and reading them as text, whatever encoding they came in.

Accepted: UTF-8 (with or without BOM), UTF-16 and UTF-32 with BOM, and GB18030 (which includes
GBK and GB2312) for Chinese files. A file that is none of these, or that is binary, is an
`InputError` that names the file and says why.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from pathlib import Path

from .ssml import MAX_SSML_BYTES

from .errors import InputError, UsageError
from .models import Document

INPUT_SUFFIXES = (".txt", ".ssml")
# the first block is small: the first chunk (and a stream's first audio) waits only for it
FIRST_BLOCK_CHARS = 4_000
BLOCK_CHARS = 256_000          # plain text is prepared a block of about this many characters at a time
_READ_BYTES = 1 << 20

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SSML_START = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?<speak[\s>]")


def find_inputs(paths: list[str], recursive: bool = False) -> list[tuple[Path | str, Path | None]]:
    """Expand the command line's paths into (input, folder it was found in) pairs: files as
    given (no folder), folders scanned for *.txt and *.ssml (recursively with `recursive`),
    `-` for standard input. Order is stable (sorted within a folder)."""
    found: list[tuple[Path | str, Path | None]] = []
    for raw in paths:
        if raw == "-":
            found.append(("-", None))
            continue
        path = Path(raw)
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UsageError(f"{raw}: a symbolic link loop (the link leads back to "
                                 "itself); point it at a file or folder") from None
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(
                p for p in path.glob(pattern)
                if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
            )
            found.extend((f, path) for f in files)
        elif path.is_file():
            found.append((path, None))
        elif path.exists():
            raise UsageError(f"{raw}: not a regular file or folder")
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return found


@dataclass(frozen=True)
class GivenText:
    """Text handed over in memory (a server request's) rather than read from a file."""

    text: str
    name: str = "request"

    def __str__(self) -> str:
        return f"<{self.name}>"


def is_file_source(source: "Path | str | GivenText") -> bool:
    """Whether an input is a file to read (not standard input, not text given in memory)."""
    return not isinstance(source, GivenText) and source != "-"


def source_label(source: "Path | str | GivenText") -> str:
    """How an input is named in messages, plans and the terminal UI: its path, or <stdin>."""
    return "<stdin>" if source == "-" else str(source)


class TextInput:
    """One input opened for reading: its name, whether it is SSML, and its text as a stream of
    blocks.

    Plain text of any size is read and decoded incrementally (1 MiB at a time) and handed out
    in blocks of about `BLOCK_CHARS` characters that end at a paragraph break where there is
    one (else a line break, a sentence end, a space), so memory stays bounded however large
    the file. SSML is parsed as a whole tree and so is limited to `MAX_SSML_BYTES`.
    """

    def __init__(self, raw: BinaryIO, label: str, name: str, *, size: int | None = None,
                 ssml_suffix: bool = False):
        self._raw, self.label, self.name, self.size = raw, label, name, size
        self.removed_controls = 0
        self.encoding = "utf-8"
        self._head = self._read(_READ_BYTES)
        self._offset = 0      # bytes decoded so far
        self._line = 1        # line number at `_offset`
        self._decoder = self._choose_decoder(self._head)
        first = self._decode(self._head, final=len(self._head) < _READ_BYTES)
        self._pending = first
        self.is_ssml = ssml_suffix or bool(_SSML_START.match(first.lstrip("\ufeff")))
        if self.is_ssml and self.size is not None and self.size > MAX_SSML_BYTES:
            self.close()
            raise InputError(
                f"{self.label}: SSML larger than {MAX_SSML_BYTES // 2**20} MiB; split it, or "
                "give long text as plain .txt (read in blocks, any size)")

    @classmethod
    def open(cls, source: Path | str, *, stdin_name: str = "stdin") -> "TextInput":
        """Open a path, "-" for standard input, or text given in memory."""
        if isinstance(source, GivenText):
            data = source.text.encode("utf-8")
            return cls(io.BytesIO(data), str(source), source.name, size=len(data))
        if source == "-":
            return cls(sys.stdin.buffer, source_label(source), stdin_name)
        path = Path(source)
        label = str(path)
        try:
            raw = open(path, "rb")
        except FileNotFoundError:
            raise InputError(f"{label}: file vanished before it could be read") from None
        except IsADirectoryError:
            raise InputError(f"{label}: is a folder") from None
        except PermissionError:
            raise InputError(f"{label}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{label}: cannot be read: {exc.strerror}") from None
        try:
            return cls(raw, label, path.stem, size=os.fstat(raw.fileno()).st_size,
                       ssml_suffix=path.suffix.lower() == ".ssml")
        except BaseException:
            raw.close()
            raise

    def _read(self, n: int) -> bytes:
        try:
            return self._raw.read(n)
        except OSError as exc:
            raise InputError(f"{self.label}: reading failed: {exc.strerror or exc}") from None

    def _choose_decoder(self, head: bytes):
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                self.encoding = encoding
                return codecs.getincrementaldecoder(encoding)("strict")
        bomless = _utf16_without_bom(head)
        if bomless:
            self.encoding = bomless
            return codecs.getincrementaldecoder(bomless)("strict")
        if b"\x00" in head[:8192]:
            raise InputError(f"{self.label}: binary file (contains NUL bytes), not text")
        probe = codecs.getincrementaldecoder("utf-8")("strict")
        try:
            probe.decode(head, final=len(head) < _READ_BYTES)
        except UnicodeDecodeError as exc:
            try:
                text = codecs.getincrementaldecoder("gb18030")("strict").decode(head)
            except UnicodeDecodeError:
                text = None
            if text is None or not _looks_chinese(text):
                raise self._not_utf8(head, exc.start) from None
            self.encoding = "gb18030"
        return codecs.getincrementaldecoder(self.encoding)("strict")

    def _not_utf8(self, data: bytes, start: int) -> InputError:
        position = self._offset + start
        line = self._line + data.count(b"\n", 0, start)
        if self.encoding == "utf-8":
            return InputError(
                f"{self.label}: not valid UTF-8 at byte {position} (line {line})"
                + (" and not GB18030/GBK Chinese either" if position < _READ_BYTES else "")
                + "; re-save it as UTF-8")
        return InputError(f"{self.label}: not valid {self.encoding.upper()} at byte {position} "
                          f"(line {line})")

    def _decode(self, data: bytes, final: bool) -> str:
        try:
            text = self._decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            if self.encoding in ("utf-16-le", "utf-16-be"):
                raise InputError(
                    f"{self.label}: read as {self.encoding.upper()} (no byte-order mark) but is "
                    f"not valid {self.encoding.upper()} at byte {self._offset + exc.start}; "
                    "re-save it as UTF-8") from None
            if self.encoding.startswith(("utf-16", "utf-32")) or self.encoding == "utf-8-sig":
                raise InputError(
                    f"{self.label}: has a {self.encoding.upper()} byte-order mark but is not "
                    f"valid {self.encoding.upper()} at byte {self._offset + exc.start}") from None
            raise self._not_utf8(data, max(exc.start, 0)) from None
        self._offset += len(data)
        self._line += data.count(b"\n")
        return text

    def _chunks(self) -> Iterator[str]:
        """The decoded text, a piece at a time."""
        if self._pending:
            yield self._pending
        self._pending = ""
        if len(self._head) < _READ_BYTES:
            return
        while True:
            data = self._read(_READ_BYTES)
            text = self._decode(data, final=not data)
            if text:
                yield text
            if not data:
                return

    def text(self) -> str:
        """All of the text at once (for SSML, and small inputs)."""
        return "".join(self.blocks(None))

    def blocks(self, block_chars: int | None = BLOCK_CHARS,
               first_block_chars: int | None = None) -> Iterator[str]:
        """The text in blocks of about `block_chars` (all of it at once with None), each
        checked for binary content and NFC-normalized, control characters removed. A
        smaller `first_block_chars` makes the first block that size, so the first chunks
        are ready without preparing a whole large block first."""
        limit = block_chars
        if limit is not None and first_block_chars:
            limit = min(limit, first_block_chars)
        buffer = ""
        try:
            for piece in self._chunks():
                buffer += piece
                while limit is not None and len(buffer) >= 2 * limit:
                    cut = _cut(buffer, limit)
                    yield self._checked(buffer[:cut])
                    buffer = buffer[cut:]
                    limit = block_chars
            if buffer:
                yield self._checked(buffer)
        finally:
            self.close()

    def _checked(self, text: str) -> str:
        controls = len(_CONTROL.findall(text))
        if controls and controls > max(2, len(text) // 100):
            raise InputError(f"{self.label}: binary file ({controls} control characters), "
                             "not text")
        self.removed_controls += controls
        return unicodedata.normalize("NFC", _CONTROL.sub("", text) if controls else text)

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def __enter__(self) -> "TextInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cut(text: str, limit: int) -> int:
    """Where to end a block of `text` near `limit` characters: after a paragraph break, else
    a line break, a sentence end, a space, else at `limit` itself."""
    window = text[:2 * limit]
    for pattern in ("\n\n", "\n", "。", ". ", " "):
        at = window.rfind(pattern, limit // 2)
        if at != -1:
            end = at + len(pattern)
            while pattern.startswith("\n") and end < len(text) and text[end] in "\r\n":
                end += 1
            return end
    return limit


def _utf16_without_bom(head: bytes) -> str | None:
    """`utf-16-le` or `utf-16-be` for UTF-16 text saved without a byte-order mark (Windows
    tools do this): mostly Latin text has a zero in every other byte, all on one side; the
    text must then decode and be printable. None otherwise."""
    sample = head[:8192]
    sample = sample[:len(sample) - len(sample) % 2]
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    zeros_even, zeros_odd = sample[0::2].count(0), sample[1::2].count(0)
    if zeros_odd >= 0.3 * pairs and zeros_even <= 0.02 * pairs:
        encoding = "utf-16-le"
    elif zeros_even >= 0.3 * pairs and zeros_odd <= 0.02 * pairs:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = codecs.getincrementaldecoder(encoding)("strict").decode(sample)
    except UnicodeDecodeError:
        return None
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return encoding if printable >= 0.95 * len(text) else None


def _looks_chinese(text: str) -> bool:
    """GB18030 decodes many byte strings; real Chinese text is mostly common hanzi, CJK
    punctuation and ASCII."""
    if not text:
        return False
    plausible = sum(
        1 for ch in text
        if "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"
        or (ch.isascii() and (ch.isprintable() or ch in "\r\n\t"))
    )
    hanzi = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return hanzi > 0 and plausible / len(text) >= 0.95


def read_document(source: Path | str, *, stdin_name: str = "stdin") -> Document:
    """Read one whole input (a path, or "-" for standard input) into a Document."""
    reader = TextInput.open(source, stdin_name=stdin_name)
    text = reader.text()
    if not text.strip():
        raise InputError(f"{reader.label}: empty, nothing to speak")
    return Document(source=reader.label, name=reader.name, text=text, is_ssml=reader.is_ssml)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read 1 MiB at a time."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_READ_BYTES):
            digest.update(block)
    return digest.hexdigest()
