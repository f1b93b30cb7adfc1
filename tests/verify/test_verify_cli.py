"""--verify through the real CLI: a third-party backend that says the wrong sentence for one
chunk is caught by the recognizer and the chunk is redone on the fallback; `voxline verify`
finds the same chunk in a file made without --verify; a cached rerun keeps its scores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import voxline
from conftest import install_entry_point, needs_recognizer, run_cli

TEXT = ("Please call the customer service line before five.\n\n"
        "The harbour was quiet when the first boat came in.\n\n"
        "The library closes early on Sundays.\n")


@pytest.fixture
def mishear_env(tmp_path_factory) -> dict:
    """`voxline` finds the `mishear` backend plugin as pip would install it."""
    return install_entry_point(tmp_path_factory.mktemp("site"), "mishear",
                               "voxline.testing.mishear")


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "notice.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.mark.slow
def test_verify_redoes_the_wrong_chunk_on_the_fallback(mishear_env, text, tmp_path,
                                                       whisper_model):
    out = tmp_path / "out"
    result = run_cli("synth", str(text), "-o", str(out), "--backend", "mishear",
                     "--fallback", "piper", "--verify", "--verify-model", str(whisper_model),
                     "--json", "-q", env=mishear_env)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    chunks = report["documents"][0]["verify"]
    assert [c["backend"] for c in chunks] == ["mishear", "piper", "mishear"]
    wrong = chunks[1]
    assert wrong["error_rate"] <= 0.2 and wrong["limit"] == 0.4
    assert [r["backend"] for r in wrong["rejected"]] == ["mishear"]
    assert wrong["rejected"][0]["error_rate"] >= 0.8
    assert "rain" in wrong["rejected"][0]["transcript"].lower()
    assert all(c["error_rate"] <= 0.2 and not c["rejected"] for c in (chunks[0], chunks[2]))
    assert report["fallback_reasons"] == [
        {"from": "mishear", "to": "piper", "reason": "verify", "chunks": 1}]
    assert report["verify"]["mishear"]["rejected"] == 1
    assert report["verify"]["piper"] == {"chunks": 1, "rejected": 0,
                                         "mean_error_rate": wrong["error_rate"],
                                         "max_error_rate": wrong["error_rate"]}
    assert report["stage_s"]["verify"] > 0
    # the manifest shows both: the rejected attempt and the accepted one
    shown = run_cli("jobs", "show", report["job"], "--json", env=mishear_env)
    manifest = json.loads(shown.stdout)["documents"][0]["chunks"]
    assert manifest[1]["backend"] == "piper"
    assert manifest[1]["error_rate"] == wrong["error_rate"]
    assert manifest[1]["rejected"][0]["backend"] == "mishear"
    assert manifest[1]["rejected"][0]["error_rate"] >= 0.8
    assert manifest[0]["offset_s"] == 0.0 < manifest[1]["offset_s"] < manifest[2]["offset_s"]

    # again, from the cache: every chunk kept keeps the score it was given, unheard; the
    # wrong audio was never cached, so mishear says it (and is turned down) again
    again = run_cli("synth", str(text), "-o", str(out), "--backend", "mishear",
                    "--fallback", "piper", "--verify", "--verify-model", str(whisper_model),
                    "--json", "-q", "--force", env=mishear_env)
    assert again.returncode == 0, again.stderr.decode()
    second = json.loads(again.stdout)
    assert second["documents"][0]["cached"] == 3
    redone = second["documents"][0]["verify"]
    assert [(c["backend"], c["error_rate"], c["stored"]) for c in redone] == \
        [(c["backend"], c["error_rate"], True) for c in chunks]
    assert [r["backend"] for r in redone[1]["rejected"]] == ["mishear"]


@pytest.mark.slow
def test_voxline_verify_finds_the_wrong_sentence_in_a_file_made_without_verify(
        mishear_env, text, tmp_path, whisper_model):
    out = tmp_path / "notice.wav"
    made = run_cli("synth", str(text), "-o", str(out), "--backend", "mishear", "-q",
                   env=mishear_env)
    assert made.returncode == 0, made.stderr.decode()
    checked = run_cli("verify", str(out), "--text", str(text), "--verify-model",
                      str(whisper_model), "--json", env=mishear_env)
    assert checked.returncode == 7, checked.stderr.decode()
    result = json.loads(checked.stdout)
    assert result["alignment"] == "manifest" and result["over_limit"] == 1
    worst = result["worst"][0]
    assert worst["chunk"] == 2 and worst["error_rate"] >= 0.8 and not worst["ok"]
    assert worst["text"].startswith("The harbour") and "rain" in worst["transcript"].lower()
    assert 2.5 < worst["start_s"] < worst["end_s"] < 9
    assert all(c["ok"] for c in result["worst"][1:])

    # a copy no manifest knows, without subtitles: the whole file heard and aligned
    alone = tmp_path / "copy.wav"
    alone.write_bytes(out.read_bytes())
    listed = run_cli("verify", str(alone), "--text", str(text), "--verify-model",
                     str(whisper_model), env=mishear_env)
    assert listed.returncode == 7, listed.stderr.decode()
    lines = listed.stdout.decode().splitlines()
    assert "3 sentences checked (placed by the transcript); 1 over the limit" in lines[0]
    assert "#2 'The harbour" in lines[1] and "> 0.4" in lines[1]


def test_a_missing_verify_extra_is_one_line_and_exit_2(text, tmp_path):
    needs_recognizer()
    hide = ("import sys; sys.modules['faster_whisper'] = None; "
            "from voxline.cli.main import main; main()")
    for args in (["synth", str(text), "-o", str(tmp_path / "out"), "--verify"],
                 ["verify", str(tmp_path / "none.wav"), "--text", str(text)]):
        result = subprocess.run([sys.executable, "-c", hide, *args], capture_output=True,
                                timeout=120)
        assert result.returncode == 2
        assert result.stderr.decode().strip().splitlines() == [
            "voxline: error: verification needs the offline recognizer (faster-whisper), "
            "which is not installed (pip install 'voxline[verify]')"]
    assert not (tmp_path / "out").exists()


class Listener:
    def __init__(self):
        self.heard = []

    @voxline.hookimpl
    def chunk_verified(self, document, chunk, backend, error_rate, limit, transcript):
        self.heard.append((chunk.index, backend, round(error_rate, 3), limit, transcript))


def test_chunk_verified_reports_every_verdict(tmp_path, whisper_model):
    from voxline.job import InputSpec, Job, Pipeline
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import load_settings

    source = tmp_path / "a.txt"
    # Whisper writes "harbor": over a limit of 0.01, Piper's audio is turned down each time
    source.write_text("The harbour was quiet.", encoding="utf-8")
    settings = load_settings(overrides={"verify": True, "verify_model": str(whisper_model),
                                        "verify_max_error": "0.01", "workers": 1}, env={})
    pm = get_plugin_manager(load_env="")
    listener = Listener()
    pm.register(listener, name="undo-listener")
    try:
        report = Pipeline(pm, build_registry(pm), settings).run(
            Job([InputSpec(source, tmp_path / "a.wav")], settings))
    finally:
        pm.unregister(name="undo-listener")
    assert report.exit_code == 0
    assert len(listener.heard) == 1 + settings.retries  # piper's audio, retried
    assert all(h[1] == "piper" and h[2] > h[3] == 0.01 for h in listener.heard)
    assert all("harbor" in h[4].lower() for h in listener.heard)
    # no backend did better: the best audio is kept, and reported
    assert report.to_dict()["quality_warnings"][0]["detail"].startswith("the recognizer heard")
    assert report.documents[0].verify[0]["error_rate"] > 0.01
