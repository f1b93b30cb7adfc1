"""A normalizer for Cantonese (`yue`): numbers as Cantonese speakers read them."""

from __future__ import annotations

import re

import voxline

DIGITS = "零一二三四五六七八九"
UNITS = ((10**8, "億"), (10**4, "萬"), (1000, "千"), (100, "百"), (10, "十"))
# measure words after which 2 is read 兩, not 二
MEASURES = "個隻本次位張件條碗杯架部間對份粒日年歲"


def integer(n: int) -> str:
    """123 -> 一百二十三, 10 -> 十, 1005 -> 一千零五."""
    if n < 10:
        return DIGITS[n]
    for value, unit in UNITS:
        if n >= value:
            head, rest = divmod(n, value)
            text = ("" if value == 10 and head == 1 else integer(head)) + unit
            if rest:
                text += ("零" if rest < value // 10 else "") + integer(rest)
            return text
    raise AssertionError(n)


def number(text: str) -> str:
    whole, _, fraction = text.replace(",", "").partition(".")
    spoken = integer(int(whole))
    return spoken + ("點" + "".join(DIGITS[int(d)] for d in fraction) if fraction else "")


RULES = (
    (re.compile(r"HK\$\s?([\d,]+(?:\.\d+)?)"), lambda m: "港幣" + number(m[1]) + "蚊"),
    (re.compile(r"\$\s?([\d,]+(?:\.\d+)?)"), lambda m: number(m[1]) + "蚊"),
    (re.compile(r"([\d.]+)%"), lambda m: "百分之" + number(m[1])),
    (re.compile(r"(\d{4})年"), lambda m: "".join(DIGITS[int(d)] for d in m[1]) + "年"),
    (re.compile(rf"(?<![\d.])2(?=[{MEASURES}])"), lambda m: "兩"),
    (re.compile(r"\d[\d,]*(?:\.\d+)?"), lambda m: number(m[0])),
)


class CantoneseNormalizer(voxline.Normalizer):
    name = "example-cantonese"
    version = "1"
    languages = ("yue",)

    def normalize(self, text: str, language: str) -> str:
        for pattern, spoken in RULES:
            text = pattern.sub(spoken, text)
        return text


@voxline.hookimpl
def register_normalizers(register):
    register(CantoneseNormalizer)
