"""Options a backend declares (`voxline.Option`): set with `--option BACKEND.OPTION=VALUE` or
the backend's own flag, listed by `voxline backends`, checked with one-line errors. The
backend here is a third-party plugin installed as pip installs one (a dist-info folder): the
core knows nothing of it."""

from __future__ import annotations

import json

import pytest

from conftest import install_entry_point, run_cli

PLUGIN = '''
import voxline
from voxline import Health, Option
from voxline.testing.tone import ToneBackend


class PacedTone(ToneBackend):
    name = "paced"
    option_specs = (
        Option("seconds_per_char", float, 0.08, "seconds of tone per character", 0.01, 1,
               flag="--pace"),
        Option("mood", str, "calm", "how it sounds", choices=("calm", "brisk")),
        Option("loud", bool, False, "louder"),
    )


class SwitchedOff(ToneBackend):
    name = "switched-off"
    # taken flags are skipped with a warning: voxline's own, and a built-in backend's
    option_specs = (Option("voice", str, "a", "a voice", flag="--voice"),
                    Option("speaker", str, "a", "a speaker", flag="--speaker"))

    def health(self):
        return Health(ok=False, detail="switched off for this test")


@voxline.hookimpl
def register_backends(register):
    register(PacedTone)
    register(SwitchedOff)
'''


@pytest.fixture
def paced_env(tmp_path_factory, private_cache) -> dict:
    site = tmp_path_factory.mktemp("site")
    (site / "voxline_paced.py").write_text(PLUGIN)
    return install_entry_point(site, "paced", "voxline_paced")


def _synth(tmp_path, env, *extra: str):
    source = tmp_path / "a.txt"
    source.write_text("The council met on Tuesday.\n")
    return run_cli("synth", str(source), "-o", str(tmp_path / "out") + "/", "--backend",
                   "paced", "--json", "-q", "--force", *extra, env=env)


def test_option_and_the_backends_own_flag_change_what_is_heard(tmp_path, paced_env):
    durations = {}
    for label, extra in {"default": (), "option": ("--option", "paced.seconds_per_char=0.02"),
                         "short": ("-O", "paced.seconds_per_char=0.02"),
                         "flag": ("--pace", "0.02")}.items():
        proc = _synth(tmp_path, paced_env, *extra)
        assert proc.returncode == 0, proc.stderr.decode()
        durations[label] = json.loads(proc.stdout)["audio_s"]
    # 27 characters at 0.08 s, then at 0.02 s: a quarter of the length
    assert durations["default"] == pytest.approx(27 * 0.08, abs=0.05)
    assert durations["option"] == durations["short"] == durations["flag"] == \
        pytest.approx(27 * 0.02, abs=0.05)


def test_the_flag_is_in_synth_and_tui_help_and_a_taken_flag_is_a_warning(paced_env):
    for command in ("synth", "tui"):
        proc = run_cli(command, "--help", env=paced_env)
        assert proc.returncode == 0, proc.stderr.decode()
        assert "--pace SECONDS_PER_CHAR" in proc.stdout.decode()
        err = proc.stderr.decode()
        assert "flag --voice for option voice skipped (voxline has it)" in err
        assert "flag --speaker for option speaker skipped (backend 'chattts-local' has it)" \
            in err
        assert "Traceback" not in err
    help_text = run_cli("synth", "--help", env=paced_env).stdout.decode()
    assert "--model-dir" in help_text and "--speaker SPEAKER" in help_text  # chattts-local's


def test_backends_lists_declared_options(paced_env):
    rows = {r["name"]: r for r in json.loads(
        run_cli("backends", "--no-check", "--json", env=paced_env).stdout)}
    options = {o["name"]: o for o in rows["paced"]["options"]}
    assert options["seconds_per_char"] == {
        "name": "seconds_per_char", "type": "float", "default": 0.08,
        "help": "seconds of tone per character", "minimum": 0.01, "maximum": 1,
        "choices": [], "flag": "--pace"}
    assert options["mood"]["choices"] == ["calm", "brisk"]
    assert {o["flag"] for o in rows["chattts-local"]["options"]} >= {"--model-dir", "--speaker"}
    text = run_cli("backends", "--no-check", env=paced_env).stdout.decode()
    assert "seconds_per_char (float, 0.01..1, default 0.08) --pace: seconds of tone" in text
    assert "mood (str, one of calm|brisk, default \"calm\"): how it sounds" in text


@pytest.mark.parametrize("extra, message", [
    (("-O", "paced.seconds_per_char=fast"),
     "--option paced.seconds_per_char=fast: must be a number (seconds of tone per character)"),
    (("-O", "paced.seconds_per_char=5"),
     "--option paced.seconds_per_char=5: must be between 0.01 and 1"),
    (("-O", "paced.mood=sad"), "--option paced.mood=sad: must be one of calm, brisk"),
    (("-O", "paced.loud=maybe"), "--option paced.loud=maybe: must be true or false"),
    (("-O", "paced.second_per_char=1"),
     "--option paced.second_per_char: unknown option (did you mean seconds_per_char?)"),
    (("-O", "ghost.speed=1"), "--option ghost.speed=1: unknown backend 'ghost'"),
    (("-O", "paced"), "--option paced: expected BACKEND.OPTION=VALUE"),
    (("--pace", "0"), "--pace 0: must be between 0.01 and 1"),
], ids=["type", "range", "choice", "bool", "unknown-option", "unknown-backend", "shape", "flag"])
def test_bad_values_are_one_line_usage_errors(tmp_path, paced_env, extra, message):
    proc = _synth(tmp_path, paced_env, *extra)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if "plugin skipped" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"voxline: error: {message}"), err
    assert not (tmp_path / "out" / "a.wav").exists()


def test_a_config_table_still_sets_options_and_the_command_line_wins(tmp_path, paced_env):
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.paced]\nseconds_per_char = 0.04\n")
    proc = _synth(tmp_path, paced_env, "--config", str(config))
    assert json.loads(proc.stdout)["audio_s"] == pytest.approx(27 * 0.04, abs=0.05)
    proc = _synth(tmp_path, paced_env, "--config", str(config), "--pace", "0.02")
    assert json.loads(proc.stdout)["audio_s"] == pytest.approx(27 * 0.02, abs=0.05)


def test_doctor_fails_for_a_routed_backend_and_reports_the_others(tmp_path, paced_env):
    """doctor's verdict covers the backends the routes send text to, whichever they are."""
    config = tmp_path / "voxline.toml"
    config.write_text('[routes]\nen = "paced"\n')
    env = {**paced_env, "VOXLINE_CONFIG": str(config)}
    proc = run_cli("doctor", "--json", env=env)
    checks = {c["check"]: c for c in json.loads(proc.stdout)}
    assert proc.returncode == 0, proc.stderr.decode()
    assert checks["backend switched-off"]["ok"] is False  # reported, not routed
    config.write_text('[routes]\nen = "switched-off"\n')
    proc = run_cli("doctor", "--json", env=env)
    assert proc.returncode == 4
    assert json.loads(proc.stdout)[0]["check"] == "ffmpeg"
