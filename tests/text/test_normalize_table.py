"""Written form → spoken form, table-driven, for Chinese and English."""

import re

import pytest

from voxline.plugins.normalize_en import normalize_english
from voxline.plugins.normalize_zh import ChineseNormalizer, read_number

ZH = [
    ("2024年3月5日，营收增长12.5%，达到3.2亿元，电话010-64035547。",
     "二零二四年三月五日，营收增长百分之十二点五，达到三点二亿元，电话零一零六四零三五五四七。"),
    ("温度-3℃到5℃", "温度负三摄氏度到五摄氏度"),
    ("1/3的人", "三分之一的人"),
    ("下午3:45开会", "下午三点四十五分开会"),
    ("2024-03-05", "二零二四年三月五日"),
    ("共有1,234,567人", "共有一百二十三万四千五百六十七人"),
    ("身高1.8m，体重70kg", "身高一点八米，体重七十千克"),
    ("比分3:2", "比分三比二"),
    ("第3名", "第三名"),
    ("增长-2.3%", "增长负百分之二点三"),
    ("收入$3.2亿", "收入三点二亿美元"),
    ("价格￥20元", "价格二十元"),
    ("¥1,000", "一千元"),
    ("约5~10分钟", "约五到十分钟"),
    ("30-40岁", "三十到四十岁"),
    ("7×8=56", "七乘八等于五十六"),
    ("3+4", "三加四"),
    ("1:2:3", "一比二比三"),
    ("12:30:15", "十二点三十分十五秒"),
    ("CPU占用90%", "CPU占用百分之九十"),
    ("电话13812345678", "电话幺三八幺二三四五六七八"),
    ("100km/h", "每小时一百公里"),
    ("1/2", "二分之一"),
    ("GDP增长5.2%", "GDP增长百分之五点二"),
    ("2024年", "二零二四年"),
    ("3月5日", "三月五日"),
    ("每股收益0.35元", "每股收益零点三五元"),
    ("净利润4,560万元", "净利润四千五百六十万元"),
    ("29.63万亿元", "二十九点六三万亿元"),
    ("第1季度", "第一季度"),
    ("€50", "五十欧元"),
]

EN = [
    ("$20.50", "twenty dollars and fifty cents"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$1.2 billion", "one point two billion dollars"),
    ("£5", "five pounds"),
    ("€3.50", "three euros and fifty cents"),
    ("the 1980s", "the nineteen eighties"),
    ("the '90s", "the nineties"),
    ("the 2040s", "the twenty forties"),
    ("at 3:45 pm", "at three forty-five p m"),
    ("at 3:05 am", "at three oh five a m"),
    ("at 7 pm", "at seven p m"),
    ("at 14:00", "at fourteen hundred"),
    ("1,234,567", "one million two hundred thirty-four thousand five hundred sixty-seven"),
    ("12.5%", "twelve point five percent"),
    ("-3%", "minus three percent"),
    ("March 5, 2024", "March fifth twenty twenty-four"),
    ("5 March 2024", "the fifth of March twenty twenty-four"),
    ("2024-03-05", "March fifth twenty twenty-four"),
    ("3/5/2024", "March fifth twenty twenty-four"),
    ("April 30th", "April thirtieth"),
    ("the 1st place", "the first place"),
    ("the 22nd floor", "the twenty-second floor"),
    ("in 2019", "in twenty nineteen"),
    ("since 1905", "since nineteen oh five"),
    ("in 2005", "in two thousand five"),
    ("in 1900", "in nineteen hundred"),
    ("3/4", "three quarters"),
    ("1/2", "one half"),
    ("2/3", "two thirds"),
    ("5 kg", "five kilograms"),
    ("1 km", "one kilometer"),
    ("8.5 km", "eight point five kilometers"),
    ("20°C", "twenty degrees Celsius"),
    ("16 GB", "sixteen gigabytes"),
    ("60 mph", "sixty miles per hour"),
    ("call 555-123-4567", "call five five five, one two three, four five six seven"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("voted 7-2", "voted seven to two"),
    ("pages 10–20", "pages ten to twenty"),
    ("a 2:1 ratio", "a two to one ratio"),
    ("3.14", "three point one four"),
    ("-5 degrees", "minus five degrees"),
    ("2 + 2 = 4", "two plus two equals four"),
    ("#1 hit", "number one hit"),
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. Lee", "Mister Lee"),
    ("R&D", "R and D"),
    ("order number 20240503", "order number two oh two four oh five oh three"),
    ("007", "oh oh seven"),
    ("42", "forty-two"),
    ("100", "one hundred"),
    ("1,000", "one thousand"),
]


@pytest.fixture(scope="module")
def zh():
    return ChineseNormalizer()


@pytest.mark.parametrize("written,spoken", ZH, ids=[w for w, _ in ZH])
def test_chinese(zh, written, spoken):
    assert zh.normalize(written, "zh") == spoken


@pytest.mark.parametrize("written,spoken", EN, ids=[w for w, _ in EN])
def test_english(written, spoken):
    assert normalize_english(written) == spoken


def test_table_is_large_enough():
    assert len(ZH) + len(EN) >= 60


@pytest.mark.parametrize("written", [w for w, _ in ZH])
def test_no_digits_or_percent_left_in_chinese(zh, written):
    assert not re.search(r"[\d%]", zh.normalize(written, "zh"))


@pytest.mark.parametrize("written", [w for w, _ in EN])
def test_no_digits_left_in_english(written):
    assert not re.search(r"[\d%$€£]", normalize_english(written))


@pytest.mark.parametrize("number,spoken", [
    ("0", "零"), ("10", "十"), ("15", "十五"), ("105", "一百零五"), ("1000", "一千"),
    ("10086", "一万零八十六"), ("300000000", "三亿"), ("3.05", "三点零五"), ("007", "零零七"),
])
def test_chinese_fallback_reader(number, spoken):
    assert read_number(number) == spoken
