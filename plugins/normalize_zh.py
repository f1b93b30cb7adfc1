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
from voxline import roman_numeral_value

_DIGITS = "".join(voxline.digit_name(d, "zh") for d in range(10))
_DIAL_DIGITS = _DIGITS.replace("一", "幺")  # phone numbers, addresses: 1 is read 幺
_UNITS = ((10**8, "亿"), (10**4, "万"))
_SEPARATORS = {"-": "杠", "/": "斜杠", ".": "点"}
_URL_SYMBOLS = {".": "点", "/": "斜杠", ":": "冒号", "?": "问号", "=": "等于", "&": "和",
                "-": "杠", "_": "下划线", "@": "艾特", "#": "井号", "%": "百分号", "~": "波浪号",
                "+": "加"}


def _dial(text: str) -> str:
    return "".join(_DIAL_DIGITS[int(d)] for d in text if d.isdigit())


def _group(text: str) -> str:
    return _dial(text).replace("幺", "一") if len(text) == 4 else read_number(text)


def _as_written(groups: list[str], separator: str) -> str:
    """An impossible date, read as written rather than as arithmetic or fractions."""
    return _SEPARATORS[separator].join(_group(g) for g in groups)


def _ymd(m: re.Match) -> str:
    mo, d = int(m["mo"]), int(m["d"])
    if 1 <= mo <= 12 and 1 <= d <= 31:
        return m.group(0)  # wetext reads it
    return _as_written([m["y"], m["mo"], m["d"]], m["sep"])


def _mdy(m: re.Match) -> str:
    a, b = int(m["a"]), int(m["b"])
    if 1 <= b <= 12 and 1 <= a <= 31:
        return m.group(0)  # day first, as wetext reads it
    if 1 <= a <= 12 and 1 <= b <= 31:  # 12/31/2020: month first
        return f"{m['y']}年{a}月{b}日"
    return _as_written([m["a"], m["b"], m["y"]], m["sep"])


def _local_phone(m: re.Match) -> str:
    a, b = m["a"], m["b"]
    # 500-1000 is a range (wetext reads it); 555-0199 and 123-4567 are numbers to dial
    if not b.startswith("0") and int(a) % 10 == 0 and int(b) % 10 == 0 and int(a) < int(b):
        return m.group(0)
    return _dial(a) + _dial(b)


def _url(m: re.Match) -> str:
    """A web or mail address as people read one out: no scheme, symbols by name, digits one
    by one, letters as they are."""
    url = re.sub(r"^(?:https?|ftp)://", "", m.group(0), flags=re.IGNORECASE)
    return "".join(_URL_SYMBOLS.get(ch) or (_dial(ch) if ch.isdigit() else ch) for ch in url)


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _power_of(exponent: str) -> str:
    exponent = exponent.translate(_SUPERSCRIPTS).replace("−", "-").lstrip("+")
    return "负" + exponent[1:] if exponent.startswith("-") else exponent


def _power(m: re.Match) -> str:
    return f"{m['b']}的{_power_of(m['e'])}次方"



def _roman_heading(m: re.Match) -> str:
    value = roman_numeral_value(m["r"])
    return m.group(0) if value is None else f"第{value}"


PRE_RULES: list[tuple[re.Pattern, str | object]] = [
    # web and mail addresses first: nothing in them is a number, a date or a sum
    (re.compile(r"(?:(?:https?|ftp)://|www\.)[A-Za-z0-9\-._~:/?#@!$&*+,;=%]*[A-Za-z0-9/#=&_-]"
                r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
                r"|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|cn|net|org|io|gov|edu|hk|tw)\b"
                r"(?:/[A-Za-z0-9\-._~/?#=&%]*[A-Za-z0-9/#=&_-])?", re.ASCII), _url),
    # "100%%", "$$5": a repeated symbol is said once
    (re.compile(r"([%‰$€£¥￥])\1+"), r"\1"),
    # 1,234,567 → 1234567 (wetext reads the comma as a pause and the groups as digits)
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    # 第XIV章 → 第14章
    (re.compile(r"第\s?(?P<r>[IVXLCDM]+)\s?(?=[章节卷部篇回集册条课幕季期届])"), _roman_heading),
    # 21st → 第21 (wetext reads "21s" as 二十一秒)
    (re.compile(r"(?<![A-Za-z\d])(第?)(\d+)(?:st|nd|rd|th)(?![A-Za-z])"), r"第\2"),
    # 10^30, 1e10, 10²: powers (wetext leaves the ^, the e and the ² in place)
    (re.compile(r"(?<![\w.])(?P<b>\d+(?:\.\d+)?)[eE](?P<e>[-+−]?\d+)\b"),
     lambda m: f"{m['b']}乘10的{_power_of(m['e'])}次方"),
    (re.compile(r"(?P<b>\d+(?:\.\d+)?)\s?\^\s?(?P<e>[-−]?\d+)"), _power),
    (re.compile(r"(?P<b>\d+(?:\.\d+)?)(?P<e>⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)"), _power),
    # impossible dates, and month-first ones, which wetext reads as fractions or sums
    (re.compile(r"(?<![\d.])(?P<y>\d{4})(?P<sep>[-/.])(?P<mo>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
                r"(?![\d.])"),
     _ymd),
    (re.compile(r"(?<![\d.])(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})"
                r"(?![\d.])"),
     _mdy),
    # 555-0199, 123-4567: wetext reads them as subtractions
    (re.compile(r"(?<![\d.-])(?P<a>\d{3})-(?P<b>\d{4})(?![\d-]|\.\d)"), _local_phone),
    # 时间25:61 is no time, and no score either
    (re.compile(r"(?<=时间|时刻|上午|下午|晚上|凌晨|早上|中午|傍晚)(?P<h>\d{1,2}):(?P<m>\d{2})(?!\d)"),
     lambda m: m.group(0) if int(m["h"]) <= 24 and int(m["m"]) <= 59
     else f"{m['h']}冒号{m['m']}"),
    # -2.3% → 负百分之二点三 (wetext says 百分之负二点三)
    (re.compile(r"(?<![\d.])-(?=\d+(?:\.\d+)?%)"), "负"),
    # -$5, -¥5: wetext drops the sign before a currency symbol
    (re.compile(r"(?<![\w.])[-−](?=\s?(?:US\$|HK\$|A\$|C\$|[$€£¥￥₩₹]))"), "负"),
    # foreign currency symbols wetext leaves untouched: $3.2亿 → 3.2亿美元
    (re.compile(r"US\$\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2美元"),
    (re.compile(r"C\$\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2加元"),
    (re.compile(r"₩\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2韩元"),
    (re.compile(r"₹\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2卢比"),
    # a bare $ is one only when no letter is glued to it (A$ is wetext's, HK$ is below)
    (re.compile(r"(?<![A-Za-z])\$\s?(\d+(?:\.\d+)?)([万亿]?)"), r"\1\2美元"),
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
    version = "2"
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
