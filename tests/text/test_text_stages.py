"""ssml-clean, sentence segmentation and language detection."""

import pytest

from voxline import langdetect
from voxline.errors import SSMLError
from voxline.segment import split_long, split_sentences
from voxline.ssml import Boundary, Pause, TextRun, clean_plain, clean_ssml


def runs(result):
    return [i for i in result.items if isinstance(i, TextRun)]


def test_ssml_breaks_prosody_sub_and_voice():
    result = clean_ssml(
        '<speak>Hi.<break time="500ms"/><prosody rate="slow" volume="+6dB">Slow '
        'words</prosody><break strength="strong"/>The <sub alias="World Health '
        'Organization">WHO</sub>.<voice name="espeak:cmn" xml:lang="zh-CN">你好</voice></speak>')
    items = result.items
    assert isinstance(items[1], Pause) and items[1].duration_s == 0.5
    slow = items[2]
    assert slow.text == "Slow words" and slow.prosody.rate == 0.75 and slow.prosody.volume_db == 6
    assert isinstance(items[3], Pause) and items[3].duration_s == 0.7
    sub = next(r for r in runs(result) if r.text == "World Health Organization")
    assert sub.source_text == "WHO"
    chinese = runs(result)[-1]
    assert chinese.voice == "espeak:cmn" and chinese.language == "zh"


def test_ssml_spans_point_into_the_source():
    text = "<speak>\n  <p>第一句。</p>\n  <p>Second one.</p>\n</speak>"
    for run in runs(clean_ssml(text)):
        assert text[run.span[0]:run.span[1]] == run.source_text


def test_ssml_paragraphs_and_sentences_are_boundaries():
    items = clean_ssml("<speak><p><s>One.</s><s>Two.</s></p></speak>").items
    kinds = [i.kind for i in items if isinstance(i, Boundary)]
    assert kinds.count("p") == 2 and kinds.count("s") == 4


@pytest.mark.parametrize("bad,message,line,column", [
    ("<speak>\n<p>unclosed</speak>", "mismatched tag", 2, 14),
    ("<speak><break time='soon'/></speak>", "break time", 1, 8),
    ("<speak><prosody rate='900%'>x</prosody></speak>", "outside 20%", 1, 8),
    ("<p>no speak root</p>", "root element must be <speak>", 1, 1),
    ("<speak>" + "<s>" * 70 + "deep" + "</s>" * 70 + "</speak>", "nested deeper", 1, 197),
    ("<!DOCTYPE speak><speak>x</speak>", "DOCTYPE", 1, 16),
])
def test_malformed_ssml_names_line_and_column(bad, message, line, column):
    with pytest.raises(SSMLError) as info:
        clean_ssml(bad)
    assert message in str(info.value)
    assert info.value.line == line and info.value.column == column


def test_unknown_and_unsupported_tags_warn_but_keep_text():
    result = clean_ssml("<speak><foo>kept</foo><emphasis>also kept</emphasis></speak>")
    assert [r.text for r in runs(result)] == ["kept", "also kept"]
    assert any("<foo>" in w for w in result.warnings)
    assert any("emphasis" in w for w in result.warnings)


def test_plain_text_paragraphs():
    items = clean_plain("First para.\nStill first.\n\n\nSecond para.").items
    assert [type(i).__name__ for i in items] == ["TextRun", "Boundary", "TextRun"]


@pytest.mark.parametrize("text,expected", [
    ("今天天气很好。我们去公园吧！你觉得呢？", ["今天天气很好。", "我们去公园吧！", "你觉得呢？"]),
    ("Dr. Smith arrived at 3.5 p.m. today. He left.", ["Dr. Smith arrived at 3.5 p.m. today.",
                                                       "He left."]),
    ("J. K. Rowling wrote it. Really?", ["J. K. Rowling wrote it.", "Really?"]),
    ("It costs $20.50. Cheap!", ["It costs $20.50.", "Cheap!"]),
    ("Headline\nBody text here.", ["Headline", "Body text here."]),
    ("他说：“好的。”然后走了。", ["他说：“好的。”", "然后走了。"]),
    ("Hello.你好。", ["Hello.", "你好。"]),
    ("Wait... what?", ["Wait...", "what?"]),
])
def test_sentence_split(text, expected):
    assert [s for s, _ in split_sentences(text)] == expected


def test_sentence_spans():
    text = "  One.  Two! "
    for sentence, (start, end) in split_sentences(text):
        assert text[start:end] == sentence


def test_run_on_text_is_split_within_budget():
    chinese = "这是一段没有任何标点符号的很长的文字" * 30
    pieces = split_long(chinese, 150)
    assert all(len(p) <= 150 for p in pieces) and "".join(pieces) == chinese
    english = ", ".join(["a clause of several words"] * 40)
    pieces = split_long(english, 100)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces).replace(" ", "") == english.replace(" ", "")


@pytest.mark.parametrize("sentence,language", [
    ("今天天气很好。", "zh"),
    ("请打开App的设置页面。", "zh"),  # an English word stays with the Chinese sentence
    ("我哋今日去咗睇戲。", "yue"),
    ("Hello there.", "en"),
    ("こんにちは。", "ja"),
    ("안녕하세요.", "ko"),
    ("12.5%", None),
])
def test_language_per_sentence(sentence, language):
    assert langdetect.detect(sentence) == language


@pytest.mark.parametrize("code,canonical", [
    ("zh-CN", "zh"), ("zh-HK", "yue"), ("en-US", "en"), ("yue", "yue"), ("cmn", "zh"),
])
def test_canonical_language(code, canonical):
    assert langdetect.canonical_language(code) == canonical


def test_short_breaks_stay_inside_a_chunk_only_for_backends_that_take_them():
    from voxline import Sentence
    from voxline.segment import pack_chunks

    def sentence(text, pause):
        return Sentence(text=text, source_text=text, span=(0, len(text)), language="zh",
                        backend="b", pause_after_s=pause)

    sentences = [sentence("你好", 0.2), sentence("世界。", 0.6), sentence("再见。", 0.0)]
    cut = pack_chunks(sentences, {"b": 100}, 0.2)
    assert [c.text for c in cut] == ["你好", "世界。", "再见。"]
    assert all(c.breaks == () for c in cut)
    kept = pack_chunks(sentences, {"b": 100}, 0.2, {"b": 0.3}, paragraph_pause_s=0.6)
    assert [(c.text, c.breaks, c.pause_after_s) for c in kept] == [
        ("你好世界。", ((2, 0.2),), 0.6), ("再见。", (), 0.2)]
    # a paragraph's pause is never kept inside, however long the backend's limit
    assert len(pack_chunks(sentences, {"b": 100}, 0.2, {"b": 5.0}, 0.6)) == 2


def test_a_short_first_chunk_ends_at_the_first_sentence_or_clause_and_the_rest_fill_up():
    from voxline import Sentence
    from voxline.segment import pack_chunks

    def sentence(text, language="en"):
        return Sentence(text=text, source_text=text, span=(0, len(text)), language=language,
                        backend="b")

    en = [sentence(t) for t in ("The council met on Tuesday.",
                                "It approved the budget after a long debate that ran late.",
                                "Critics said it ignores rural areas.",
                                "The mayor disagreed.")]
    whole = pack_chunks(en, {"b": 400}, 0.2)
    short = pack_chunks(en, {"b": 400}, 0.2, first_chars=60)
    assert [c.text for c in whole] == [" ".join(s.text for s in en)]
    assert [c.text for c in short] == [en[0].text, " ".join(s.text for s in en[1:])]
    # a long first sentence is cut at a clause mark, never inside a clause
    long = sentence("When the meeting finally opened, long after the posted time, the "
                    "council turned to the budget.")
    assert [c.text for c in pack_chunks([long, en[3]], {"b": 400}, 0.2, first_chars=40)] == [
        "When the meeting finally opened,",
        "long after the posted time, the council turned to the budget. The mayor disagreed."]
    # CJK characters count three letters each
    zh = [sentence(t, "zh") for t in ("您好，欢迎致电客服中心。", "请问有什么可以帮您？",
                                      "您的包裹预计明天下午送达。")]
    assert [c.text for c in pack_chunks(zh, {"b": 100}, 0.2, first_chars=60)] == [
        "您好，欢迎致电客服中心。", "请问有什么可以帮您？您的包裹预计明天下午送达。"]
