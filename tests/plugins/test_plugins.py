"""The plugin system: discovery hooks, event hooks, errors naming the plugin."""

import json
import os
import subprocess
import sys

import pytest

import voxline
from conftest import ToneBackend, TonePlugin, run_cli
from voxline.errors import PluginError
from voxline.pluginmanager import build_registry, check, get_plugin_manager


def test_builtins_are_plugins_registered_through_hooks():
    proc = run_cli("plugins")
    assert proc.returncode == 0
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert plugins["voxline.plugins.piper_tts"]["hooks"] == ["register_backends"]
    assert plugins["voxline.plugins.espeak_ng"]["hooks"] == ["register_backends"]
    assert plugins["voxline.plugins.normalize_zh"]["hooks"] == ["register_normalizers"]
    registry = build_registry(get_plugin_manager(load_env=""))
    assert registry.provided_by["backend:piper"] == "voxline.plugins.piper_tts"
    assert registry.provided_by["normalizer:zh"] == "voxline.plugins.normalize_zh"


def test_backends_json_lists_capabilities_and_health():
    proc = run_cli("backends", "--json")
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["piper"]["sample_rate_hz"] == 22050 and "en" in rows["piper"]["languages"]
    assert {"zh", "yue", "en"} <= set(rows["espeak"]["languages"])
    assert rows["espeak"]["health"]["ok"] is True
    assert "rate" in rows["espeak"]["controls"]


@pytest.mark.parametrize("strict", [False, True], ids=["skipped", "strict"])
def test_misspelled_hook_names_the_plugin_and_the_hook(strict):
    class Typo:
        @voxline.hookimpl
        def register_backend(self, register):  # missing "s"
            pass

    pm = get_plugin_manager(load_env="", strict=strict)
    pm.register(Typo(), name="undo-typo")
    if strict:
        with pytest.raises(PluginError, match="undo-typo.*register_backend"):
            check(pm)
        return
    check(pm)
    assert pm.get_plugin("undo-typo") is None  # skipped; the others work on
    assert "undo-typo" in pm.problems[0] and "register_backend" in pm.problems[0]
    assert "piper" in build_registry(pm).backends


@pytest.mark.parametrize("strict", [False, True], ids=["skipped", "strict"])
def test_backend_name_collision_names_both_plugins(pm_with_tone, strict):
    pm_with_tone.strict = strict
    pm_with_tone.register(TonePlugin(), name="undo-tone-again")
    try:
        if strict:
            with pytest.raises(PluginError, match="'undo-tone'.*'undo-tone-again'"):
                build_registry(pm_with_tone)
        else:
            registry = build_registry(pm_with_tone)
            assert registry.provided_by["backend:tone"] == "undo-tone"
            assert "'undo-tone' and 'undo-tone-again'" in pm_with_tone.problems[0]
    finally:
        pm_with_tone.unregister(name="undo-tone-again")


def test_registering_something_that_is_not_a_backend_fails_clearly():
    class Bad:
        @voxline.hookimpl
        def register_backends(self, register):
            register(object)

    pm = get_plugin_manager(load_env="", strict=True)
    pm.register(Bad(), name="undo-bad")
    with pytest.raises(PluginError, match="undo-bad.*not a voxline.Backend"):
        build_registry(pm)


def test_event_hooks_see_the_whole_job(pm_with_tone, tmp_path):
    from voxline.job import Job, Pipeline, output_specs
    from voxline.audio import FORMATS
    from voxline.settings import load_settings

    events = []

    class Listener:
        @voxline.hookimpl
        def job_started(self, job):
            events.append("job_started")

        @voxline.hookimpl
        def document_started(self, document, chunk_count):
            events.append(("document_started", chunk_count))

        @voxline.hookimpl
        def stage_finished(self, document, stage, duration_s, chunk):
            events.append(("stage", stage, chunk is None))

        @voxline.hookimpl
        def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
            events.append(("chunk", chunk.index, round(audio_duration_s, 2), backend, cached))

        @voxline.hookimpl
        def job_finished(self, job, report):
            events.append("job_finished")

    pm_with_tone.register(Listener(), name="undo-listener")
    src = tmp_path / "a.txt"
    src.write_text("One two three. Four five six seven eight nine. Ten.", encoding="utf-8")
    settings = load_settings(overrides={"backend": "tone", "workers": 2}, env={})
    specs = output_specs([(src, None)], tmp_path / "out", FORMATS["wav"], False)
    report = Pipeline(pm_with_tone, build_registry(pm_with_tone), settings).run(
        Job(specs, settings))
    assert report.exit_code == 0
    assert events[0] == "job_started" and events[-1] == "job_finished"
    chunks = [e for e in events if e[0] == "chunk"]
    assert len(chunks) == len(ToneBackend.calls) >= 2
    assert {(e[3], e[4]) for e in chunks} == {("tone", False)}
    assert ("document_started", len(chunks)) in events
    stages = {e[1] for e in events if e[0] == "stage"}
    assert stages == {"read", "ssml", "normalize", "segment", "synthesize", "resample",
                      "concatenate"}


def test_import_voxline_is_light():
    code = ("import sys, voxline; heavy = [m for m in ('torch', 'textual', 'onnxruntime', "
            "'numpy', 'wetext', 'prometheus_client', 'pynvml') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_loads_no_engine():
    code = ("import sys; from voxline.cli.main import main\n"
            "sys.argv = ['voxline', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(','.join(m for m in ('numpy', 'onnxruntime', 'piper', 'wetext', 'torch', "
            "'textual', 'prometheus_client') if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "Usage: voxline" in out.stdout
    assert out.stderr.strip() == ""


def test_one_plugin_manager_per_process(tmp_path, tone_env):
    """The CLI, its command and the job share one plugin manager: plugins load once."""
    source = tmp_path / "a.txt"
    source.write_text("One manager.\n")
    count = ("import voxline.pluginmanager as p; made = []; new = p.new_plugin_manager; "
             "p.new_plugin_manager = lambda *a, **k: made.append(1) or new(*a, **k); "
             "import atexit, sys; atexit.register(lambda: print(len(made), file=sys.stderr)); "
             "from voxline.cli.main import main; main()")
    proc = subprocess.run([sys.executable, "-c", count, "synth", str(source), "-o",
                           str(tmp_path / "out") + "/", "--backend", "tone", "-q"],
                          capture_output=True, env={**os.environ, **tone_env})
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr.decode().strip().splitlines()[-1] == "1"
    assert (tmp_path / "out" / "a.wav").stat().st_size > 44
    # --verify scores a transcript with the built-in normalizers, without a second manager
    score = ("import voxline.pluginmanager as p; made = []; new = p.new_plugin_manager; "
             "p.new_plugin_manager = lambda *a, **k: made.append(1) or new(*a, **k); "
             "p.get_plugin_manager(); from voxline.verify import normalize_text; "
             "print(normalize_text('12 apples', 'en'), len(made))")
    proc = subprocess.run([sys.executable, "-c", score], capture_output=True, text=True,
                          env={**os.environ, **tone_env})
    assert proc.stdout.split() == ["twelve", "apples", "1"], proc.stderr
