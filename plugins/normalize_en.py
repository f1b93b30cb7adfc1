"""English text normalization: numbers, money, dates, times, units and signs in words.

Built on `num2words`; the rules here decide which reading a written form gets (a year, a
phone number, a decade, an amount of money) before any number is spelled out.
"""

from __future__ import annotations

import re

from num2words import num2words

import voxline
from voxline import roman_numeral_value

MONTHS = (
    "January February March April May June July August September October November December"
).split()
_MONTH_ABBR = {m[:3].lower(): m for m in MONTHS}
# any case ("july", "JAN."); the dates that use it leave a lower-case "may" or "march" (mostly
# verbs) alone unless a year or "of" makes it the month
_MONTH_RE = (
    r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?"
)
_VERB_MONTHS = ("may", "march")
_YEAR = r"(?:1[1-9]\d\d|20\d\d)"

CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", "paisa", "paise"),
    "₩": ("won", "won", None, None),
    "HK$": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "A$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "C$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
}
_CURRENCY_RE = "|".join(re.escape(c) for c in sorted(CURRENCIES, key=len, reverse=True))
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
    "m²": ("square meter", "square meters"), "km²": ("square kilometer", "square kilometers"),
    "cm²": ("square centimeter", "square centimeters"), "m³": ("cubic meter", "cubic meters"),
    "km³": ("cubic kilometer", "cubic kilometers"),
    "cm³": ("cubic centimeter", "cubic centimeters"),
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
# headings whose number is often a Roman numeral: "Chapter XIV", "Part II", "World War I"
_HEADING_WORDS = (r"(?i:chapter|part|book|volume|vol\.|section|act|scene|appendix|article|canto"
                  r"|episode|phase|season|lesson|unit|stage|round|level|step|psalm|world war)")
# a bare four-digit number is a year when nothing follows it that it could be counting
_YEAR_FOLLOWERS = (r"(?i:was|were|is|are|saw|had|has|brought|began|ended|became|marked|and|or|"
                   r"to|through|when|where|while|election|elections|season|census|edition|"
                   r"model|olympics|world\s+cup|a\.?d\.?|b\.?c\.?|ad|bc|ce|bce)\b")


def cardinal(number: str) -> str:
    """'1,234.5' → 'one thousand two hundred thirty-four point five'; '.5' → 'point five'."""
    number = number.replace(",", "")
    if "." in number:
        whole, frac = number.split(".", 1)
        tail = f"point {' '.join(_words(int(d)) for d in frac)}"
        return f"{_words(int(whole))} {tail}" if whole else tail
    return _words(int(number))


def signed(number: str) -> str:
    """A cardinal that may carry a sign: '-6' → 'minus six'."""
    if number[:1] in "-−":
        return f"minus {cardinal(number[1:])}"
    return cardinal(number.lstrip("+"))


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
    sign = "minus " if m.group("neg") or m.group("neg2") else ""
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    amount = amount.replace(",", "")
    if scale:
        return f"{sign}{cardinal(amount)} {SCALES[scale.lower()]} {many}"
    whole, _, frac = amount.partition(".")
    if len(frac) > 2:  # $20.500 is $20.50; $20.506 is no sum of cents
        frac = frac[:2] + frac[2:].rstrip("0")
    if len(frac) > 2 or (frac.strip("0") and not sub_one):
        return f"{sign}{cardinal(whole + '.' + frac)} {many}"
    whole_n = int(whole or "0")
    cents = int((frac + "00")[:2]) if frac else 0
    parts = []
    if whole_n or not cents:
        parts.append(f"{_words(whole_n)} {one if whole_n == 1 else many}")
    if cents:
        parts.append(f"{_words(cents)} {sub_one if cents == 1 else sub_many}")
    return sign + " and ".join(parts)


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
    d = int(m.group("d"))
    if not 1 <= d <= 31 or (m.group("mon") in _VERB_MONTHS and not m.group("y")):
        return m.group(0)
    spoken = f"{_month_name(m.group('mon'))} {ordinal(d)}"
    return spoken + (f" {year(int(m.group('y')))}" if m.group("y") else "")


def _date_dmy(m: re.Match) -> str:
    d = int(m.group("d"))
    if not 1 <= d <= 31 or (m.group("mon") in _VERB_MONTHS
                            and not (m.group("y") or m.group("of"))):
        return m.group(0)
    the = "" if m.string[:m.start()].lower().endswith("the ") else "the "
    spoken = f"{the}{ordinal(d)} of {_month_name(m.group('mon'))}"
    return spoken + (f" {year(int(m.group('y')))}" if m.group("y") else "")


def _month_year(m: re.Match) -> str:
    return f"{_month_name(m.group('mon'))} {year(int(m.group('y')))}"


def _date_numeric(y: int, mo: int, d: int) -> str | None:
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{MONTHS[mo - 1]} {ordinal(d)} {year(y)}"


_SEPARATORS = {"-": "dash", "/": "slash", ".": "dot"}


def _as_written(groups: list[str], separator: str) -> str:
    """An impossible date, read as written rather than as a range or a fraction."""
    spoken = [year(int(g)) if len(g) == 4 else _words(int(g)) for g in groups]
    return f" {_SEPARATORS[separator]} ".join(spoken)


def _ymd_date(m: re.Match) -> str:
    return (_date_numeric(int(m["y"]), int(m["mo"]), int(m["d"]))
            or _as_written([m["y"], m["mo"], m["d"]], m["sep"]))


def _mdy_date(m: re.Match) -> str:
    a, b, y = int(m["a"]), int(m["b"]), int(m["y"])
    if 1 <= a <= 12:
        spoken = _date_numeric(y, a, b)
    elif 1 <= b <= 12 and a <= 31:  # 15-01-2020, 25/12/2020: day first
        spoken = f"the {ordinal(a)} of {MONTHS[b - 1]} {year(y)}"
    else:
        spoken = None
    return spoken or _as_written([m["a"], m["b"], m["y"]], m["sep"])


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
    plus = "plus " if m.group(0).startswith("+") else ""
    return plus + ", ".join(digits(g) for g in groups)


def _local_phone(m: re.Match) -> str:
    a, b = m["a"], m["b"]
    # 500-1000 is a range; 555-0199 and 123-4567 are numbers to dial
    if not b.startswith("0") and int(a) % 10 == 0 and int(b) % 10 == 0 and int(a) < int(b):
        return f"{cardinal(a)} to {cardinal(b)}"
    return f"{digits(a)}, {digits(b)}"


def _code(m: re.Match) -> str:
    """Three or more groups of digits joined by dashes: an identifier (ISBN, SSN, part
    number), read group by group, digit by digit once any group is long."""
    groups = m.group(0).split("-")
    if any(len(g) >= 3 for g in groups):
        return ", ".join(digits(g) for g in groups)
    return ", ".join(_words(int(g)) for g in groups)


def _power(base: str, exponent: str) -> str:
    if exponent == "2":
        return f"{base} squared"
    if exponent == "3":
        return f"{base} cubed"
    return f"{base} to the power of {signed(exponent)}"


def _caret(m: re.Match) -> str:
    base = m["b"]
    return _power(cardinal(base) if base[0].isdigit() or base[0] == "." else base, m["e"])


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _superscript(m: re.Match) -> str:
    return _power(cardinal(m["b"]), m["e"].translate(_SUPERSCRIPTS))


def _scientific(m: re.Match) -> str:
    return f"{cardinal(m['b'])} times ten to the power of {signed(m['e'])}"


def _heading_number(m: re.Match) -> str:
    numeral = m["r"]
    value = roman_numeral_value(numeral)
    if value is None or numeral in ("L", "C", "D", "M"):  # "Appendix C" is a letter
        return m.group(0)
    # a lone "I" after a lower-case word is the pronoun ("the part I liked")
    if numeral == "I" and (m["w"][0].islower() or re.match(r"\s+[a-z]", m.string[m.end():])):
        return m.group(0)
    return f"{m['w']} {_words(value)}"


def _bare_year(m: re.Match) -> str:
    after = m.string[m.end():]
    if re.match(r"\s*(?:$|[.,;:!?)\]\"'”’—–])", after) or re.match(r"\s+" + _YEAR_FOLLOWERS,
                                                                         after):
        return year(int(m["y"]))
    return m.group(0)


def _invalid_time(m: re.Match) -> str:
    return f"{m['pre']} {_words(int(m['h']))} colon {_words(int(m['m']))}"


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
    return f"{cardinal(m.group('num'))} percent"


def _number(m: re.Match) -> str:
    text = m.group(0)
    plain = text.replace(",", "")
    if "." not in plain and "," not in text and len(plain) >= 8:  # IDs, not quantities
        return digits(plain)
    if plain.isdigit() and len(plain) > 1 and plain.startswith("0"):
        return digits(plain)
    return cardinal(text)


RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")"),
     lambda m: ABBREVIATIONS[m.group(0)]),
    # "100%%", "$$5": a repeated symbol is said once
    (re.compile(r"([%‰$€£¥₹])\1+"), r"\1"),
    (re.compile(r"\b(?P<w>" + _HEADING_WORDS + r")\s+(?P<r>[IVXLCDM]+)\b"), _heading_number),
    (re.compile(r"(?:(?P<plus>\+)?\b1[\s.-]?)?(?:\(\d{3}\)[\s.-]?|\b\d{3}[-.\s])\d{3}[-.]\d{4}\b"
                r"(?:-\d{4}\b)?"), _phone),
    (re.compile(r"(?<![\w.-])(?P<a>\d{3})-(?P<b>\d{4})(?![\w-]|\.\d)"), _local_phone),
    (re.compile(r"(?<![\w.])(?P<b>\d+(?:\.\d+)?)[eE](?P<e>[-+−]?\d+)\b"), _scientific),
    (re.compile(r"(?P<b>\d+(?:\.\d+)?|(?<![\w.])\.\d+|\b[A-Za-z])\s?\^\s?(?P<e>[-−]?\d+)"),
     _caret),
    (re.compile(r"(?P<b>\d+(?:\.\d+)?)(?P<e>⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)"), _superscript),
    (re.compile(r"(?P<neg>(?<![\w.)\]])[-−]\s?)?(?<![A-Za-z])(?P<cur>" + _CURRENCY_RE + r")\s?"
                r"(?P<neg2>[-−])?(?P<amt>" + _NUM + r"|\.\d+)(?:\s?(?P<scale>thousand|million|"
                r"billion|trillion|bn|mn|tn|[kKmMbBtT])\b)?"), _money),
    # a sign on a number ("-3.5°C", "(-5)", "x = −2"), not a dash between two ("10-20")
    (re.compile(r"(?<![\w.)\]%])[-−](?=\.?\d)"), "minus "),
    (re.compile(r"(?P<num>" + _NUM + r")\s?(?:%|percent\b)"), _percent),
    (re.compile(r"\b(?P<y>\d{4})(?P<sep>[-/.])(?P<mo>\d{1,2})(?P=sep)(?P<d>\d{1,2})\b"), _ymd_date),
    (re.compile(r"\b(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})\b"), _mdy_date),
    (re.compile(r"(?<![\w.-])\d+(?:-\d+){2,}(?![\w-])"), _code),
    (re.compile(r"\b(?P<mon>" + _MONTH_RE + r")\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b"
                r"(?:,?\s+(?P<y>\d{4})\b)?"), _date_mdy),
    (re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<of>of\s+)?(?P<mon>" + _MONTH_RE + r")"
                r"(?:,?\s+(?P<y>\d{4})\b)?"), _date_dmy),
    (re.compile(r"\b(?P<mon>" + _MONTH_RE + r")\s+(?P<y>" + _YEAR + r")\b"), _month_year),
    (re.compile(r"\b(?P<h>[01]?\d|2[0-3]|24(?=:00)):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?"
                r"(?:\s?(?P<ampm>[aApP])\.?\s?[mM]\.?(?!\w))?"), _time),
    # "at 25:61" is no time and no ratio either: say what is written
    (re.compile(r"\b(?P<pre>(?i:at|by|until|till|from|before|after|around|since))\s"
                r"(?P<h>\d{1,2}):(?P<m>\d{2})\b"), _invalid_time),
    (re.compile(r"\b(?P<h>1[0-2]|0?[1-9])\s?(?P<ampm>[aApP])\.?[mM]\b\.?(?P<m>)(?P<s>)"),
     lambda m: f"{_words(int(m['h']))} {'a m' if m['ampm'].lower() == 'a' else 'p m'}"),
    (re.compile(r"(?:\b(?P<c>1[1-9]|20)|')(?P<d>\d0)s\b"), _decade),
    (re.compile(r"\b(?P<n>\d+)(?P<suf>st|nd|rd|th)\b"), lambda m: ordinal(int(m["n"]))),
    (re.compile(r"\b(?P<w>" + _ID_WORDS + r")\s(?P<id>\d+)\b", re.IGNORECASE),
     lambda m: f"{m['w']} {digits(m['id'])}"),
    (re.compile(r"(?<![\w.-])(?P<a>" + _YEAR + r")\s?[-–]\s?(?P<b>" + _YEAR + r")(?![\w.-])"),
     lambda m: f"{year(int(m['a']))} to {year(int(m['b']))}"),
    (re.compile(r"\b(?P<pre>in|In|since|Since|by|By|of|year|from|From|until|Until|before|"
                r"Before|after|After|circa|during|During|born|Born|between|Between)\s"
                r"(?P<y>" + _YEAR + r")\b(?![,.]?\d|\s?%)"),
     lambda m: f"{m['pre']} {year(int(m['y']))}"),
    (re.compile(r"(?<![\w.,$€£¥:/#+-])(?P<y>" + _YEAR + r")(?![\w%°]|[.,:/]\d)"), _bare_year),
    (re.compile(r"(?<![\d/])(?P<n>\d{1,3})/(?P<den>\d{1,3})(?![\d/])"), _fraction),
    (re.compile(r"(?P<a>\d+):(?P<b>\d+)"), lambda m: f"{_words(int(m['a']))} to {_words(int(m['b']))}"),
    (re.compile(r"(?P<num>" + _NUM + r")\s?(?P<unit>" + _UNIT_RE + r")(?![\w])"), _unit),
    (re.compile(r"(?<![\w.])(?P<a>" + _NUM + r")\s?[-–~]\s?(?P<b>" + _NUM + r")(?![\w.])"),
     lambda m: f"{cardinal(m['a'])} to {cardinal(m['b'])}"),
    (re.compile(r"(?:(?<=\s)|^)\+(?=\d)"), lambda m: "plus "),
    (re.compile(r"#(?=\d)"), lambda m: "number "),
    (re.compile(_NUM + r"|(?<![\w.])\.\d+"), _number),
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
    version = "2"
    languages = ("en",)

    def normalize(self, text: str, language: str) -> str:
        return normalize_english(text)


@voxline.hookimpl
def register_normalizers(register):
    register(EnglishNormalizer)
