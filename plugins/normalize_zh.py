"""Chinese (Mandarin and Cantonese) text normalization over `wetext`.

`wetext` (the WeTextProcessing runtime) reads dates, times, money, percentages, fractions,
units, phone numbers and signs well. The rules here run before it, for the forms it gets wrong
(thousands separators, negative percentages, foreign currency symbols), and after it, so that
no digit it left behind reaches a backend (eSpeak NG would read it in English, ChatTTS would
delete it).
"""

from __future__ import annotations

import re

import voxline

_DIGITS = "零一二三四五六七八九"
_UNITS = ((10**8, "亿"), (10**4, "万"))

PRE_RULES: list[tuple[re.Pattern, str | object]] = [
    # 1,234,567 → 1234567 (wetext reads the comma as a pause and the groups as digits)
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    # -2.3% → 负百分之二点三 (wetext says 百分之负二点三)
    (re.compile(r"(?<![\d.])-(?=\d+(?:\.\d+)?%)"), "负"),
    # foreign currency symbols wetext leaves untouched: $3.2亿 → 3.2亿美元
    (re.compile(r"US\$\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2美元"),
    (re.compile(r"\$\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2美元"),
    (re.compile(r"€\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2欧元"),
    (re.compile(r"£\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2英镑"),
    (re.compile(r"HK\$\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2港元"),
    # ￥20元 / ¥20元: the symbol and the unit together would be read twice
    (re.compile(r"[￥¥]\s?(\d+(?:\.\d+)?)([万亿]?)元"), r"\1\2元"),
]


def _int_to_chinese(n: int) -> str:
    if n == 0:
        return "零"
    for value, name in _UNITS:
        if n >= value:
            high, low = divmod(n, value)
            tail = ""
            if low:
                tail = ("零" if low < value // 10 else "") + _int_to_chinese(low)
            return _int_to_chinese(high) + name + tail
    out = []
    for value, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, value)
        if digit:
            out.append(_DIGITS[digit] + name)
        elif out and n:
            out.append("零")
    text = "".join(out).replace("零零", "零")
    return text[1:] if text.startswith("一十") else text


def read_number(text: str) -> str:
    """A cardinal or decimal number as Mandarin characters; long digit strings digit by digit."""
    whole, _, frac = text.partition(".")
    if len(whole) > 12 or (len(whole) > 1 and whole.startswith("0")):
        spoken = "".join(_DIGITS[int(d)] for d in whole)
    else:
        spoken = _int_to_chinese(int(whole))
    if frac:
        spoken += "点" + "".join(_DIGITS[int(d)] for d in frac)
    return spoken


POST_RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(\d+(?:\.\d+)?)\s?%"), lambda m: "百分之" + read_number(m.group(1))),
    (re.compile(r"\d+(?:\.\d+)?"), lambda m: read_number(m.group(0))),
    (re.compile(r"%"), "百分之"),
]


class ChineseNormalizer(voxline.Normalizer):
    """wetext with voxline's corrections, for Mandarin and Cantonese text."""

    name = "zh-wetext"
    version = "1"
    languages = ("zh", "yue")

    def __init__(self) -> None:
        from wetext import Normalizer as WetextNormalizer

        self._wetext = WetextNormalizer(lang="zh", operator="tn")

    def normalize(self, text: str, language: str) -> str:
        for pattern, replacement in PRE_RULES:
            text = pattern.sub(replacement, text)
        text = self._wetext.normalize(text)
        for pattern, replacement in POST_RULES:
            text = pattern.sub(replacement, text)
        return text


@voxline.hookimpl
def register_normalizers(register):
    register(ChineseNormalizer)
