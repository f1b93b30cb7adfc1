"""voxline's pytest plugin, for plugin authors: fixtures available in any test once voxline is
installed, with no import (registered through the `pytest11` entry point).

- `voxline_pm`: a fresh, strict plugin manager with the built-in plugins and no other
  installed plugin; register the plugin under test on it.
- `voxline_tone`: the same manager with the deterministic `tone` backend registered.
- `voxline_run`: runs a real job (all stages, FFmpeg included) on that manager in a temporary
  folder, with its own cache and job state, and returns a `RunResult`: the output's audio as
  samples, its rate and duration, the job report and the stage timings.
- `assert_audio(result, ...)`: the checks a user would make of the output file.
"""

from __future__ import annotations

import itertools
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class RunResult:
    output: Path
    samples: Any  # numpy int16 array, mono
    sample_rate_hz: int
    report: Any  # voxline.job.JobReport

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def stage_s(self) -> dict[str, float]:
        return self.report.stage_s

    @property
    def backends(self) -> dict[str, int]:
        return self.report.documents[0].backends


def assert_audio(result: RunResult, *, sample_rate_hz: int = 16000, min_s: float = 0.1,
                 max_s: float | None = None, silent: bool = False) -> None:
    """The job succeeded and wrote audio at `sample_rate_hz` lasting between `min_s` and
    `max_s` seconds, with sound in it (or none, with `silent`)."""
    import numpy as np

    report = result.report
    assert report.exit_code == 0, [d.error for d in report.documents if d.error]
    assert result.sample_rate_hz == sample_rate_hz, \
        f"output is {result.sample_rate_hz} Hz, expected {sample_rate_hz} Hz"
    assert result.duration_s >= min_s, f"only {result.duration_s:.3f}s of audio"
    if max_s is not None:
        assert result.duration_s <= max_s, f"{result.duration_s:.3f}s of audio, over {max_s}s"
    rms = float(np.sqrt(np.mean(result.samples.astype(np.float64) ** 2))) if len(
        result.samples) else 0.0
    if silent:
        assert rms < 1.0, f"expected silence, RMS is {rms:.1f}"
    else:
        assert rms > 30.0, f"the audio is (nearly) silent: RMS {rms:.1f}"


@pytest.fixture
def voxline_pm():
    from voxline.pluginmanager import new_plugin_manager

    return new_plugin_manager(load_env="", strict=True)


@pytest.fixture
def voxline_tone(voxline_pm):
    import voxline.testing.tone

    voxline_pm.register(voxline.testing.tone, name="voxline.testing.tone")
    return voxline_pm


@pytest.fixture
def voxline_run(voxline_pm, tmp_path, monkeypatch):
    """`voxline_run(text, **settings)`: synthesize `text` (a str, or a Path to a .txt/.ssml
    file) with the manager's plugins; `settings` are `[synth]` keys (`backend`, `voice`,
    `lang`, `workers`, ...) plus `backend_options={"name": {...}}`."""
    from voxline.audio import FORMATS
    from voxline.job import Job, Pipeline, output_specs
    from voxline.pluginmanager import build_registry
    from voxline.settings import load_settings

    monkeypatch.setenv("VOXLINE_CACHE_DIR", str(tmp_path / "voxline-cache"))
    monkeypatch.setenv("VOXLINE_STATE_DIR", str(tmp_path / "voxline-state"))
    runs = itertools.count()

    def run(text: str | Path, *, backend_options: dict | None = None,
            **settings: Any) -> RunResult:
        n = next(runs)
        if isinstance(text, Path):
            source = text
        else:
            source = tmp_path / f"input-{n}.txt"
            source.write_text(text, encoding="utf-8")
        loaded = load_settings(overrides=settings, env={})
        for name, options in (backend_options or {}).items():
            loaded.backends.setdefault(name, {}).update(options)
        fmt = FORMATS["wav"]
        specs = output_specs([(source, None)], tmp_path / f"output-{n}", fmt, False)
        report = Pipeline(voxline_pm, build_registry(voxline_pm), loaded).run(
            Job(specs, loaded))
        output = specs[0].output
        samples, rate = _read_wav(output) if output.exists() else (_empty(), 0)
        return RunResult(output, samples, rate, report)

    return run


def _empty():
    import numpy as np

    return np.zeros(0, dtype=np.int16)


def _read_wav(path: Path):
    import numpy as np

    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return data, w.getframerate()
