"""The chunk cache and crash resume, through the real CLI with eSpeak NG (deterministic)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

ZH = ["今天的天气很好，我们一起去公园散步吧。", "国家统计局发布了最新的经济数据。",
      "请您在听到提示音之后留言，谢谢。", "这条新闻的内容非常重要，请仔细阅读。",
      "明天上午九点，会议将在三楼举行。"]


def book(path: Path, chunks: int) -> Path:
    """`chunks` sentences, each its own paragraph, so each is one chunk."""
    path.write_text("\n\n".join(f"第{i + 1}段。{ZH[i % len(ZH)]}" for i in range(chunks)),
                    encoding="utf-8")
    return path


def synth(source: Path, out: Path, cache: Path, *extra: str, backend: str = "espeak",
          env: dict | None = None):
    result = run_cli("synth", str(source), "-o", str(out), "--backend", backend, "--cache",
                     str(cache), "--json", "-q", *extra, env=env)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def synthesized(report: dict) -> int:
    return sum(b["chunks"] for b in report["backends"].values())


@pytest.mark.slow
def test_second_run_synthesizes_nothing_and_writes_the_same_bytes(tmp_path):
    # Piper samples noise, so two fresh runs differ: the cache makes the second run the first's
    source = book(tmp_path / "b.txt", 12).with_suffix(".txt")
    source.write_text("\n\n".join(f"Paragraph {i}. The council met on Tuesday to vote."
                                   for i in range(12)), encoding="utf-8")
    cache = tmp_path / "cache"
    first = synth(source, tmp_path / "a.wav", cache, backend="piper")
    second = synth(source, tmp_path / "b.wav", cache, backend="piper")
    assert synthesized(first) == 12 and first["cache"]["stored"] == 12
    assert synthesized(second) == 0 and second["cache"]["hits"] == 12
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@pytest.mark.slow
def test_key_changes_with_what_changes_the_sound_only(tmp_path):
    source = book(tmp_path / "b.txt", 6)
    cache = tmp_path / "cache"
    synth(source, tmp_path / "a.wav", cache)
    config = tmp_path / "v.toml"
    config.write_text("[backends.espeak]\nrate_wpm = 140\n")
    # unrelated: workers, output format, pauses (added at assembly) -> every chunk reused
    for extra in (["--workers", "1"], ["--format", "flac"]):
        report = synth(source, tmp_path / f"x{len(extra[1])}", cache, *extra)
        assert synthesized(report) == 0, extra
    # what changes the samples -> nothing reused
    for extra in (["--sample-rate", "22050"], ["--voice", "espeak:yue"],
                  ["--config", str(config)]):
        report = synth(source, tmp_path / "y.wav", cache, *extra)
        assert synthesized(report) == 6 and report["cache"]["hits"] == 0, extra


def test_damaged_entries_are_redone_not_served(tmp_path, tone_env):
    source = book(tmp_path / "b.txt", 8)
    cache = tmp_path / "cache"
    synth(source, tmp_path / "a.wav", cache, backend="tone", env=tone_env)
    files = sorted((cache / "audio").glob("*/*.pcm"))
    assert len(files) == 8
    files[0].write_bytes(files[0].read_bytes()[:100])          # truncated
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF                                # one byte flipped
    files[1].write_bytes(bytes(data))
    files[2].unlink()                                           # gone
    report = synth(source, tmp_path / "b.wav", cache, backend="tone", env=tone_env)
    assert report["cache"]["corrupt"] == 3 and synthesized(report) == 3
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_cache_commands_stats_verify_clear(tmp_path):
    source = book(tmp_path / "b.txt", 5)
    cache = tmp_path / "cache"
    synth(source, tmp_path / "a.wav", cache)
    stats = json.loads(run_cli("cache", "stats", "--cache", str(cache), "--json").stdout)
    assert stats["entries"] == 5 and stats["backends"] == {"espeak": 5}
    assert stats["bytes"] == sum(f.stat().st_size for f in (cache / "audio").glob("*/*.pcm"))
    victim = next((cache / "audio").glob("*/*.pcm"))
    victim.write_bytes(b"junk")
    (cache / "audio" / "zz").mkdir()
    (cache / "audio" / "zz" / "stray.pcm").write_bytes(b"x")
    out = run_cli("cache", "verify", "--cache", str(cache)).stdout.decode()
    assert "checked 5 chunks, 1 damaged (removed), 1 stray files removed" in out
    out = run_cli("cache", "clear", "--cache", str(cache), "--older-than", "1h").stdout.decode()
    assert "removed 0 chunks" in out
    out = run_cli("cache", "clear", "--cache", str(cache)).stdout.decode()
    assert "removed 4 chunks" in out
    assert not list((cache / "audio").glob("*/*.pcm"))
    bad = run_cli("cache", "clear", "--cache", str(cache), "--older-than", "soon")
    assert bad.returncode == 2 and "12h, 7d, 2w" in bad.stderr.decode()


def test_size_bound_evicts_least_recently_used(tmp_path):
    from voxline.cache import LocalStore

    store = LocalStore(tmp_path / "c", max_bytes=10_000)
    for i in range(40):
        store.put(f"{i:064x}", bytes(1000), {"sample_rate_hz": 16000})
        if i == 5:
            assert store.get(f"{0:064x}") is not None  # key 0 is now recently used
    store.evict()
    stats = store.stats()
    assert stats["bytes"] <= 10_000 and stats["entries"] >= 8
    assert store.get(f"{39:064x}") is not None   # newest stays
    assert store.get(f"{1:064x}") is None        # oldest unused went first
    assert store.counts.evicted == 40 - stats["entries"]
    store.close()


def test_two_processes_share_one_cache(tmp_path, tone_env):
    cache = tmp_path / "cache"
    sources = [book(tmp_path / f"{n}.txt", 10) for n in ("a", "b")]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "voxline.cli.main", "synth", str(s), "-o",
         str(tmp_path / f"{s.stem}.wav"), "--backend", "tone", "--cache", str(cache), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **tone_env})
        for s in sources]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    # both files have the same text: whichever finished first, the chunks are there once
    with sqlite3.connect(cache / "index.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 10
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def _cached_chunks(cache: Path) -> int:
    try:
        with sqlite3.connect(f"file:{cache / 'index.sqlite3'}?mode=ro", uri=True,
                             timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_gives_identical_bytes(tmp_path, tone_env):
    """A deterministic backend (`tone`, 20 ms a chunk) so that a chunk synthesized after the
    restart is the same as in the uninterrupted run. (eSpeak NG is not: it carries state
    from one call to the next inside the library.)"""
    chunks = 100
    source = book(tmp_path / "book.txt", chunks)
    config = tmp_path / "v.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.02\n")
    reference = tmp_path / "reference.wav"
    synth(source, reference, tmp_path / "ref-cache", backend="tone", env=tone_env)
    expected = reference.read_bytes()
    rng = random.Random(20261122)
    killed = 0
    for round_ in range(10):
        cache = tmp_path / f"cache{round_}"
        out = tmp_path / f"out{round_}.wav"
        target = rng.randint(1, chunks - 1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o", str(out),
             "--backend", "tone", "--workers", "2", "--cache", str(cache), "--config",
             str(config), "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **tone_env})
        deadline = time.monotonic() + 120
        while _cached_chunks(cache) < target and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done = _cached_chunks(cache)
        if proc.returncode != -signal.SIGKILL:
            continue  # finished before the kill landed
        killed += 1
        assert not out.exists()  # never a partial file under the final name
        report = synth(source, out, cache, "--config", str(config), backend="tone",
                       env=tone_env)
        assert report["cache"]["hits"] == done
        assert synthesized(report) == chunks - done  # only what was missing
        assert out.read_bytes() == expected, f"round {round_}: killed after {done} chunks"
        assert not list(tmp_path.glob(".out*.part"))  # the killed run's temporary file is gone
    assert killed >= 8
