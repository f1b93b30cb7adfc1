"""Text from outside (file names, server answers) made safe to print on a terminal.

A file name can hold escape sequences that retitle the terminal, recolour it or hide text
(`\\x1b]0;…\\x07`, `\\x1b[8m`), and bidirectional overrides can make a name read backwards.
`printable` shows such characters as escapes (`\\x1b`, `\\u202e`) instead of sending them.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """`text` with every control character shown as an escape, so printing it cannot
    drive the terminal; tabs and line breaks are kept."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
