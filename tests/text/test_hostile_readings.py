"""Words read wrongly (issue 19, item 10), through the real CLI: `voxline normalize` prints what
will be spoken. Each class of mistake is one test, in English and in Chinese where it applies.
"""

from __future__ import annotations

import pytest

from conftest import run_cli

EN = {
    "minus_currency": [("$-5", "minus five dollars"), ("-$5", "minus five dollars"),
                       ("-€3.50", "minus three euros and fifty cents")],
    "negative_temperature": [("It was -3.5°C.", "It was minus three point five degrees Celsius."),
                             ("(-5)", "(minus five)")],
    "money_decimals": [("¥1,000.50", "one thousand point five zero yen"),
                       ("$20.506", "twenty point five zero six dollars")],
    "powers": [("10^30", "ten to the power of thirty"),
               ("1e10", "one times ten to the power of ten"),
               ("1.5e-3", "one point five times ten to the power of minus three")],
    "repeated_symbols": [("100%%", "one hundred percent")],
    "impossible_dates_and_times": [
        ("on 2023-13-45", "on twenty twenty-three dash thirteen dash forty-five"),
        ("on 13/45/2020", "on thirteen slash forty-five slash twenty twenty"),
        ("at 25:61", "at twenty-five colon sixty-one"),
        ("at 24:00", "at twenty-four hundred")],
    "phone_numbers": [("call 555-0199", "call five five five, oh one nine nine"),
                      ("123-4567", "one two three, four five six seven"),
                      ("+1 123-123-5678",
                       "plus one, one two three, one two three, five six seven eight")],
    "roman_headings": [("Chapter XIV", "Chapter fourteen"), ("PART XL", "PART forty"),
                       ("World War II", "World War two"),
                       ("the part I liked", "the part I liked")],
    "dates_and_years": [("July 25, 2012", "July twenty-fifth twenty twelve"),
                        ("july 25 2012", "July twenty-fifth twenty twelve"),
                        ("25 july 2012", "the twenty-fifth of July twenty twelve"),
                        ("1994", "nineteen ninety-four"),
                        ("The year 1994 was long.", "The year nineteen ninety-four was long."),
                        ("in 1990-1994", "in nineteen ninety to nineteen ninety-four")],
}

ZH = {
    "minus_currency": [("-¥5", "负五元"), ("亏损-$5", "亏损负五美元")],
    "negative_temperature": [("温度-3.5°C", "温度负三点五摄氏度")],
    "money_decimals": [("¥1,000.50", "一千点五零元"), ("价格是A$13.5", "价格是十三点五澳元")],
    "powers": [("10^30", "十的三十次方"), ("1e10", "一乘十的十次方")],
    "repeated_symbols": [("增长100%%", "增长百分之一百")],
    "impossible_dates_and_times": [("2023-13-45", "二零二三杠十三杠四十五"),
                                   ("13/45/2020", "十三斜杠四十五斜杠二零二零"),
                                   ("12/31/2020", "二零二零年十二月三十一日"),
                                   ("时间25:61", "时间二十五冒号六十一")],
    "phone_numbers": [("电话555-0199", "电话五五五零幺九九"), ("123-4567", "幺二三四五六七"),
                      ("30-40岁", "三十到四十岁")],
    "roman_headings": [("第XIV章", "第十四章")],
    "ordinal_suffixes": [("他获得了21st名", "他获得了第二十一名"), ("第21st届", "第二十一届")],
    "urls": [("访问https://www.example.com/a?b=1了解更多",
              "访问www点example点com斜杠a问号b等于幺了解更多"),
             ("邮箱a.b@example.com。", "邮箱a点b艾特example点com。")],
}


def spoken(language: str, table: dict) -> dict[str, str]:
    written = [w for cases in table.values() for w, _ in cases]
    args = [a for w in written for a in ("-t", w)]
    proc = run_cli("normalize", "--lang", language, *args)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(written)
    return dict(zip(written, lines))


@pytest.fixture(scope="module")
def said():
    return {"en": spoken("en", EN), "zh": spoken("zh", ZH)}


@pytest.mark.parametrize("kind", sorted(set(EN) | set(ZH)))
def test_read_as_people_say_it(said, kind):
    wrong = [(language, written, said[language][written], expected)
             for language, table in (("en", EN), ("zh", ZH))
             for written, expected in table.get(kind, [])
             if said[language][written] != expected]
    assert not wrong, "\n".join(f"{lang} {w!r}: got {g!r}, want {e!r}" for lang, w, g, e in wrong)
