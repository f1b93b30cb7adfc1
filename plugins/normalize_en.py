"""English text normalization: numbers, money, dates, times, units and signs in words.

Built on `num2words`; the rules here decide which reading a written form gets (a year, a
phone number, a decade, an amount of money) before any number is spelled out.
"""

from __future__ import annotations

import re

from num2words import num2words

import voxline

MONTHS = (
    "January February March April May June July August September October November December"
).split()
_MONTH_ABBR = {m[:3].lower(): m for m in MONTHS}
_MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)

CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
SCALES = {
    "k": "thousand", "thousand": "thousand", "m": "million", "mn": "million",
    "million": "million", "b": "billion", "bn": "billion", "billion": "billion",
    "t": "trillion", "tn": "trillion", "trillion": "trillion",
}

# unit: (singular, plural)
UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "m": ("meter", "meters"),
    "mi": ("mile", "miles"), "ft": ("foot", "feet"), "in": ("inch", "inches"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ml": ("milliliter", "milliliters"),
    "l": ("liter", "liters"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "℃": ("degree Celsius", "degrees Celsius"),
    "°": ("degree", "degrees"),
    "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "W": ("watt", "watts"), "V": ("volt", "volts"),
    "ms": ("millisecond", "milliseconds"), "s": ("second", "seconds"),
    "min": ("minute", "minutes"), "h": ("hour", "hours"), "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
}
_UNIT_RE = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))

ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Dr.": "Doctor", "Prof.": "Professor",
    "St.": "Saint", "Jr.": "Junior", "Sr.": "Senior", "vs.": "versus", "etc.": "et cetera",
    "e.g.": "for example", "i.e.": "that is", "approx.": "approximately", "No.": "number",
}
# after these words a number is an identifier, read digit by digit
_ID_WORDS = r"(?:number|No\.|code|ID|PIN|account|order|flight|room|extension|ext\.)"

SIGNS = {"+": " plus ", "=": " equals ", "×": " times ", "÷": " divided by ", "&": " and ",
         "@": " at ", "±": " plus or minus ", "≈": " approximately ", "<": " less than ",
         ">": " greater than "}

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"


def cardinal(number: str) -> str:
    """'1,234.5' → 'one thousand two hundred thirty-four point five'."""
    number = number.replace(",", "")
    if "." in number:
        whole, frac = number.split(".", 1)
        head = _words(int(whole or "0"))
        return f"{head} point {' '.join(_words(int(d)) for d in frac)}"
    return _words(int(number))


def _words(n: int, to: str = "cardinal") -> str:
    # num2words writes British "and" and commas ("one thousand, two hundred and five");
    # American news style drops both, and the commas would become pauses.
    return re.sub(r"\band\b ", "", num2words(n, lang="en", to=to).replace(",", ""))


def ordinal(n: int) -> str:
    return _words(n, to="ordinal")


def year(n: int) -> str:
    if 2000 <= n <= 2009:
        return _words(n)
    if n % 100 == 0 and n < 2000:
        return f"{_words(n // 100)} hundred"
    if 1000 <= n <= 2099:
        hi, lo = divmod(n, 100)
        tail = f"oh {_words(lo)}" if lo < 10 else _words(lo)
        return f"{_words(hi)} {tail}"
    return _words(n)


def digits(text: str) -> str:
    names = {"0": "oh", **{str(i): _words(i) for i in range(1, 10)}}
    return " ".join(names[d] for d in text if d.isdigit())


def _plural(n_text: str, singular: str, plural: str) -> str:
    return singular if n_text.replace(",", "") in ("1", "1.0") else plural


def _money(m: re.Match) -> str:
    symbol, amount, scale = m.group("cur"), m.group("amt"), m.group("scale")
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    amount = amount.replace(",", "")
    if scale:
        return f"{cardinal(amount)} {SCALES[scale.lower()]} {many}"
    whole, _, frac = amount.partition(".")
    whole_n = int(whole or "0")
    cents = int((frac + "00")[:2]) if frac and sub_one else 0
    parts = []
    if whole_n or not cents:
        parts.append(f"{_words(whole_n)} {one if whole_n == 1 else many}")
    if cents:
        parts.append(f"{_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _time(m: re.Match) -> str:
    h, mnt, sec, ampm = int(m.group("h")), int(m.group("m")), m.group("s"), m.group("ampm")
    if mnt == 0 and ampm:
        spoken = _words(h)
    elif mnt == 0:
        spoken = f"{_words(h)} hundred" if h >= 13 else f"{_words(h)} o'clock"
    elif mnt < 10:
        spoken = f"{_words(h)} oh {_words(mnt)}"
    else:
        spoken = f"{_words(h)} {_words(mnt)}"
    if sec and int(sec):
        spoken += f" and {_words(int(sec))} seconds"
    if ampm:
        spoken += " a m" if ampm.lower().startswith("a") else " p m"
        if m.group(0).endswith("."):  # "p.m." also ended the sentence
            spoken += "."
    return spoken


def _month_name(text: str) -> str:
    return _MONTH_ABBR[text.rstrip(".").lower()[:3]]


def _plural_word(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _date_mdy(m: re.Match) -> str:
    spoken = f"{_month_name(m.group('mon'))} {ordinal(int(m.group('d')))}"
    return spoken + (f" {year(int(m.group('y')))}" if m.group("y") else "")


def _date_dmy(m: re.Match) -> str:
    spoken = f"the {ordinal(int(m.group('d')))} of {_month_name(m.group('mon'))}"
    return spoken + (f" {year(int(m.group('y')))}" if m.group("y") else "")


def _date_numeric(y: int, mo: int, d: int) -> str | None:
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{MONTHS[mo - 1]} {ordinal(d)} {year(y)}"


def _iso_date(m: re.Match) -> str:
    return _date_numeric(int(m["y"]), int(m["mo"]), int(m["d"])) or m.group(0)


def _us_date(m: re.Match) -> str:
    return _date_numeric(int(m["y"]), int(m["mo"]), int(m["d"])) or m.group(0)


def _decade(m: re.Match) -> str:
    century, decade = m.group("c"), m.group("d")
    if century is None:  # '90s
        return _plural_word(_words(int(decade))) if decade != "00" else "two thousands"
    n = int(century + decade)
    if n % 100 == 0:
        return f"{_words(n // 100)} hundreds" if n < 2000 else f"{_words(n)}s"
    return f"{_words(int(century))} {_plural_word(_words(int(decade)))}"


def _phone(m: re.Match) -> str:
    groups = re.findall(r"\d+", m.group(0))
    return ", ".join(digits(g) for g in groups)


def _fraction(m: re.Match) -> str:
    num, den = int(m.group("n")), int(m.group("den"))
    if den == 0:
        return f"{_words(num)} over zero"
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    else:
        name = ordinal(den) + ("" if num == 1 else "s")
    return f"{_words(num)} {name}"


def _unit(m: re.Match) -> str:
    number, unit = m.group("num"), m.group("unit")
    singular, plural = UNITS[unit]
    return f"{cardinal(number)} {_plural(number, singular, plural)}"


def _percent(m: re.Match) -> str:
    sign = "minus " if m.group("neg") else ""
    return f"{sign}{cardinal(m.group('num'))} percent"


def _number(m: re.Match) -> str:
    text = m.group(0)
    plain = text.replace(",", "")
    if "." not in plain and "," not in text and len(plain) >= 8:  # IDs, not quantities
        return digits(plain)
    if "." not in plain and len(plain) > 1 and plain.startswith("0"):
        return digits(plain)
    return cardinal(text)


RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")"),
     lambda m: ABBREVIATIONS[m.group(0)]),
    (re.compile(r"(?:\+?1[\s.-])?(?:\(\d{3}\)\s?|\b\d{3}[-.\s])\d{3}[-.]\d{4}\b"), _phone),
    (re.compile(r"(?P<cur>US\$|[$€£¥₹])\s?(?P<amt>" + _NUM + r")(?:\s?(?P<scale>thousand|million|"
                r"billion|trillion|bn|mn|tn|[kKmMbBtT])\b)?"), _money),
    (re.compile(r"(?P<neg>(?<![\w.])-)?(?P<num>" + _NUM + r")\s?(?:%|percent\b)"), _percent),
    (re.compile(r"\b(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})\b"), _iso_date),
    (re.compile(r"\b(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})\b"), _us_date),
    (re.compile(r"\b(?P<mon>" + _MONTH_RE + r")\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b"
                r"(?:,?\s+(?P<y>\d{4})\b)?"), _date_mdy),
    (re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>" + _MONTH_RE + r")"
                r"(?:,?\s+(?P<y>\d{4})\b)?"), _date_dmy),
    (re.compile(r"\b(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?"
                r"(?:\s?(?P<ampm>[aApP])\.?\s?[mM]\.?(?!\w))?"), _time),
    (re.compile(r"\b(?P<h>1[0-2]|0?[1-9])\s?(?P<ampm>[aApP])\.?[mM]\b\.?(?P<m>)(?P<s>)"),
     lambda m: f"{_words(int(m['h']))} {'a m' if m['ampm'].lower() == 'a' else 'p m'}"),
    (re.compile(r"(?:\b(?P<c>1[1-9]|20)|')(?P<d>\d0)s\b"), _decade),
    (re.compile(r"\b(?P<n>\d+)(?P<suf>st|nd|rd|th)\b"), lambda m: ordinal(int(m["n"]))),
    (re.compile(r"\b(?P<w>" + _ID_WORDS + r")\s(?P<id>\d+)\b", re.IGNORECASE),
     lambda m: f"{m['w']} {digits(m['id'])}"),
    (re.compile(r"\b(?P<pre>in|In|since|Since|by|By|of|year|from|From|until|Until|before|"
                r"Before|after|After|circa|during|During)\s(?P<y>1[1-9]\d\d|20\d\d)\b(?![,.]?\d|\s?%)"),
     lambda m: f"{m['pre']} {year(int(m['y']))}"),
    (re.compile(r"(?<![\d/])(?P<n>\d{1,3})/(?P<den>\d{1,3})(?![\d/])"), _fraction),
    (re.compile(r"(?P<a>\d+):(?P<b>\d+)"), lambda m: f"{_words(int(m['a']))} to {_words(int(m['b']))}"),
    (re.compile(r"(?P<num>" + _NUM + r")\s?(?P<unit>" + _UNIT_RE + r")(?![\w])"), _unit),
    (re.compile(r"(?<![\w.])(?P<a>" + _NUM + r")\s?[-–~]\s?(?P<b>" + _NUM + r")(?![\w.])"),
     lambda m: f"{cardinal(m['a'])} to {cardinal(m['b'])}"),
    (re.compile(r"(?:(?<=\s)|^)-(?=\d)"), lambda m: "minus "),
    (re.compile(r"(?:(?<=\s)|^)\+(?=\d)"), lambda m: "plus "),
    (re.compile(r"#(?=\d)"), lambda m: "number "),
    (re.compile(_NUM), _number),
    (re.compile("|".join(re.escape(s) for s in SIGNS)), lambda m: SIGNS[m.group(0)]),
    (re.compile(r"%"), lambda m: " percent"),
]


def normalize_english(text: str) -> str:
    for pattern, replace in RULES:
        text = pattern.sub(replace, text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


class EnglishNormalizer(voxline.Normalizer):
    """Rule-based English normalizer over num2words."""

    name = "en-rules"
    version = "1"
    languages = ("en",)

    def normalize(self, text: str, language: str) -> str:
        return normalize_english(text)


@voxline.hookimpl
def register_normalizers(register):
    register(EnglishNormalizer)
