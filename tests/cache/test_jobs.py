"""Job manifests through the real CLI: up-to-date inputs skipped, changed inputs redo only
their changed chunks, killed jobs listed as stopped and resumed, `voxline jobs`."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from conftest import run_cli
from test_cache import book, synthesized


def synth(*args, env):
    proc = run_cli("synth", *args, "--backend", "tone", "--json", "-q", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def jobs(env, *args):
    proc = run_cli("jobs", *args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_rerun_skips_up_to_date_and_redoes_only_what_changed(tmp_path, tone_env):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    a, b = book(src / "a.txt", 6), book(src / "b.txt", 6)
    b.write_text(b.read_text().replace("段", "节"))  # a different text
    first = synth(str(src), "-o", str(out), env=tone_env)
    assert synthesized(first) == 12 and first["written"] == 2
    stamp = (out / "a.wav").stat().st_mtime_ns

    again = synth(str(src), "-o", str(out), env=tone_env)
    assert again["up_to_date"] == 2 and again["written"] == 0 and synthesized(again) == 0
    assert (out / "a.wav").stat().st_mtime_ns == stamp  # not even rewritten

    b.write_text(b.read_text().replace("第3节。", "第3节，改过了。"))
    changed = synth(str(src), "-o", str(out), env=tone_env)
    docs = {d["source"]: d for d in changed["documents"]}
    assert docs[str(a)]["status"] == "up to date"
    assert docs[str(b)]["status"] == "changed" and docs[str(b)]["cached"] == 5
    assert synthesized(changed) == 1  # only the edited paragraph

    (out / "a.wav").write_bytes(b"tampered")  # an output altered by hand is redone
    redone = synth(str(src), "-o", str(out), env=tone_env)
    assert {d["status"] for d in redone["documents"]} == {"redone", "up to date"}
    assert synthesized(redone) == 0 and (out / "a.wav").stat().st_size > 1000

    other_rate = synth(str(src), "-o", str(out), "--sample-rate", "22050", env=tone_env)
    assert [d["status"] for d in other_rate["documents"]] == ["redone", "redone"]
    assert synthesized(other_rate) == 12  # the sound changed: nothing shared
    forced = synth(str(src), "-o", str(out), "--sample-rate", "22050", "--force", env=tone_env)
    assert forced["written"] == 2 and synthesized(forced) == 0


def test_manifest_records_inputs_settings_chunks_and_timings(tmp_path, tone_env):
    source = book(tmp_path / "a.txt", 5)
    report = synth(str(source), "-o", str(tmp_path / "a.wav"), "--workers", "2", env=tone_env)
    [job] = jobs(tone_env)
    assert job["id"] == report["job"] and job["state"] == "done"
    assert (job["documents"], job["done"], job["chunks_done"]) == (1, 1, 5)
    manifest = jobs(tone_env, "show", job["id"][:6])
    assert manifest["settings"]["backend"] == "tone" and manifest["settings"]["workers"] == 2
    [doc] = manifest["documents"]
    assert doc["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert doc["input_bytes"] == source.stat().st_size and doc["state"] == "done"
    assert doc["output_bytes"] == (tmp_path / "a.wav").stat().st_size
    assert [c["index"] for c in doc["chunks"]] == list(range(5))
    assert all(len(c["key"]) == 64 and c["synthesize_s"] >= 0 and c["audio_s"] > 0.5
               for c in doc["chunks"])
    text = run_cli("jobs", env=tone_env).stdout.decode()
    assert job["id"] in text and "done" in text
    assert run_cli("jobs", "forget", env=tone_env).stdout.startswith(b"forgot 1 jobs")
    assert jobs(tone_env) == []


def test_killed_job_shows_as_stopped_and_resumes(tmp_path, tone_env):
    source = book(tmp_path / "a.txt", 40)
    config = tmp_path / "v.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.03\n")
    out = tmp_path / "a.wav"
    args = [sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o", str(out),
            "--backend", "tone", "--workers", "1", "--config", str(config), "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **tone_env})
    deadline = time.monotonic() + 60
    while True:
        found = jobs(tone_env)
        if found and found[0]["chunks_done"] >= 10:
            break
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [job] = jobs(tone_env)
    assert job["state"] == "stopped" and 10 <= job["chunks_done"] < 40
    report = synth(str(source), "-o", str(out), "--config", str(config), env=tone_env)
    assert report["documents"][0]["status"] == "resumed"
    assert report["cache"]["hits"] >= job["chunks_done"]
    assert synthesized(report) == 40 - report["cache"]["hits"]
    [job] = jobs(tone_env)
    assert job["state"] == "done" and job["chunks_done"] == 40


def test_unwritable_state_folder_warns_and_the_job_completes(tmp_path, tone_env):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    source = book(tmp_path / "a.txt", 2)
    proc = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend", "tone",
                   env={**tone_env, "VOXLINE_STATE_DIR": str(blocker)})
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr.decode().count("job manifest") == 1


def test_dry_run_plans_without_writing_and_knows_the_cache(tmp_path, tone_env):
    source = book(tmp_path / "a.txt", 12)
    out = tmp_path / "out"
    plan = json.loads(run_cli("synth", str(source), "-o", str(out), "--backend", "tone",
                              "--dry-run", "--json", env=tone_env).stdout)
    assert (plan["chunks"], plan["cached"], plan["to_synthesize"]) == (12, 0, 12)
    assert not out.exists() and jobs(tone_env) == []
    report = synth(str(source), "-o", str(out), env=tone_env)
    plan = json.loads(run_cli("synth", str(source), "-o", str(out), "--backend", "tone",
                              "--dry-run", "--json", env=tone_env).stdout)
    assert plan["documents"][0]["status"] == "up to date" and plan["to_synthesize"] == 0
    plan = json.loads(run_cli("synth", str(source), "-o", str(out), "--backend", "tone",
                              "--dry-run", "--force", "--json", env=tone_env).stdout)
    assert (plan["chunks"], plan["cached"]) == (12, 12)
    # cached chunks' durations are known exactly: the plan's audio is the real audio
    # less the pauses between chunks
    assert abs(plan["audio_s"] - report["audio_s"]) < 0.2 * 12
