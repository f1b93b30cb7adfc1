"""Where chunk synthesis runs: the seam between the driver and the engines.

The driver (the `voxline` process) reads, orders, caches, assembles, keeps the manifest, calls
the hooks and walks each chunk's retry and fallback chain. Each attempt on one backend is a
`SynthesisTask`: plain, picklable data (the request, the backend's name and options, the cache
key, the output rate) that an executor runs and answers with a `TaskResult` (output-ready audio
or a `TaskError`, the backend and node that served it, timings, the backend's notes). A task
calls no hook and touches no shared state, so it can run on a thread of this process
(`LocalExecutor`) or in a Ray actor on another machine (`voxline.ray_executor`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import audio as audio_mod
from .backend import Backend
from .errors import BackendError, VoxlineError
from .models import Audio, SynthesisRequest


@dataclass(frozen=True)
class SynthesisTask:
    """One attempt at one chunk on one backend."""

    backend: str
    request: SynthesisRequest
    options: Mapping[str, Any] = field(default_factory=dict)  # the backend's [backends.NAME]
    key: str | None = None  # the chunk cache key of the audio asked for
    output_rate_hz: int | None = None  # None: the backend's own rate, untouched
    tempo: float = 1.0  # <prosody rate> the backend cannot apply itself
    gain_db: float = 0.0  # <prosody volume> the backend cannot apply itself


@dataclass(frozen=True)
class TaskError:
    """Why a task produced no audio. `kind`: "backend" (a `BackendError`: `reason`,
    `retryable`) or "bug" (a plugin raised something that is not a `VoxlineError`). Other
    `VoxlineError`s (a usage error) are raised by `run_task` and stop the job."""

    message: str
    kind: str = "backend"
    reason: str = "error"
    retryable: bool = False
    retry_after_s: float | None = None
    hint: str | None = None

    @classmethod
    def of(cls, exc: BaseException, backend: str) -> "TaskError":
        if isinstance(exc, BackendError):
            return cls(exc.message, "backend", exc.reason, exc.retryable,
                       getattr(exc, "retry_after_s", None), exc.hint)
        return cls(f"backend {backend!r} failed: {type(exc).__name__}: {exc}", "bug")

    def exception(self) -> BackendError:
        error = BackendError(self.message, hint=self.hint, reason=self.reason,
                             retryable=self.retryable)
        if self.retry_after_s is not None:
            error.retry_after_s = self.retry_after_s  # type: ignore[attr-defined]
        return error


@dataclass(frozen=True)
class TaskResult:
    """What a task produced: `audio` output-ready (mono int16 at the task's output rate, or
    the backend's own audio when it asked for none), or `error`."""

    backend: str
    audio: Audio | None = None
    error: TaskError | None = None
    source_duration_s: float = 0.0  # the backend's audio, before tempo changes
    notes: tuple[str, ...] = ()  # what the backend had to change (`Audio.notes`)
    synthesize_s: float = 0.0
    resample_s: float = 0.0
    node: str = "local"  # which machine ran it


def run_task(backend: Backend, task: SynthesisTask, node: str = "local") -> TaskResult:
    """Run `task` on a loaded `backend` instance; never raises for the backend's failures."""
    name = task.backend
    started = time.perf_counter()
    try:
        produced = backend.synthesize(task.request)
        if produced is not None and not isinstance(produced, Audio):
            raise BackendError(f"backend {name!r} (plugin bug): synthesize returned "
                               f"{type(produced).__name__}, not voxline.Audio",
                               reason="wrong type")
        if produced is None or produced.sample_rate_hz <= 0 or produced.frames == 0:
            raise BackendError(f"backend {name!r} returned no audio", reason="no audio",
                               retryable=True)
    except BackendError as exc:
        return TaskResult(name, error=TaskError.of(exc, name), node=node,
                          synthesize_s=time.perf_counter() - started)
    except VoxlineError:
        raise
    except Exception as exc:  # a plugin's own bug: named, not retried
        return TaskResult(name, error=TaskError.of(exc, name), node=node,
                          synthesize_s=time.perf_counter() - started)
    synthesize_s = time.perf_counter() - started
    started = time.perf_counter()
    audio = produced
    if task.output_rate_hz is not None:
        if task.tempo != 1.0:
            audio = audio_mod.change_tempo(audio, task.tempo)
        audio = audio_mod.resample(audio, task.output_rate_hz, task.gain_db)
    return TaskResult(name, audio, None, produced.duration_s, tuple(produced.notes),
                      synthesize_s, time.perf_counter() - started, node)


class Executor(Protocol):
    """Runs synthesis tasks. `backend(name)` gives what the driver needs to plan an attempt
    (a `Router` instance, or an object with the backend's `capabilities`; raises
    `BackendError` for a backend that cannot start); `run(task)` blocks until the task's
    result is in and may be called from several driver threads at once."""

    kind: str

    def backend(self, name: str) -> Any: ...

    def run(self, task: SynthesisTask) -> TaskResult: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Tasks on the calling thread, with this process's backend instances: `get(name)` the
    instance for this thread, `limit(name)` the backend's concurrency semaphore (or None)."""

    kind = "local"

    def __init__(self, get: Callable[[str], Backend],
                 limit: Callable[[str], threading.Semaphore | None] = lambda name: None,
                 close: Callable[[], None] = lambda: None):
        self._get = get
        self._limit = limit or (lambda name: None)
        self._close = close

    def backend(self, name: str) -> Backend:
        return self._get(name)

    def run(self, task: SynthesisTask) -> TaskResult:
        backend = self._get(task.backend)
        limit = self._limit(task.backend)
        if limit is None:
            return run_task(backend, task)
        with limit:
            return run_task(backend, task)

    def describe(self) -> dict:
        return {"kind": self.kind}

    def close(self) -> None:
        self._close()
