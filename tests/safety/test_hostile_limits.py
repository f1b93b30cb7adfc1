"""Limits that must hold against hostile or unlucky use (issue 19, items 4-9): silence a
document asks for, WAVs past 4 GiB, the cache's size bound, damaged databases, two
processes on one job, SIGTERM, and jobs run one after another on one Pipeline."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli
from voxline.job import InputSpec, Job, Pipeline
from voxline.pluginmanager import build_registry
from voxline.settings import load_settings


def test_one_pipeline_runs_two_jobs_without_sharing_their_state(tmp_path, pm_with_tone):
    """The TUI's queue runs job after job on one Pipeline: adaptive quality's measurements
    and switches, and warnings given once a job, belong to each job."""
    slow = tmp_path / "slow.txt"  # short chunks: tone's 100 ms a call is a high RTF
    slow.write_text("\n\n".join(f"Go {i}." for i in range(8)))
    fast = tmp_path / "fast.txt"  # long chunks: the same 100 ms is a low RTF
    fast.write_text("\n\n".join(f"This sentence is long enough {i}." for i in range(4)))
    pitch = tmp_path / "pitch.ssml"
    pitch.write_text('<speak><prosody pitch="high">Raised voice here.</prosody></speak>')
    settings = load_settings(
        overrides={"backend": "tone", "workers": 1, "max_rtf": 0.1, "degrade_to": "espeak",
                   "cache": "off"},
        env={}, backend_overrides={"tone": {"delay_s": 0.1}})
    pipeline = Pipeline(pm_with_tone, build_registry(pm_with_tone), settings)

    def run(*sources: Path, out: str):
        specs = [InputSpec(s, tmp_path / out / f"{s.stem}.wav") for s in sources]
        return pipeline.run(Job(specs, settings)).to_dict()

    first = run(slow, pitch, out="one")
    [switch] = first["adaptive"]
    assert switch["backend"] == "tone" and switch["chunks"] > 0
    assert first["documents"][0]["backends"].get("espeak", 0) > 0

    second = run(fast, pitch, out="two")
    assert second["adaptive"] == []  # job 1's switch is not job 2's
    assert [d["backends"] for d in second["documents"]] == [{"tone": 4}, {"tone": 1}]
    for report in (first, second):  # each job warns about its own documents
        assert any("no pitch control" in w for w in report["documents"][1]["warnings"])


def _paragraphs(path: Path, count: int) -> Path:
    path.write_text("\n\n".join(f"Paragraph {i} of the report." for i in range(count)))
    return path


def _slow_tone(tmp_path: Path, delay_s: float) -> Path:
    config = tmp_path / "slow.toml"
    config.write_text(f"[backends.tone]\ndelay_s = {delay_s}\n")
    return config


def _jobs(env: dict) -> list[dict]:
    proc = run_cli("jobs", "--json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "voxline.cli.main", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env})


def _wait_for_chunks(env: dict, proc: subprocess.Popen, chunks: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        found = _jobs(env)
        if found and found[0]["chunks_done"] >= chunks:
            return
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)


def test_a_second_process_on_a_running_job_is_refused(tmp_path, tone_env):
    source = _paragraphs(tmp_path / "report.txt", 20)
    out = tmp_path / "report.wav"
    args = ["synth", str(source), "-o", str(out), "--backend", "tone", "--workers", "1",
            "--config", str(_slow_tone(tmp_path, 0.3)), "-q"]  # 6 s in all
    first = _start(args, tone_env)
    try:
        _wait_for_chunks(tone_env, first, 3)
        second = run_cli(*args, env=tone_env)
        assert second.returncode == 8, second.stderr.decode()
        message = second.stderr.decode()
        assert "already running" in message and f"process {first.pid}" in message
        assert "Traceback" not in message and first.poll() is None
    finally:
        first.kill()
        first.wait()
    # the killed process's lock does not block: the same command resumes the job
    third = run_cli(*args[:-1], "--json", env=tone_env)
    assert third.returncode == 0, third.stderr.decode()
    assert json.loads(third.stdout)["documents"][0]["status"] == "resumed"
    [job] = _jobs(tone_env)
    assert job["state"] == "done" and job["chunks_done"] == job["chunks_total"] == 20


def test_sigterm_stops_a_job_like_ctrl_c(tmp_path, tone_env):
    """systemd, docker and `timeout` stop a process with SIGTERM: the job ends cleanly with
    exit 143, leaves no partial file, and the same command resumes it."""
    source = _paragraphs(tmp_path / "report.txt", 24)
    out = tmp_path / "out"
    args = ["synth", str(source), "-o", str(out), "--backend", "tone", "--workers", "1",
            "--config", str(_slow_tone(tmp_path, 0.2)), "--json", "-q"]  # 5 s in all
    proc = _start(args, tone_env)
    _wait_for_chunks(tone_env, proc, 5)
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr.decode()
    assert "SIGTERM" in stderr.decode() and b"Traceback" not in stderr
    stopped = json.loads(stdout)
    assert stopped["interrupted"] and stopped["documents"][0]["output"] is None
    assert list(out.iterdir()) == []  # no .part file, nothing under the final name
    [job] = _jobs(tone_env)
    assert job["state"] == "interrupted" and 5 <= job["chunks_done"] < 24
    again = run_cli(*args, env=tone_env)
    assert again.returncode == 0, again.stderr.decode()
    report = json.loads(again.stdout)
    assert report["documents"][0]["status"] == "resumed"
    assert report["cache"]["hits"] >= job["chunks_done"]


def _ssml(path: Path, body: str) -> Path:
    path.write_text(f"<speak>{body}</speak>")
    return path


def test_breaks_cannot_amplify_a_small_file_into_hours_of_silence(tmp_path, tone_env):
    spread = _ssml(tmp_path / "spread.ssml",  # a 30 s break after each of 60 short words
                   "".join(f'Word {i}. <break time="30s"/>' for i in range(60)))
    in_a_row = _ssml(tmp_path / "row.ssml",  # 50 breaks at one point add up
                     'Start here. ' + '<break time="30s"/>' * 50 + ' And the end.')
    huge = _ssml(tmp_path / "huge.ssml",  # each break is over the 30 s a break may be
                 "".join(f'Item {i}. <break time="3600s"/>' for i in range(100)))
    proc = run_cli("synth", str(spread), str(in_a_row), str(huge), "-o", str(tmp_path / "out"),
                   "--backend", "tone", "--sample-rate", "8000", "--json", env=tone_env)
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout[proc.stdout.index(b"{"):])
    docs = {Path(d["source"]).name: d for d in report["documents"]}
    inserted = {}
    for name, doc in docs.items():
        [capped] = [w for w in doc["warnings"] if "max_silence_ratio" in w]  # once a document
        assert f"{name}: pauses asked for" in proc.stderr.decode()  # naming the file
        speech_s, inserted[name] = map(float, re.search(
            r"against ([\d.]+)s of speech; ([\d.]+)s inserted", capped).groups())
        assert abs(doc["audio_s"] - speech_s - inserted[name]) < 0.1  # the file's own figures
        assert inserted[name] <= 60 + 2 * speech_s + 0.01  # 60 s + 2x the speech at most
    assert docs["spread.ssml"]["audio_s"] < 1770 / 4  # 60 breaks of 30 s asked for
    assert inserted["row.ssml"] <= 30.01  # one point: 30 s, not 1500 s
    assert [w for w in docs["huge.ssml"]["warnings"] if "<break>" in w] == [
        "100 <break>s longer than 30s (up to 3600s) shortened to 30s"]
    plan = json.loads(run_cli("synth", str(in_a_row), "-o", str(tmp_path / "plan"),
                              "--backend", "tone", "--dry-run", "--json", env=tone_env).stdout)
    assert plan["audio_s"] < 30 + 4  # --dry-run estimates within the same caps


def test_a_wav_past_4_gib_is_written_as_rf64(tmp_path):
    """Past WAV_MAX_DATA_BYTES (4 GiB of audio, lowered here so no test writes 4 GB) the
    output is RF64 with a ds64 chunk (EBU Tech 3306), checked with two other readers:
    libsndfile (soundfile) and FFmpeg."""
    import soundfile

    from voxline.audio import ffmpeg_exe

    source = tmp_path / "a.txt"
    source.write_text("The council met on Tuesday. It approved the budget.\n")
    out = tmp_path / "a.wav"
    lowered = ("import voxline.audio.wavfile as a; a.WAV_MAX_DATA_BYTES = 4000; "
               "from voxline.cli.main import main; main()")
    proc = subprocess.run([sys.executable, "-c", lowered, "synth", str(source), "-o", str(out),
                           "--backend", "espeak", "--json", "-q"], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    assert data[:4] == b"RF64" and data[8:16] == b"WAVEds64"
    riff_size, data_size, frames = struct.unpack("<QQQ", data[20:44])
    assert (riff_size, data_size) == (len(data) - 8, len(data) - 80) and data_size > 4000
    assert data[72:80] == b"data\xff\xff\xff\xff"
    info = soundfile.info(str(out))
    assert (info.format, info.samplerate, info.channels, info.frames) == \
        ("RF64", 16000, 1, frames)
    samples, _ = soundfile.read(str(out), dtype="int16")
    assert samples.tobytes() == data[80:]
    decoded = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(out),
                              "-f", "s16le", "pipe:1"], capture_output=True, check=True).stdout
    assert decoded == data[80:]
    assert json.loads(proc.stdout)["audio_s"] == round(frames / 16000, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "a.wav"]  # no temporary


def _cache_bytes(cache: Path, env: dict | None = None) -> int:
    proc = run_cli("cache", "stats", "--cache", str(cache), "--json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)["bytes"]


def test_cache_max_holds_across_runs(tmp_path, tone_env):
    """--cache-max is enforced when a job ends and when the cache opens, not only after
    32 stores in one process."""
    cache = tmp_path / "cache"

    def synth(name: str, paragraphs: int, *extra: str, env: dict = tone_env):
        source = _paragraphs(tmp_path / f"{name}.txt", paragraphs)
        source.write_text(source.read_text().replace("report", name))
        proc = run_cli("synth", str(source), "-o", str(tmp_path / f"{name}.wav"), "--backend",
                       "tone", "--cache", str(cache), "-q", *extra, env=env)
        assert proc.returncode == 0, proc.stderr.decode()

    synth("first", 12)
    full = _cache_bytes(cache)
    limit = full // 2
    synth("second", 2, "--cache-max", str(limit))  # 2 stores: far fewer than 32
    assert _cache_bytes(cache) <= limit
    synth("third", 12)  # no bound given: the cache grows again
    assert _cache_bytes(cache) > limit
    # a bound from the environment holds as soon as the cache is opened, by any command
    assert _cache_bytes(cache, {"VOXLINE_CACHE_MAX": str(limit)}) <= limit


def _damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(b"this is not an SQLite database\n" * 200)
    else:
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def test_a_damaged_cache_index_is_moved_aside_and_rebuilt(tmp_path, tone_env):
    cache = tmp_path / "cache"
    source = _paragraphs(tmp_path / "a.txt", 6)

    def synth(out: str) -> tuple[subprocess.CompletedProcess, dict]:
        proc = run_cli("synth", str(source), "-o", str(tmp_path / out), "--backend", "tone",
                       "--cache", str(cache), "--json", env=tone_env)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc, json.loads(proc.stdout[proc.stdout.index(b"{"):])

    synth("first.wav")
    index = cache / "index.sqlite3"
    for how in ("garbage", "truncated"):
        _damage(index, how)
        # the cache commands work on it: the index is moved aside once, with one warning
        repaired = run_cli("cache", "verify", "--repair", "--cache", str(cache))
        assert repaired.returncode == 0, repaired.stderr.decode()
        assert repaired.stderr.decode().count("was damaged") == 1
        assert "6 chunk files indexed again" in repaired.stdout.decode()
        proc, report = synth(f"{how}.wav")  # every chunk served from the files taken back
        assert report["cache"]["hits"] == 6 and "was damaged" not in proc.stderr.decode()
        assert (tmp_path / f"{how}.wav").read_bytes() == (tmp_path / "first.wav").read_bytes()
    assert len(list(cache.glob("index.sqlite3.damaged-*"))) >= 1
    # a job on a damaged cache warns once, completes and rebuilds the index as it goes
    _damage(index, "garbage")
    proc, report = synth("again.wav")
    assert proc.stderr.decode().count("was damaged") == 1
    assert report["cache"]["stored"] == 6 and report["documents"][0]["error"] is None
    _damage(index, "truncated")
    cleared = run_cli("cache", "clear", "--cache", str(cache))
    assert cleared.returncode == 0, cleared.stderr.decode()
    assert "removed 6 chunks" in cleared.stdout.decode()
    assert not list((cache / "audio").glob("*/*.pcm"))


def test_a_damaged_jobs_database_is_moved_aside_not_read_as_empty(tmp_path, tone_env):
    state = Path(os.environ["VOXLINE_STATE_DIR"])
    source = _paragraphs(tmp_path / "a.txt", 3)
    args = ["synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend", "tone"]
    assert run_cli(*args, env=tone_env).returncode == 0
    for how in ("garbage", "truncated"):
        _damage(state / "jobs.sqlite3", how)
        listed = run_cli("jobs")
        assert listed.returncode == 0, listed.stderr.decode()
        assert listed.stderr.decode().count("were damaged") == 1
        assert "since its damaged database was moved aside" in listed.stdout.decode()
        again = run_cli(*args, "--force", env=tone_env)  # recorded afresh
        assert again.returncode == 0 and b"were damaged" not in again.stdout + again.stderr
        assert [job["state"] for job in _jobs(tone_env)] == ["done"]
    assert len(list(state.glob("jobs.sqlite3.damaged-*"))) >= 1
