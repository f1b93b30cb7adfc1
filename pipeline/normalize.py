"""The normalize stage: written form to spoken form, per language.

Normalizers are plugins (`register_normalizers`); the built-in ones live in
`voxline.plugins.normalize_en` and `voxline.plugins.normalize_zh`. A language with no
normalizer passes through unchanged, with one warning per job.
"""

from __future__ import annotations

import re
from typing import ClassVar

_ROMAN = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


class Normalizer:
    """Turns written text into what should be spoken, for the languages it lists.

    Subclasses set `name`, `version` (part of the chunk cache key: bump it when output
    changes) and `languages`, and implement `normalize`. Instances are created once per job and
    used from one thread.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    languages: ClassVar[tuple[str, ...]]

    def normalize(self, text: str, language: str) -> str:
        raise NotImplementedError


# each digit's name, by the language it is read in (one table for the core and the plugins)
_DIGIT_NAMES = {
    "zh": tuple("零一二三四五六七八九"),
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}
_DIGIT_NAMES["yue"] = _DIGIT_NAMES["zh"]


def digit_name(digit: int | str, language: str) -> str:
    """How one digit (0-9) is read alone in `language` (`zh`/`yue`: 零…九; otherwise the
    English word): digit by digit, as in a phone number or a leftover a normalizer left."""
    return _DIGIT_NAMES.get(language, _DIGIT_NAMES["en"])[int(digit)]


def roman_numeral_value(text: str) -> int | None:
    """The value of a Roman numeral written in capitals ("XIV" → 14), or None."""
    if not text or not _ROMAN.fullmatch(text):
        return None
    values = [_ROMAN_VALUES[c] for c in text]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v
               for i, v in enumerate(values))


class NormalizerSet:
    """The normalizers of one job, instantiated on first use per language."""

    def __init__(self, classes: dict[str, type[Normalizer]]):
        self._classes = classes
        self._instances: dict[type[Normalizer], Normalizer] = {}

    def for_language(self, language: str) -> Normalizer | None:
        cls = self._classes.get(language) or self._classes.get(language.split("-")[0])
        if cls is None:
            return None
        if cls not in self._instances:
            self._instances[cls] = cls()
        return self._instances[cls]

    def normalize(self, text: str, language: str) -> str:
        normalizer = self.for_language(language)
        return text if normalizer is None else normalizer.normalize(text, language)
