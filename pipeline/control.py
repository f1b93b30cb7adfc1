"""Pausing, resuming and cancelling a running job from another thread (the TUI, a signal)."""

from __future__ import annotations

import threading


class JobCancelled(Exception):
    """Raised on a worker for a chunk that was not started because the job was cancelled."""


class JobControl:
    """What a job's workers consult before they start a chunk.

    Pausing lets the chunks already on a backend finish, then holds the rest; cancelling does
    the same and then ends the job, keeping every finished chunk in the cache and the job's
    manifest, so running the same command again resumes it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._cancelled = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def admit(self) -> None:
        """Return when a new chunk may start: at once, or when a pause ends; raise
        `JobCancelled` once the job is cancelled."""
        with self._cond:
            while self._paused and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                raise JobCancelled()
