"""The seam between the driver and the engines: tasks and results are plain data that cross
a process boundary, and a backend's failure comes back as a typed error, not an exception."""

from __future__ import annotations

import pickle

import numpy as np

from voxline.errors import BackendError
from voxline.executor import LocalExecutor, SynthesisTask, TaskResult, run_task
from voxline.models import Audio, Prosody, SynthesisRequest
from voxline.testing.tone import ToneBackend


def task(**changes) -> SynthesisTask:
    request = SynthesisRequest("Hello there.", "en", None, Prosody())
    return SynthesisTask(**{"backend": "tone", "request": request, "output_rate_hz": 16000,
                            **changes})


def test_a_task_and_its_result_survive_pickling_unchanged():
    sent = pickle.loads(pickle.dumps(task(key="k1", tempo=1.25, gain_db=-3.0)))
    assert sent == task(key="k1", tempo=1.25, gain_db=-3.0)
    result = run_task(ToneBackend(), sent)
    back = pickle.loads(pickle.dumps(result))
    assert back.error is None and back.backend == "tone" and back.node == "local"
    assert back.audio.sample_rate_hz == 16000 and back.audio.samples.dtype == np.int16
    assert np.array_equal(back.audio.samples, result.audio.samples)
    assert back.source_duration_s > 0 and back.synthesize_s >= 0


def test_the_task_makes_the_audio_output_ready():
    plain = run_task(ToneBackend(), task())
    quieter = run_task(ToneBackend(), task(gain_db=-6.0))
    assert len(plain.audio.samples) == len(quieter.audio.samples)
    assert np.abs(quieter.audio.samples).max() < np.abs(plain.audio.samples).max()
    native = run_task(ToneBackend(), task(output_rate_hz=None))
    assert native.audio.sample_rate_hz == ToneBackend.capabilities.sample_rate_hz


class Failing(ToneBackend):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def synthesize(self, request):
        if self.error is None:
            return Audio(np.zeros(0, dtype=np.int16), 16000)
        raise self.error


def test_failures_come_back_as_typed_errors():
    timeout = run_task(Failing(BackendError("timed out", reason="timeout", retryable=True)),
                       task())
    assert timeout.audio is None and (timeout.error.reason, timeout.error.retryable) == \
        ("timeout", True)
    assert isinstance(timeout.error.exception(), BackendError)
    bug = run_task(Failing(ZeroDivisionError("oops")), task())
    assert bug.error.kind == "bug" and "ZeroDivisionError: oops" in bug.error.message
    empty = run_task(Failing(None), task())
    assert empty.error.reason == "no audio" and empty.error.retryable


def test_the_local_executor_runs_on_the_calling_thread_with_the_jobs_instance():
    instance = ToneBackend()
    executor = LocalExecutor(lambda name: instance)
    assert executor.backend("tone") is instance
    result = executor.run(task())
    assert isinstance(result, TaskResult) and result.error is None
    assert executor.describe() == {"kind": "local"}


def test_executor_ray_without_ray_installed_says_which_extra_to_install(tmp_path, tone_env):
    from conftest import run_cli

    hidden = tmp_path / "no-ray"
    (hidden / "ray").mkdir(parents=True)
    (hidden / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    source = tmp_path / "a.txt"
    source.write_text("Hello there, this is a test.", encoding="utf-8")
    env = {"PYTHONPATH": f"{hidden}:{tone_env['PYTHONPATH']}"}
    result = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend", "tone",
                     "--executor", "ray", env=env)
    message = result.stderr.decode()
    assert result.returncode == 2, message
    assert "--executor ray needs Ray" in message and "voxline[ray]" in message
    assert "Traceback" not in message and not (tmp_path / "a.wav").exists()
