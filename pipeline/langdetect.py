"""Which language a sentence is in, from its script.

Sentence by sentence: any Han character makes a sentence Chinese (so an English word inside a
Chinese sentence stays with the Chinese voice); Cantonese is told from Mandarin by the
characters only written Cantonese uses; kana is Japanese, hangul Korean; Latin letters alone
are English unless the document says otherwise. A sentence with no letters (a bare number)
takes the language of the sentence before it.
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# scripts of one language each (or one voice per script in eSpeak NG): text in them goes to a
# backend that lists that language, never to the English voice
_SCRIPTS = (
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")),
    ("he", re.compile(r"[\u0590-\u05ff\ufb1d-\ufb4f]")),
    ("el", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("bn", re.compile(r"[\u0980-\u09ff]")),
    ("ta", re.compile(r"[\u0b80-\u0bff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ka", re.compile(r"[\u10a0-\u10ff]")),
    ("hy", re.compile(r"[\u0530-\u058f]")),
    ("am", re.compile(r"[\u1200-\u137f]")),
)
# characters of written Cantonese that standard written Chinese does not use
_CANTONESE = re.compile(r"[嘅咗唔喺佢哋冇嘢啲乜噉嚟睇咩嗰嘥攰冚揾搵咁啱瞓]")

_ALIASES = {
    "zh-cn": "zh", "zh-hans": "zh", "cmn": "zh", "zh-tw": "zh", "zh-hant": "zh", "zh-sg": "zh",
    "yue": "yue", "zh-hk": "yue", "zh-yue": "yue", "zh-mo": "yue", "cantonese": "yue",
    "mandarin": "zh", "chinese": "zh", "english": "en",
}


def canonical_language(code: str) -> str:
    """'zh-CN' → 'zh', 'zh-HK' → 'yue', 'en-US' → 'en', 'yue' → 'yue'."""
    code = code.strip().lower().replace("_", "-")
    if code in _ALIASES:
        return _ALIASES[code]
    return code.split("-")[0]


def detect(text: str, default: str | None = None) -> str | None:
    """The language of one sentence, or `default` when it has no letters to go by."""
    if _HAN.search(text):
        if _KANA.search(text):
            return "ja"
        return "yue" if _CANTONESE.search(text) else "zh"
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _CYRILLIC.search(text):
        return "ru"
    for language, script in _SCRIPTS:
        if script.search(text):
            return language
    if _LATIN.search(text):
        return "en"
    return default


def dominant(text: str) -> str:
    """The main language of a whole document: Chinese when Han characters make up a tenth
    of its letters, else what `detect` says, else English."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if han and han >= 0.1 * (han + latin):
        return "yue" if len(_CANTONESE.findall(text)) >= 2 else "zh"
    return detect(text) or "en"
