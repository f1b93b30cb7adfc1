"""Progress on the terminal while a job runs: an event-hook plugin, like any other listener."""

from __future__ import annotations

import sys
import threading
import time

import click

import voxline
from voxline.display import printable


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressDisplay:
    """A one-line progress bar on a terminal; one line per finished document otherwise."""

    def __init__(self, total_documents: int, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.total_documents = total_documents
        self.documents_done = 0
        self.chunks_total = 0
        self.chunks_done = 0
        self.audio_s = 0.0
        self.started = time.perf_counter()
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._counting: set[str] = set()

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.live or (not force and now - self._last_draw < 0.1):
            return
        self._last_draw = now
        elapsed = now - self.started
        fraction = self.chunks_done / self.chunks_total if self.chunks_total else 0.0
        width = 24
        bar = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        eta = ""
        if self.chunks_done and self.documents_done < self.total_documents:
            # chunks of documents not yet segmented are unknown; the ETA covers the known ones
            eta = f" · ETA {_clock(elapsed / self.chunks_done * (self.chunks_total - self.chunks_done))}"
        line = (f"\r[{bar}] {self.chunks_done}/{self.chunks_total} chunks · "
                f"{self.documents_done}/{self.total_documents} files · "
                f"{self.audio_s:.0f}s audio · {_clock(elapsed)}{eta}")
        self.stream.write(line.ljust(100)[:120])
        self.stream.flush()

    def _print(self, message: str) -> None:
        if self.live:
            self.stream.write("\r" + " " * 110 + "\r")
        self.stream.write(message + "\n")
        self.stream.flush()
        self._draw(force=True)

    @voxline.hookimpl
    def document_started(self, document, chunk_count):
        with self._lock:
            if chunk_count is None:  # a large input, segmented as it goes: count as they come
                self._counting.add(document.source)
            else:
                self.chunks_total += chunk_count
            self._draw()

    @voxline.hookimpl
    def chunk_started(self, document, chunk):
        if document.source in self._counting:
            with self._lock:
                self.chunks_total += 1

    @voxline.hookimpl
    def chunk_finished(self, document, chunk, audio_duration_s):
        with self._lock:
            self.chunks_done += 1
            self.audio_s += audio_duration_s
            self._draw()

    @voxline.hookimpl
    def document_finished(self, document, result):
        with self._lock:
            self.documents_done += 1
            if result.status == voxline.InputStatus.UP_TO_DATE:
                self._print(f"  skip {printable(result.output)}  (up to date; --force to redo)")
            elif result.ok:
                cached = (f", {result.cached} from cache" if result.cached else "")
                status = "" if result.status == voxline.InputStatus.NEW else f"; {result.status}"
                self._print(f"  ok   {printable(result.output)}  ({result.audio_s:.1f}s audio, "
                            f"{result.chunks} chunks{cached}{status})")
            else:
                self._print(click.style("  FAIL ", fg="red") + printable(result.error))

    @voxline.hookimpl
    def warning(self, document, message):
        where = f"{document.source}: " if document is not None else ""
        with self._lock:
            self._print(click.style("  warn ", fg="yellow") + printable(where + message))

    @voxline.hookimpl
    def job_finished(self, job, report):
        with self._lock:
            if self.live:
                self._draw(force=True)
                self.stream.write("\n")
                self.stream.flush()
