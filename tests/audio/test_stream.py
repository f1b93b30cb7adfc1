"""`voxline synth FILE -o -`: the audio streams to standard output as chunks finish, in
order, so it can be piped into a player; everything else goes to standard error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import pytest

from conftest import REPO, run_cli
from voxline.audio import ffmpeg_exe, wav_header

SENTENCE = "今天天气很好，我们去公园散步吧。"


def synth_process(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from voxline.cli.main import main; main()", "synth", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))


@pytest.fixture
def long_text(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join([SENTENCE * 3] * 40), encoding="utf-8")
    return path


def test_the_first_audio_arrives_while_the_rest_is_still_being_made_and_matches_the_file(
        long_text, tmp_path):
    proc = synth_process(str(long_text), "-o", "-", "--backend", "espeak", "--lang", "zh",
                         "-w", "1", "--json")
    header = proc.stdout.read(44)
    first = proc.stdout.read(3200)
    still_running = proc.poll() is None
    rest = proc.stdout.read()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert header == wav_header(16000)
    assert len(first) == 3200 and any(first)
    assert still_running  # streamed, not written at the end
    report = json.loads(err[err.index("{"):])  # the report went to standard error
    assert report["documents"][0]["status"] == "new"
    streamed = first + rest
    # a file gets the backend's full-size chunks; a stream starts with a short one (one
    # sentence here) so its first audio comes sooner
    out = tmp_path / "long.wav"
    done = run_cli("synth", str(long_text), "-o", str(out), "--backend", "espeak", "--lang",
                   "zh", "--json")
    assert done.returncode == 0, done.stderr.decode()
    chunks = report["documents"][0]["chunks"]
    assert json.loads(done.stdout)["documents"][0]["chunks"] == chunks - 1
    # the same job with that short first chunk, written to a file (its chunks now from the
    # cache), holds the same PCM
    config = tmp_path / "voxline.toml"
    config.write_text("[synth]\nfirst_chunk_chars = 90\n", encoding="utf-8")
    done = run_cli("synth", str(long_text), "-o", str(out), "--backend", "espeak", "--lang",
                   "zh", "--config", str(config), "--force", "--json")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["documents"][0]["cached"] == chunks
    with wave.open(str(out)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        assert w.readframes(w.getnframes()) == streamed


def test_a_stream_reads_as_wav_and_mp3_streams_through_ffmpeg(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("Hello there. This goes straight to a player.", encoding="utf-8")
    proc = run_cli("synth", str(source), "-o", "-", "--backend", "espeak")
    assert proc.returncode == 0, proc.stderr.decode()
    # a streamed WAV's sizes say "unknown": FFmpeg (as players) reads it to the end
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "s16le",
                              "pipe:1"], input=proc.stdout, capture_output=True)
    assert len(decoded.stdout) == len(proc.stdout) - 44 > 16000
    mp3 = run_cli("synth", str(source), "-o", "-", "--backend", "espeak", "--format", "mp3")
    assert mp3.returncode == 0, mp3.stderr.decode()
    assert mp3.stdout[:3] == b"ID3" or mp3.stdout[0] == 0xFF
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "s16le",
                          "-ar", "16000", "pipe:1"], input=mp3.stdout, capture_output=True)
    assert abs(len(pcm.stdout) - len(decoded.stdout)) < 16000 * 2 * 0.15


@pytest.mark.parametrize("args, message", [
    (["--format", "m4a"], "m4a cannot be streamed"),
    (["--tui"], "the terminal UI needs an output file or folder"),
])
def test_what_cannot_be_streamed_is_a_usage_error(tmp_path, args, message):
    source = tmp_path / "a.txt"
    source.write_text("Hello.", encoding="utf-8")
    proc = run_cli("synth", str(source), "-o", "-", *args)
    assert proc.returncode == 2 and message in proc.stderr.decode()
    assert proc.stdout == b""


def test_several_inputs_cannot_share_standard_output():
    proc = run_cli("synth", str(REPO / "samples"), "-o", "-")
    assert proc.returncode == 2
    assert "-o - streams one input" in proc.stderr.decode() and proc.stdout == b""


def test_a_reader_that_stops_early_gets_a_clear_message_not_a_traceback(long_text):
    proc = synth_process(str(long_text), "-o", "-", "--backend", "espeak", "--lang", "zh",
                         "--no-cache")
    proc.stdout.read(1000)
    proc.stdout.close()  # `voxline … -o - | head -c 1000`
    err = proc.stderr.read().decode()
    assert proc.wait() == 5, err
    assert "standard output was closed before the audio ended" in err
    assert "Traceback" not in err


# -- WAV files are written directly (no FFmpeg: PCM needs no encoding) ---------------------

def test_a_wav_file_is_a_plain_pcm_wav_that_ffmpeg_reads_to_the_last_sample(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("\n\n".join(["Short paragraph number one."] * 5), encoding="utf-8")
    out = tmp_path / "a.wav"
    proc = run_cli("synth", str(source), "-o", str(out), "--backend", "espeak", "--json", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    with wave.open(str(out)) as w:
        frames = w.getnframes()
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
    assert len(data) == 44 + 2 * frames  # header sizes match the file: nothing after the data
    decoded = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(out),
                              "-f", "s16le", "pipe:1"], capture_output=True, check=True).stdout
    assert decoded == data[44:]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_file_size_limit_fails_the_document_clearly_instead_of_killing_voxline(tmp_path):
    """Under `ulimit -f` (SIGXFSZ at its default, which kills a process that writes past the
    limit), voxline reports the output error with its exit code and removes the partial."""
    import resource

    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(f"Paragraph {i} of the long report." for i in range(40)),
                      encoding="utf-8")
    out = tmp_path / "out"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = subprocess.run([sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o",
                           str(out / "book.wav"), "--backend", "espeak", "--no-cache"],
                          capture_output=True, preexec_fn=limit, cwd=REPO)
    err = proc.stderr.decode()
    assert proc.returncode == 5, err
    assert "File too large" in err and "Traceback" not in err
    assert list(out.iterdir()) == []
