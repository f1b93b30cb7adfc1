"""The example third-party plugin (samples/plugin-example), installed as a user installs it
(`pip install -e samples/plugin-example`; CI does): found through its entry points, used by a
real `voxline synth`, and its own tests pass."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, SAMPLES, run_cli, wav_info

EXAMPLE = REPO / "samples" / "plugin-example"

if importlib.util.find_spec("voxline_example") is None:
    if os.environ.get("CI"):
        pytest.fail("the example plugin is not installed (pip install -e samples/plugin-example)",
                    pytrace=False)
    pytest.skip("the example plugin is not installed: pip install -e samples/plugin-example",
                allow_module_level=True)


def test_found_through_its_entry_points():
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins").stdout)}
    assert plugins["cantonese"]["hooks"] == ["register_normalizers"]
    assert plugins["command-tts"]["hooks"] == ["register_backends"]
    assert plugins["command-tts"]["version"] == "1.0.0" and not plugins["cantonese"]["builtin"]
    backends = {b["name"] for b in json.loads(run_cli("backends", "--no-check", "--json").stdout)}
    assert "command" in backends


def test_used_in_a_real_synth_run(tmp_path, private_cache):
    result = run_cli("synth", str(SAMPLES / "en_article.txt"), "-o", str(tmp_path / "out"),
                     "--backend", "command", "--json")
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    doc = report["documents"][0]
    assert doc["backends"] == {"command": doc["chunks"]}
    rate, channels, _, duration, rms = wav_info(tmp_path / "out" / "en_article.wav")
    assert (rate, channels) == (16000, 1) and duration == pytest.approx(doc["audio_s"], abs=0.01)
    assert duration > 30 and rms > 300  # the article, spoken


def test_its_normalizer_replaces_the_builtin_for_cantonese():
    result = run_cli("normalize", "--lang", "yue", "-t", "佢買咗2個蘋果，用咗$20。")
    assert result.stdout.decode().strip() == "佢買咗兩個蘋果，用咗二十蚊。"


def test_its_own_tests_pass():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(EXAMPLE)], capture_output=True, text=True, cwd=EXAMPLE,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout.splitlines()[-1]
