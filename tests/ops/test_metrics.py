"""Prometheus metrics: scraped from a real job while it runs, and written as a textfile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} from the exposition format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _book(tmp_path, sentences=60):
    src = tmp_path / "book.txt"
    src.write_text(" ".join(f"Sentence {i} of the book." for i in range(sentences)),
                   encoding="utf-8")
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.05\n")
    return src, config


def test_metrics_are_served_while_the_job_runs(tmp_path, tone_env, private_cache):
    src, config = _book(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from voxline.cli.main import main; main()", "synth", str(src),
         "-o", str(tmp_path / "out"), "--backend", "tone", "--workers", "2", "--config",
         str(config), "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **tone_env})
    scrapes = []
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                scrapes.append(_samples(response.text))
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr.decode()
    assert f"metrics: http://127.0.0.1:{port}/metrics" in stderr.decode()
    during = [s for s in scrapes if s.get(("voxline_job_running", ())) == 1.0]
    assert len(during) >= 3, "the job should have been scraped several times while running"
    done = [s.get(("tts_req_total", (("backend", "tone"), ("outcome", "ok"))), 0.0)
            for s in during]
    assert done == sorted(done) and done[-1] > done[0]  # counting up as chunks finish
    last = during[-1]
    count = last[("tts_req_duration_seconds_count", (("backend", "tone"),))]
    total = last[("tts_req_duration_seconds_sum", (("backend", "tone"),))]
    assert count == done[-1] and total / count >= 0.05  # each request slept 50 ms
    assert last[("voxline_stage_duration_seconds_count", (("stage", "segment"),))] == 1
    assert last[("voxline_cache_hit_ratio", ())] == 0.0
    assert last[("voxline_gpu_available", ())] in (0.0, 1.0)
    # the endpoint goes away with the job
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
        assert False, "still serving after the job"
    except httpx.TransportError:
        pass


def test_metrics_textfile_after_a_rerun_shows_the_cache(tmp_path, tone_env, private_cache):
    src, config = _book(tmp_path, sentences=20)
    prom = tmp_path / "voxline.prom"
    args = ["synth", str(src), "-o", str(tmp_path / "out"), "--backend", "tone", "--config",
            str(config), "-q", "--metrics-textfile", str(prom)]
    first = run_cli(*args, env=tone_env)
    assert first.returncode == 0, first.stderr.decode()
    chunks = _samples(prom.read_text())[("voxline_chunks_total",
                                          (("backend", "tone"), ("cached", "no")))]
    (tmp_path / "out" / "book.wav").unlink()
    second = run_cli(*args, env=tone_env)
    assert second.returncode == 0
    samples = _samples(prom.read_text())
    assert samples[("voxline_cache_hits_total", ())] == chunks
    assert samples[("voxline_cache_hit_ratio", ())] == 1.0
    assert samples[("voxline_documents_total", (("status", "redone"),))] == 1
    assert ("tts_req_total", (("backend", "tone"), ("outcome", "ok"))) not in samples
    assert not list(tmp_path.glob("*.prom.*"))  # written atomically, no temporary left


def test_failures_are_counted_per_backend_and_reason(tmp_path, tone_env, private_cache):
    src = tmp_path / "a.txt"
    src.write_text("This one will FAIL. This one is fine.", encoding="utf-8")
    prom = tmp_path / "m.prom"
    result = run_cli("synth", str(src), "-o", str(tmp_path / "out"), "--backend", "tone",
                     "--fallback", "espeak", "-q", "--metrics-textfile", str(prom),
                     env=tone_env)
    assert result.returncode == 0, result.stderr.decode()
    samples = _samples(prom.read_text())
    errors = {k: v for k, v in samples.items() if k[0] == "voxline_backend_errors_total"}
    assert errors and all(dict(k[1])["backend"] == "tone" for k in errors)
    assert samples[("voxline_backend_fallbacks_total", (("backend", "tone"),))] >= 1
    assert samples[("voxline_chunks_total", (("backend", "espeak"), ("cached", "no")))] >= 1


def test_a_port_in_use_is_a_usage_error(tmp_path, private_cache):
    src = tmp_path / "a.txt"
    src.write_text("Hello.", encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("synth", str(src), "-o", str(tmp_path / "out"), "--metrics-port",
                         str(port))
    assert result.returncode == 2
    assert f"--metrics-port {port}: cannot listen there" in result.stderr.decode()
    assert b"Traceback" not in result.stderr
