"""Finding input files and reading them as text, whatever encoding they came in.

Accepted: UTF-8 (with or without BOM), UTF-16 and UTF-32 with BOM, and GB18030 (which includes
GBK and GB2312) for Chinese files. A file that is none of these, or that is binary, is an
`InputError` that names the file and says why.
"""

from __future__ import annotations

import codecs
import re
import sys
import unicodedata
from pathlib import Path

from .errors import InputError, UsageError
from .models import Document

INPUT_SUFFIXES = (".txt", ".ssml")
MAX_INPUT_BYTES = 64 * 1024 * 1024

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


def decode(data: bytes, name: str) -> str:
    """Bytes of a text file as str; raises InputError naming `name` when they are not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), name, encoding)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{name}: has a {encoding.upper()} byte-order mark but is not valid "
                    f"{encoding.upper()} at byte {exc.start}"
                ) from None
    if b"\x00" in data:
        raise InputError(f"{name}: binary file (contains NUL bytes), not text")
    try:
        return _checked(data.decode("utf-8"), name, "utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            text = None
        if text is not None and _looks_chinese(text):
            return _checked(text, name, "gb18030")
        line = data.count(b"\n", 0, utf8_error.start) + 1
        raise InputError(
            f"{name}: not valid UTF-8 (byte {utf8_error.start}, line {line}) and not "
            "GB18030/GBK Chinese either; re-save it as UTF-8"
        ) from None


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


def _checked(text: str, name: str, encoding: str) -> str:
    controls = len(_CONTROL.findall(text))
    if controls and controls > max(2, len(text) // 100):
        raise InputError(f"{name}: binary file ({controls} control characters), not text")
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def read_document(source: Path | str, *, stdin_name: str = "stdin") -> Document:
    """Read one input (a path, or "-" for standard input) into a Document."""
    if source == "-":
        data = sys.stdin.buffer.read()
        name, label = stdin_name, "<stdin>"
    else:
        path = Path(source)
        label = str(path)
        name = path.stem
        try:
            if path.stat().st_size > MAX_INPUT_BYTES:
                raise InputError(
                    f"{label}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; split it"
                )
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{label}: file vanished before it could be read") from None
        except IsADirectoryError:
            raise InputError(f"{label}: is a folder") from None
        except PermissionError:
            raise InputError(f"{label}: permission denied") from None
    text = decode(data, label)
    is_ssml = (isinstance(source, Path) and source.suffix.lower() == ".ssml") or bool(
        _SSML_START.match(text)
    )
    if not text.strip():
        raise InputError(f"{label}: empty, nothing to speak")
    return Document(source=label, name=name, text=text, is_ssml=is_ssml)
