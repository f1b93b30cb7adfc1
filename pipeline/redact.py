"""Credentials kept out of everything voxline stores, prints or logs.

`redact` is the one function for it: the job manifest's command line and settings, `voxline
jobs show`, summaries and `--json`, `voxline backends` and `doctor`, error messages (every
`VoxlineError`) and `-v` logs all go through it. It removes the password or token of a URL
(`redis://:PASSWORD@host`, `https://TOKEN@host`), bearer tokens, the values of options and
query parameters named like secrets (`api_key=…`, `--token …`, `password = …`) and tokens in
well-known shapes (OpenAI `sk-…`, Hugging Face `hf_…`, GitHub `ghp_…`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "pass", "secret", "token", "auth",
                           "authorization", "key", "apikey", "credential", "credentials",
                           "cookie", "bearer", "passphrase"})
# a name ending so names where the secret is, not the secret (`api_key_env = "OPENAI_API_KEY"`)
_PLACES = frozenset({"env", "file", "path", "dir", "var", "variable"})

_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s:]*):([^/@\s]+)@", re.I)
_URL_TOKEN = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s:]+)@", re.I)
_SCHEME_TOKEN = re.compile(r"\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}", re.I)
_ASSIGNMENT = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)(\s*=\s*|:(?=\S))([\"']?)([^\s&;,\"']+)")
_KNOWN_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
                           r"|xox[abpr]-[A-Za-z0-9-]{10,})")


def is_secret_name(name: str) -> bool:
    """Whether an option, parameter or field called `name` holds a credential (`api_key`,
    `hf_token`, `password`, `accessKey`, `--auth`), not the place of one (`api_key_env`)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    parts = [p for p in re.split(r"[^a-z0-9]+", spaced.lower()) if p]
    if not parts or parts[-1] in _PLACES:
        return False
    return any(p in _SECRET_WORDS or p.endswith(("password", "token", "secret", "apikey"))
               for p in parts)


def _text(text: str) -> str:
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    text = _URL_TOKEN.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _ASSIGNMENT.sub(
        lambda m: (f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}" if is_secret_name(m.group(1))
                   and m.group(4) != MASK else m.group(0)), text)
    return _KNOWN_SHAPES.sub(MASK, text)


def _sequence(items) -> list:
    """A list, read as a command line too: the value after `--token`, `--api-key` goes."""
    out = []
    hide_next = False
    for item in items:
        if hide_next and isinstance(item, str):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = (isinstance(item, str) and item.startswith("-") and "=" not in item
                     and is_secret_name(item.lstrip("-")))
        out.append(redact(item))
    return out


def redact(value: Any) -> Any:
    """`value` (text, a mapping, a list such as `sys.argv`, nested) with every credential
    in it replaced by `***`; other values as they are."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping):
        return {key: (MASK if is_secret_name(str(key)) and item not in (None, "", MASK)
                      and not isinstance(item, (Mapping, bool)) else redact(item))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        out = _sequence(value)
        return out if isinstance(value, list) else tuple(out)
    return value
