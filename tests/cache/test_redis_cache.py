"""The Redis chunk cache, against a real redis-server: shared between machines, TTL,
damaged entries, and a Redis that goes away mid-job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import run_cli, wav_info
from test_cache import book, synthesized


def synth(source, out, url, *extra, env, expect=0):
    result = run_cli("synth", str(source), "-o", str(out), "--backend", "tone", "--cache", url,
                     "--json", *extra, env=env)
    assert result.returncode == expect, result.stderr.decode()
    return json.loads(result.stdout), result.stderr.decode()


def test_two_machines_share_chunks_through_redis(tmp_path, tone_env, redis_server):
    source = book(tmp_path / "b.txt", 8)
    # two "machines": each its own local cache folder, one Redis between them
    first, _ = synth(source, tmp_path / "a.wav", redis_server.url,
                     env={**tone_env, "VOXLINE_CACHE_DIR": str(tmp_path / "m1")})
    second, _ = synth(source, tmp_path / "b.wav", redis_server.url,
                      env={**tone_env, "VOXLINE_CACHE_DIR": str(tmp_path / "m2")})
    assert synthesized(first) == 8 and first["cache"]["stored"] == 8
    assert synthesized(second) == 0 and second["cache"]["hits"] == 8
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert len(list(redis_server.client.scan_iter("voxline:chunk:*"))) == 8


def test_entries_expire_after_the_ttl(tmp_path, tone_env, redis_server):
    source = book(tmp_path / "b.txt", 3)
    synth(source, tmp_path / "a.wav", redis_server.url, "--cache-ttl", "2s", env=tone_env)
    keys = list(redis_server.client.scan_iter("voxline:chunk:*"))
    assert len(keys) == 3
    assert all(0 < redis_server.client.ttl(k) <= 2 for k in keys)
    time.sleep(2.2)
    assert not list(redis_server.client.scan_iter("voxline:chunk:*"))
    again, _ = synth(source, tmp_path / "b.wav", redis_server.url, env=tone_env)
    assert synthesized(again) == 3
    # the default TTL is a week
    assert all(6 * 86400 < redis_server.client.ttl(k) <= 7 * 86400
               for k in redis_server.client.scan_iter("voxline:chunk:*"))


def test_damaged_entry_is_redone_not_served(tmp_path, tone_env, redis_server):
    source = book(tmp_path / "b.txt", 4)
    synth(source, tmp_path / "a.wav", redis_server.url, env=tone_env)
    key = sorted(redis_server.client.scan_iter("voxline:chunk:*"))[0]
    value = redis_server.client.get(key)
    redis_server.client.set(key, value[:-100])  # truncated
    report, _ = synth(source, tmp_path / "b.wav", redis_server.url, env=tone_env)
    assert report["cache"]["corrupt"] == 1 and synthesized(report) == 1
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_redis_dying_mid_job_warns_once_and_the_job_completes(tmp_path, tone_env,
                                                              redis_server):
    source = book(tmp_path / "b.txt", 60)
    config = tmp_path / "v.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.03\n")
    reference = tmp_path / "ref.wav"
    synth(source, reference, "off", "--config", str(config), env=tone_env)
    out = tmp_path / "out.wav"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o", str(out),
         "--backend", "tone", "--workers", "1", "--cache", redis_server.url, "--config",
         str(config), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **tone_env})
    deadline = time.monotonic() + 60
    while len(list(redis_server.client.scan_iter("voxline:chunk:*"))) < 10:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    redis_server.stop()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    report = json.loads(stdout)
    warnings = [line for line in stderr.decode().splitlines() if "unreachable" in line]
    assert len(warnings) == 1 and redis_server.url in warnings[0]
    assert report["cache"]["down"] and 10 <= report["cache"]["stored"] < 60
    assert synthesized(report) == 60
    assert out.read_bytes() == reference.read_bytes()


def test_unreachable_redis_at_start(tmp_path, tone_env, redis_server):
    redis_server.stop()
    source = book(tmp_path / "b.txt", 2)
    report, stderr = synth(source, tmp_path / "a.wav", redis_server.url, env=tone_env)
    assert "unreachable" in stderr and synthesized(report) == 2
    assert wav_info(tmp_path / "a.wav")[3] > 1
    result = run_cli("cache", "stats", "--cache", redis_server.url)
    assert result.returncode == 2
    assert b"Connection refused" in result.stderr and b"Traceback" not in result.stderr


def test_cache_commands_on_redis(tmp_path, tone_env, redis_server):
    source = book(tmp_path / "b.txt", 5)
    synth(source, tmp_path / "a.wav", redis_server.url, env=tone_env)
    stats = json.loads(run_cli("cache", "stats", "--json", "--cache", redis_server.url).stdout)
    assert stats["entries"] == 5 and stats["bytes"] > 5 * 16000 * 2 * 0.5
    assert stats["audio_s"] > 2
    key = sorted(redis_server.client.scan_iter("voxline:chunk:*"))[0]
    redis_server.client.set(key, b"garbage")
    verify = run_cli("cache", "verify", "--cache", redis_server.url)
    assert b"checked 5 chunks, 1 damaged" in verify.stdout
    assert run_cli("cache", "clear", "--older-than", "1h", "--cache",
                   redis_server.url).stdout.startswith(b"removed 0 chunks")
    assert run_cli("cache", "clear", "--cache", redis_server.url).stdout.startswith(
        b"removed 4 chunks")
