"""Long-form production: loudness normalization and subtitles, measured from the files the
real local backends (Piper, eSpeak NG) produce."""

from __future__ import annotations

import json
import re
import subprocess
import wave

import numpy as np
import pytest

from conftest import run_cli
from voxline.audio import ffmpeg_exe
from voxline.subtitles import parse


def ebur128(path) -> dict:
    """Integrated loudness (LUFS) and true peak (dBTP) as FFmpeg's ebur128 filter reads the
    file, independently of how voxline measured it."""
    log = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-af",
         "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
        capture_output=True, check=True).stderr.decode()
    summary = log[log.rindex("Summary:"):]
    return {"i": float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
            "tp": float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))}


def read_pcm(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


# -- loudness ---------------------------------------------------------------------------

@pytest.mark.parametrize("target, backend, lang, text", [
    (-16, "piper", "en", "The council approved the budget on Tuesday. Work starts in May, "
                         "and the first trains run next year. Fares stay the same."),
    (-23, "espeak", "zh", "国家统计局今天发布数据。工业增加值同比增长百分之七。消费市场继续恢复。"),
])
def test_loudness_reaches_the_target_within_one_lu(tmp_path, target, backend, lang, text):
    source = tmp_path / "bulletin.txt"
    source.write_text(text, encoding="utf-8")
    plain, loud = tmp_path / "plain.wav", tmp_path / "loud.wav"
    assert run_cli("synth", str(source), "-o", str(plain), "--backend", backend,
                   "--lang", lang).returncode == 0
    done = run_cli("synth", str(source), "-o", str(loud), "--backend", backend, "--lang",
                   lang, "--loudness", str(target), "--peak", "-1", "--json")
    assert done.returncode == 0, done.stderr.decode()
    before, after = ebur128(plain), ebur128(loud)
    assert abs(before["i"] - target) > 1.5  # the test means something: it had to change
    assert abs(after["i"] - target) <= 1.0, (before, after)
    assert after["tp"] <= -1.0 + 0.3, after
    # the same length of audio, and the report says what was measured
    assert read_pcm(loud)[0].size == read_pcm(plain)[0].size
    loudness = json.loads(done.stdout)["documents"][0]["loudness"]
    assert abs(loudness["output_lufs"] - after["i"]) < 0.3
    assert abs(loudness["input_lufs"] - before["i"]) < 0.3


def test_loudness_in_a_compressed_format_and_what_is_refused(tmp_path):
    source = tmp_path / "prompt.txt"
    source.write_text("Thank you for calling. Your call is important to us.", encoding="utf-8")
    out = tmp_path / "prompt.mp3"
    done = run_cli("synth", str(source), "-o", str(out), "--backend", "piper",
                   "--loudness", "-18")
    assert done.returncode == 0, done.stderr.decode()
    measured = ebur128(out)
    # the MP3 encoder adds its own error to the limited peaks: under 0 dBTP, and reported
    assert abs(measured["i"] + 18) <= 1.0 and measured["tp"] < 0, measured
    report = run_cli("synth", str(source), "-o", str(tmp_path / "again.mp3"), "--backend",
                     "piper", "--loudness", "-18", "--json")
    loudness = json.loads(report.stdout)["documents"][0]["loudness"]
    assert abs(loudness["output_true_peak_dbtp"] - ebur128(tmp_path / "again.mp3")["tp"]) < 0.2
    assert "loudness: " in done.stdout.decode() and "-18" in done.stdout.decode()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files

    streamed = run_cli("synth", str(source), "-o", "-", "--loudness", "-16")
    assert streamed.returncode == 2
    assert "cannot stream" in streamed.stderr.decode()
    peak_only = run_cli("synth", str(source), "-o", str(tmp_path / "x.wav"), "--peak", "-2")
    assert peak_only.returncode == 2 and "--loudness" in peak_only.stderr.decode()
    silly = run_cli("synth", str(source), "-o", str(tmp_path / "x.wav"), "--loudness", "10")
    assert silly.returncode == 2 and "between -70 and -5" in silly.stderr.decode()


# -- subtitles --------------------------------------------------------------------------

def speech_spans(pcm: np.ndarray, rate: int, min_gap_s: float = 0.15,
                 min_span_s: float = 0.03) -> list[tuple[float, float]]:
    """Stretches of speech in `pcm` (the test's own silence detection): 10 ms frames with an
    RMS level over -40 dBFS, joined across gaps shorter than `min_gap_s`, stretches shorter
    than `min_span_s` (a click) dropped."""
    frame = rate // 100
    frames = pcm[: pcm.size // frame * frame].astype(np.float64).reshape(-1, frame)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 328
    spans: list[list[float]] = []
    for i in np.flatnonzero(loud):
        start, end = i * frame / rate, (i + 1) * frame / rate
        if spans and start - spans[-1][1] < min_gap_s:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(a, b) for a, b in spans if b - a >= min_span_s]


@pytest.mark.parametrize("backend, lang, sentences", [
    ("espeak", "en", ["The train leaves at 9:45 from platform 2.", "Tickets cost $5.",
                      "Please keep your bags with you.", "Thank you for travelling with us."]),
    ("piper", "en", ["Good morning.", "Here is the news at 8 o'clock.",
                     "Rain is expected later today.", "That is all for now."]),
    ("espeak", "zh", ["今天气温25度。", "明天有小雨。", "请大家注意出行安全。"]),
])
def test_cues_follow_the_audio_within_50_ms_and_show_the_written_text(
        tmp_path, backend, lang, sentences):
    source = tmp_path / "script.txt"
    # paragraphs: a clear pause between sentences, so silence detection finds each one
    source.write_text("\n\n".join(sentences), encoding="utf-8")
    out = tmp_path / "script.wav"
    done = run_cli("synth", str(source), "-o", str(out), "--backend", backend, "--lang", lang,
                   "--subtitles", "srt", "--json")
    assert done.returncode == 0, done.stderr.decode()
    srt = (tmp_path / "script.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:")
    cues = parse(srt)
    assert [c.text for c in cues] == sentences  # as written: "$5", "9:45", "25度"
    pcm, rate = read_pcm(out)
    spans = speech_spans(pcm, rate)
    assert len(spans) == len(cues), (spans, cues)
    for cue, (start, end) in zip(cues, spans):
        assert abs(cue.start_s - start) <= 0.05, (cue, start)
        assert abs(cue.end_s - end) <= 0.05, (cue, end)
    report = json.loads(done.stdout)["documents"][0]
    assert report["subtitles"] == str(tmp_path / "script.srt") and report["cues"] == len(cues)


def test_a_long_sentence_becomes_several_cues_and_vtt_works(tmp_path):
    sentence = ("When the storm reached the coast on Sunday night, thousands of homes lost "
                "power, roads were closed across the region, and schools stayed shut until "
                "the water went down on Wednesday.")
    source = tmp_path / "storm.txt"
    source.write_text(sentence + "\n\nCrews are still at work.", encoding="utf-8")
    out = tmp_path / "storm.wav"
    done = run_cli("synth", str(source), "-o", str(out), "--backend", "espeak",
                   "--subtitles", "vtt")
    assert done.returncode == 0, done.stderr.decode()
    vtt = (tmp_path / "storm.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n") and "." in vtt.split("-->")[0]
    cues = parse(vtt)
    assert len(cues) >= 3 and cues[-1].text == "Crews are still at work."
    # the long sentence's cues read back as the sentence, each short enough to read
    assert " ".join(c.text for c in cues[:-1]) == sentence
    assert all(len(c.text) <= 84 for c in cues)
    assert all(a.end_s <= b.start_s for a, b in zip(cues, cues[1:]))
    assert cues[-1].end_s <= read_pcm(out)[0].size / 16000 + 0.01


def test_subtitles_come_back_when_removed_and_are_refused_for_a_stream(tmp_path):
    source = tmp_path / "note.txt"
    source.write_text("One. Two. Three.", encoding="utf-8")
    out = tmp_path / "note.wav"
    args = ("synth", str(source), "-o", str(out), "--backend", "espeak", "--subtitles", "srt")
    assert run_cli(*args).returncode == 0
    first = (tmp_path / "note.srt").read_text()
    (tmp_path / "note.srt").unlink()
    again = run_cli(*args)
    assert again.returncode == 0 and (tmp_path / "note.srt").read_text() == first
    assert "up to date" in run_cli(*args).stdout.decode()
    streamed = run_cli("synth", str(source), "-o", "-", "--subtitles", "srt")
    assert streamed.returncode == 2 and "beside the audio" in streamed.stderr.decode()


# -- dialogue scripts -------------------------------------------------------------------

def median_pitch_hz(pcm: np.ndarray, rate: int) -> float:
    """The median fundamental frequency of the voiced 40 ms frames of `pcm`, by
    autocorrelation (60–400 Hz)."""
    frame = int(0.04 * rate)
    found = []
    for i in range(0, pcm.size - frame, frame):
        x = pcm[i:i + frame].astype(np.float64)
        if np.sqrt((x ** 2).mean()) < 1000:
            continue
        x -= x.mean()
        corr = np.correlate(x, x, "full")[frame - 1:]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.3 * corr[0]:
            found.append(rate / lag)
    return float(np.median(found))


def test_each_speaker_is_voiced_with_their_own_voice_and_turns_are_paused(tmp_path):
    lines = [("Agent", "Thank you for calling. How can I help?"),
             ("Customer", "My order has not arrived."),
             ("Agent", "I am sorry to hear that.")]
    script = tmp_path / "call.txt"
    script.write_text("\n".join(f"{who}: {line}" for who, line in lines), encoding="utf-8")
    out = tmp_path / "call.wav"
    # a male and a female eSpeak NG voice
    done = run_cli("synth", str(script), "-o", str(out), "--voices",
                   "Agent=espeak:en-us,Customer=espeak:en-us+f2", "--subtitles", "srt",
                   "--json")
    assert done.returncode == 0, done.stderr.decode()
    pcm, rate = read_pcm(out)
    turns = speech_spans(pcm, rate, min_gap_s=0.35)  # pauses inside a turn are shorter
    assert len(turns) == 3, turns
    pitch = [median_pitch_hz(pcm[int(a * rate):int(b * rate)], rate) for a, b in turns]
    assert pitch[0] < 150 and pitch[2] < 150 and pitch[1] > 180, pitch
    # at least the 0.4 s turn pause between turns (plus the voices' own silent ends)
    assert all(0.4 <= b[0] - a[1] <= 0.7 for a, b in zip(turns, turns[1:])), turns
    # the labels are not spoken, but the cues show who speaks, as the script writes it
    cues = parse((tmp_path / "call.srt").read_text(encoding="utf-8"))
    assert " ".join(c.text for c in cues) == " ".join(f"{who}: {line}" for who, line in lines)
    report = json.loads(done.stdout)["documents"][0]
    assert report["chunks"] == 4 and not report["warnings"]


def test_dialogue_voices_from_the_config_with_chinese_labels(tmp_path):
    config = tmp_path / "voxline.toml"
    config.write_text('[dialogue]\nturn_pause = 0.8\n[dialogue.voices]\n'
                      '"客服" = "espeak:cmn"\n"用户" = "espeak:cmn+f2"\n', encoding="utf-8")
    script = tmp_path / "客服.txt"
    script.write_text("客服：您好，请问有什么可以帮您？\n用户：我的快递还没到。\n经理：好的。\n经理：再见。",
                      encoding="utf-8")
    out = tmp_path / "call.wav"
    done = run_cli("synth", str(script), "-o", str(out), "--config", str(config), "--json",
                   "--subtitles", "srt")
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)["documents"][0]
    # two turns, then the unmapped label's lines read as narration, with a warning
    assert report["chunks"] >= 3
    assert any("'经理'" in w and "no voice is mapped" in w for w in report["warnings"])
    cues = parse((tmp_path / "call.srt").read_text(encoding="utf-8"))
    assert cues[0].text.startswith("客服：您好") and cues[1].text == "用户：我的快递还没到。"
    # the turn pause from the config: the gap between the first two turns
    assert 0.75 <= cues[1].start_s - cues[0].end_s <= 0.95
    bad = run_cli("synth", str(script), "-o", str(out), "--voices", "客服")
    assert bad.returncode == 2 and "LABEL=VOICE" in bad.stderr.decode()


# -- dialects and languages per span ----------------------------------------------------

SENTENCE = "我们明天早上九点在火车站见面。"


def _synth_pcm(tmp_path, name: str, text: str, *args: str) -> np.ndarray:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    out = tmp_path / f"{name}.wav"
    done = run_cli("synth", str(source), "-o", str(out), "--no-cache", "-w", "1", *args)
    assert done.returncode == 0, done.stderr.decode()
    return read_pcm(out)[0]


def test_dialect_and_lang_spans_are_spoken_by_the_cantonese_voice(tmp_path):
    cantonese = _synth_pcm(tmp_path, "yue.txt", SENTENCE, "--voice", "espeak:yue")
    mandarin = _synth_pcm(tmp_path, "cmn.txt", SENTENCE, "--voice", "espeak:cmn")
    assert abs(cantonese.size - mandarin.size) > 0.1 * mandarin.size  # they differ audibly
    # --dialect yue: the Chinese text goes to eSpeak NG's Cantonese voice
    assert np.array_equal(_synth_pcm(tmp_path, "d.txt", SENTENCE, "--dialect", "yue"),
                          cantonese)
    assert np.array_equal(_synth_pcm(tmp_path, "d2.txt", SENTENCE, "--dialect", "Cantonese"),
                          cantonese)
    # a <lang> span and a <voice> span in SSML: that span in Cantonese, the rest Mandarin
    rest = "今天天气很好。"
    for markup in (f'<lang xml:lang="yue">{SENTENCE}</lang>',
                   f'<voice name="espeak:yue">{SENTENCE}</voice>'):
        pcm = _synth_pcm(tmp_path, "s.ssml", f"<speak>{markup}{rest}</speak>")
        assert pcm[:cantonese.size].tobytes() == cantonese.tobytes(), markup
        assert pcm.size > cantonese.size + 16000 * 0.5  # and the Mandarin sentence after it


def test_a_dialect_served_by_a_configured_server(tmp_path):
    from voxline.testing.servers import ChatTTSSim

    source = tmp_path / "news.txt"
    source.write_text("今天天气很好。" + SENTENCE, encoding="utf-8")
    with ChatTTSSim(16000, ssml=True) as v1:
        config = tmp_path / "voxline.toml"
        config.write_text(f'[routes]\nyue = "chattts-v1:cantonese"\n'
                          f'[backends.chattts-v1]\nurl = "{v1.url}"\n', encoding="utf-8")
        # the deployment must say it serves Cantonese
        refused = run_cli("synth", str(source), "-o", str(tmp_path / "news.wav"), "--config",
                          str(config), "--dialect", "yue")
        assert refused.returncode == 4 and "languages" in refused.stderr.decode()
        assert not v1.speech_entries()
        with open(config, "a", encoding="utf-8") as handle:
            handle.write('languages = ["zh", "en", "yue"]\n')
        done = run_cli("synth", str(source), "-o", str(tmp_path / "news.wav"), "--config",
                       str(config), "--dialect", "yue", "--no-cache", "--json")
        assert done.returncode == 0, done.stderr.decode()
        requests = v1.speech_entries()
    assert requests and all(e.body["voice"] == "cantonese" for e in requests)
    assert json.loads(done.stdout)["documents"][0]["backends"] == {"chattts-v1": len(requests)}


def test_a_language_no_backend_speaks_is_said_clearly(tmp_path):
    source = tmp_path / "news.txt"
    source.write_text(SENTENCE, encoding="utf-8")
    done = run_cli("synth", str(source), "-o", str(tmp_path / "x.wav"), "--dialect", "wuu")
    assert done.returncode == 4
    message = done.stderr.decode()
    assert "no installed backend speaks 'wuu'" in message and "[routes] wuu" in message
    assert "Traceback" not in message
    ssml = tmp_path / "klingon.ssml"
    ssml.write_text('<speak>Hello. <lang xml:lang="tlh">Qapla</lang></speak>', encoding="utf-8")
    done = run_cli("synth", str(ssml), "-o", str(tmp_path / "k.wav"), "--json")
    assert done.returncode == 4
    error = json.loads(done.stdout)["documents"][0]["error"]
    assert "klingon.ssml" in error and "'tlh'" in error and "Qapla" in error


# -- adaptive quality -------------------------------------------------------------------

@pytest.mark.slow
def test_a_backend_over_its_rtf_limit_hands_the_rest_of_the_job_to_a_cheaper_one(tmp_path):
    source = tmp_path / "long.txt"
    source.write_text("\n\n".join(
        f"Paragraph {n}. The council met again on Tuesday to discuss the budget for next year."
        for n in range(1, 25)), encoding="utf-8")
    out = tmp_path / "long.wav"
    env = {"VOXLINE_STATE_DIR": str(tmp_path / "state")}
    # Piper runs far slower than 0.01x real time here, so the limit is passed at once
    done = run_cli("synth", str(source), "-o", str(out), "--backend", "piper", "-w", "1",
                   "--no-cache", "--max-rtf", "0.01", "--degrade-to", "espeak", "--json",
                   env=env)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    [switch] = report["adaptive"]
    assert switch["backend"] == "piper" and switch["to"] == "espeak"
    assert switch["rtf"] > 0.01 and switch["after_chunk"] == 3  # the window: 3 chunks
    doc = report["documents"][0]
    assert doc["backends"]["espeak"] == switch["chunks"] == doc["adapted"] > 10
    assert any("real-time factor" in w for w in doc["warnings"])
    # in the manifest, the chunks are Piper's up to a point and eSpeak NG's after it
    shown = json.loads(run_cli("jobs", "show", report["job"], "--json", env=env).stdout)
    served = [c["backend"] for c in shown["documents"][0]["chunks"]]
    first = served.index("espeak")
    assert set(served[:first]) == {"piper"} and set(served[first:]) == {"espeak"}
    assert abs(read_pcm(out)[0].size / 16000 - doc["audio_s"]) < 0.01

    relaxed = run_cli("synth", str(source), "-o", str(tmp_path / "ok.wav"), "--backend",
                      "piper", "-w", "1", "--max-rtf", "50", "--degrade-to", "espeak", "--json")
    assert json.loads(relaxed.stdout)["adaptive"] == []
    alone = run_cli("synth", str(source), "-o", str(tmp_path / "x.wav"), "--max-rtf", "0.8")
    assert alone.returncode == 2 and "degrade_to" in alone.stderr.decode()
