"""The TUI as a person runs it: `voxline tui` in a real terminal (tmux), keys sent, the
screen read back with capture-pane."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES, run_cli

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None and not os.environ.get("CI"),
    reason="tmux is not installed (CI installs it; `apt-get install tmux`)")


class Terminal:
    """A tmux session of a given size running one command."""

    def __init__(self, command: list[str], env: dict, size=(80, 24)):
        self.name = f"voxline-test-{uuid.uuid4().hex[:8]}"
        self.done = f"{self.name}-done"
        self.rc_file = Path(env["RC_FILE"])
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        script = (f"cd {shlex.quote(str(REPO))} && env {exports} {shlex.join(command)}; "
                  f"echo \"exit=$?\" > {shlex.quote(str(env['RC_FILE']))}; "
                  f"tmux wait-for -S {self.done}")
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(size[0]),
                        "-y", str(size[1]), script], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def wait_exit(self, timeout: float = 30.0) -> None:
        """Until the command has exited and its exit code is written. The exit code file is
        what tells (`tmux wait-for` fails when the session, and with it the tmux server,
        has already ended by the time it connects)."""
        deadline = time.monotonic() + timeout
        while not (self.rc_file.is_file() and self.rc_file.read_text().strip()):
            assert time.monotonic() < deadline, f"the command did not exit:\n{self.screen()}"
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminal_env(tmp_path, tone_env, private_cache):
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.05\n")
    env = {key: os.environ[key] for key in ("PATH", "HOME", "VOXLINE_CACHE_DIR",
                                            "VOXLINE_STATE_DIR") if key in os.environ}
    env.update(tone_env, TERM="xterm-256color", RC_FILE=str(tmp_path / "rc"))
    return env, config


def voxline(*args) -> list[str]:
    return [sys.executable, "-c", "from voxline.cli.main import main; main()", *args]


def test_a_job_runs_in_a_real_terminal_and_quits_with_its_exit_code(tmp_path, terminal_env):
    env, config = terminal_env
    out = tmp_path / "out"
    term = Terminal(voxline("tui", str(SAMPLES), "-o", str(out), "--backend", "tone",
                            "--config", str(config)), env)
    try:
        screen = term.wait_for("Stages  Backends  GPU  Log")  # 80x24: one panel at a time
        assert "synthesize" in screen
        screen = term.wait_for("4/4 files", timeout=90)
        assert screen.splitlines()[2].split()[1] == "done"
        for name in ("customer_service.txt", "en_article.txt", "ssml_script.ssml",
                     "zh_news.txt"):
            row = next(line for line in screen.splitlines() if name in line)
            assert "done" in row and "100%" in row
        term.keys("2")
        row = next(line for line in term.wait_for("health").splitlines() if "│ tone" in line)
        assert row.split()[2] == "ok"
        term.keys("3")
        assert "GPU: no NVIDIA GPU" in term.wait_for("GPU: ")
        term.keys("g")  # the GPU panel and its tab go away
        assert "Stages  Backends  Log" in term.wait_for("Stages  Backends  Log")
        term.keys("q")
        term.wait_exit()
    finally:
        term.close()
    assert (tmp_path / "rc").read_text().strip() == "exit=0"
    assert sorted(p.name for p in out.iterdir()) == [
        "customer_service.wav", "en_article.wav", "ssml_script.wav", "zh_news.wav"]


def test_quitting_a_running_job_asks_then_leaves_it_resumable(tmp_path, terminal_env):
    env, config = terminal_env
    out = tmp_path / "out"
    args = ["tui", str(SAMPLES / "en_article.txt"), "-o", str(out), "--backend", "tone",
            "--config", str(config), "--workers", "1"]
    term = Terminal(voxline(*args), env, size=(160, 48))
    try:
        term.wait_for("running")
        term.wait_for("ETA")
        term.keys("q")
        term.wait_for("Cancel it and quit?")
        term.keys("y")
        term.wait_exit()
    finally:
        term.close()
    assert (tmp_path / "rc").read_text().strip() == "exit=130"
    assert not out.exists() or not any(out.iterdir())  # no half file under the final name
    jobs = json.loads(run_cli("jobs", "--json", env=env).stdout)
    assert jobs[0]["state"] == "cancelled"
    rerun = run_cli("synth", *args[1:], "--json", env=env)
    report = json.loads(rerun.stdout)
    assert rerun.returncode == 0 and report["documents"][0]["status"] == "resumed"
    assert report["documents"][0]["cached"] > 0
