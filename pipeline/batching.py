"""Gathering chunks into batches for backends that synthesize lists at once.

The workers keep calling `synthesize(request)` one chunk at a time, so retries, fallbacks, the
quality guard and the chunk cache stay per chunk. For a backend whose capabilities say
`batches`, the pool hands the workers a `BatchingBackend` instead: each call waits in a queue
while one thread of its own takes up to `batch_size` waiting requests, calls the backend's
`synthesize_batch` once with the list, and gives each caller its own audio back. A short
linger lets the chunks the job submitted together arrive before a list is cut; a lone chunk (a
document's last, a retry) goes on its own after it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .backend import Backend
from .models import Audio, SynthesisRequest


class BatchingBackend:
    """`backend` behind a queue that turns concurrent `synthesize` calls into
    `synthesize_batch` calls of up to `batch_size` requests, one batch at a time. Every other
    attribute is the backend's own."""

    def __init__(self, backend: Backend, batch_size: int, linger_s: float = 0.05,
                 on_batch: Callable[[int], None] | None = None):
        self.backend = backend
        self.batch_size = max(1, int(batch_size))
        self.linger_s = linger_s
        self.on_batch = on_batch or (lambda size: None)
        self.batches: list[int] = []  # the size of each batch run, in order
        self._queue: deque[tuple[SynthesisRequest, Future]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"voxline-batch-{backend.name}",
                                        daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def synthesize(self, request: SynthesisRequest) -> Audio:
        future: Future = Future()
        with self._wake:
            if self._closed:
                raise RuntimeError("backend closed")
            self._queue.append((request, future))
            self._wake.notify_all()
        return future.result()

    def _take(self) -> list[tuple[SynthesisRequest, Future]] | None:
        """The next batch: waits for a first request, then up to `linger_s` for the batch to
        fill, each newcomer restarting the wait; None once closed."""
        with self._wake:
            while not self._queue and not self._closed:
                self._wake.wait()
            if self._closed and not self._queue:
                return None
            while len(self._queue) < self.batch_size and not self._closed:
                before = len(self._queue)
                self._wake.wait(self.linger_s)
                if len(self._queue) == before:
                    break
            size = min(self.batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(size)]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            batch = [(request, future) for request, future in batch
                     if future.set_running_or_notify_cancel()]
            if not batch:
                continue
            self.batches.append(len(batch))
            self.on_batch(len(batch))
            try:
                produced = self.backend.synthesize_batch([request for request, _ in batch])
                if len(produced) != len(batch):
                    raise RuntimeError(f"synthesize_batch returned {len(produced)} results "
                                       f"for {len(batch)} requests")
            except BaseException as exc:  # each caller gets the error and decides
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), audio in zip(batch, produced):
                if isinstance(audio, BaseException):  # that request failed on its own
                    future.set_exception(audio)
                else:
                    future.set_result(audio)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._wake.notify_all()
        for _, future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("backend closed"))
        self._thread.join(timeout=60)
        self.backend.close()
