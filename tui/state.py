"""What the TUI knows about the running job, built from pipeline events only.

Plain Python (no Textual): the app applies each event message here on its own thread and the
widgets draw from it on a timer, so a burst of chunk events costs one redraw.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from voxline import InputStatus
from voxline.job import STAGES

STAGE_LABELS = {"ssml": "ssml-clean"}  # what the issue tracker and docs call them

class DocState(StrEnum):
    """A document's state in the job panel, in the words it shows."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    RESUMED = InputStatus.RESUMED.value
    UP_TO_DATE = InputStatus.UP_TO_DATE.value
    CANCELLED = "cancelled"


QUEUED, RUNNING, DONE, FAILED, RESUMED, UP_TO_DATE, CANCELLED = DocState


@dataclass
class ChunkRecord:
    index: int
    text: str
    backend: str | None = None
    synthesize_s: float | None = None
    resample_s: float | None = None
    audio_s: float | None = None
    cached: bool = False

    @property
    def done(self) -> bool:
        return self.audio_s is not None


@dataclass
class DocumentRow:
    source: str
    output: str | None = None
    state: str = QUEUED
    chunks_total: int | None = None  # None until segmented (or while a large input streams)
    chunks_done: int = 0
    chunks_seen: int = 0
    audio_s: float = 0.0
    cached: int = 0
    error: str | None = None
    chunks: dict[int, ChunkRecord] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        if self.state in (DONE, UP_TO_DATE):
            return 1.0
        total = self.chunks_total or self.chunks_seen
        return self.chunks_done / total if total else 0.0

    @property
    def chunks_label(self) -> str:
        total = self.chunks_total if self.chunks_total is not None else (
            f"{self.chunks_seen}+" if self.chunks_seen else "?")
        return f"{self.chunks_done}/{total}"


@dataclass
class StageStats:
    """Count and total of every run of a stage; mean and p95 over the last `WINDOW` runs, so
    a job of a million chunks does not keep a million timings."""

    WINDOW = 20_000

    durations_s: deque = field(default_factory=lambda: deque(maxlen=StageStats.WINDOW))
    total_s: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        self.durations_s.append(seconds)
        self.total_s += seconds
        self.count += 1

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.count if self.count else None

    @property
    def p95_s(self) -> float | None:
        if not self.durations_s:
            return None
        ordered = sorted(self.durations_s)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


@dataclass
class BackendRow:
    name: str
    chunks: int = 0
    cached: int = 0
    synthesize_s: float = 0.0
    audio_s: float = 0.0
    failures: Counter = field(default_factory=Counter)
    retries: int = 0
    fallbacks: int = 0
    breaker: str | None = None
    choice: str | None = None  # a router's current target
    admission: str | None = None  # a GPU backend waiting for memory
    gpu_memory_fraction: float | None = None
    last_failure: str | None = None
    # --verify: audio heard by the recognizer, its error rates, and how much was turned down
    verified: int = 0
    verify_total: float = 0.0
    verify_max: float = 0.0
    verify_rejected: int = 0
    # --executor ray: chunks each cluster node served for this backend (node id → count)
    nodes: Counter = field(default_factory=Counter)

    @property
    def nodes_label(self) -> str:
        """`3f2a9c1e:12 b71d0e44:8`: each node (its id's first 8 digits) and its chunks."""
        return " ".join(f"{node[:8]}:{count}" for node, count in
                        sorted(self.nodes.items(), key=lambda item: (-item[1], item[0])))

    @property
    def verify_label(self) -> str:
        """`12 ø0.03 max0.10 ✗1`: chunks heard, mean and worst error rate, rejected."""
        if not self.verified:
            return "-"
        return (f"{self.verified} ø{self.verify_total / self.verified:.2f} "
                f"max{self.verify_max:.2f}" + (f" ✗{self.verify_rejected}"
                                               if self.verify_rejected else ""))

    @property
    def rtf(self) -> float | None:
        """Synthesis time over audio produced, for the chunks this backend synthesized."""
        produced = self.audio_s
        return self.synthesize_s / produced if produced else None

    @property
    def health(self) -> str:
        if self.breaker == "open":
            return "circuit open"
        if self.admission == "waiting":
            memory = ("" if self.gpu_memory_fraction is None
                      else f" ({self.gpu_memory_fraction:.0%} GPU memory)")
            return "waiting" + memory
        if self.breaker == "half-open":
            return "probing"
        if self.last_failure and not self.chunks:
            return f"failing: {self.last_failure}"
        if self.chunks or self.cached:
            return "ok" if not self.failures else f"ok, {sum(self.failures.values())} errors"
        return "idle"


@dataclass
class LogLine:
    at_s: float
    level: str  # warning, error, info
    text: str


class JobView:
    """The job as the TUI shows it. `clock` is injectable so screenshots are repeatable."""

    LOG_LINES = 500
    CHUNK_RECORDS = 10_000  # per document, for the details screen

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.documents: dict[str, DocumentRow] = {}
        self.stages = {stage: StageStats() for stage in STAGES}
        self.backends: dict[str, BackendRow] = {}
        self.log: deque[LogLine] = deque(maxlen=self.LOG_LINES)
        self.phase = "idle"  # running, pausing, paused, cancelling, done, cancelled, failed
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.active_s = 0.0  # time running in earlier jobs of this session (queue added later)
        self.in_flight = 0
        self.exit_code: int | None = None
        self.version = 0  # bumped on every change; widgets redraw when it moved
        self.log_count = 0  # lines ever logged (the log keeps the last LOG_LINES)

    # -- events ------------------------------------------------------------------------

    def _changed(self) -> None:
        self.version += 1

    def queue(self, source: str, output: str) -> None:
        if source not in self.documents or self.documents[source].state in (
                DONE, FAILED, CANCELLED, UP_TO_DATE):
            self.documents[source] = DocumentRow(source, output)
        self._changed()

    def job_started(self, inputs: list[tuple[str, str]]) -> None:
        for source, output in inputs:
            self.queue(source, output)
        if self.started_at is None or self.finished_at is not None:
            if self.started_at is not None and self.finished_at is not None:
                self.active_s += self.finished_at - self.started_at
            self.started_at, self.finished_at = self.clock(), None
        self.phase = "running"
        self.exit_code = None
        self.add_log("info", f"job started: {len(inputs)} files")

    def _document(self, source: str) -> DocumentRow:
        if source not in self.documents:
            self.documents[source] = DocumentRow(source)
        return self.documents[source]

    def document_started(self, source: str, chunk_count: int | None) -> None:
        doc = self._document(source)
        doc.state, doc.chunks_total = RUNNING, chunk_count
        self._changed()

    def chunk_started(self, source: str, index: int, text: str) -> None:
        doc = self._document(source)
        if len(doc.chunks) >= self.CHUNK_RECORDS:  # a huge input: keep the latest ones
            doc.chunks.pop(next(iter(doc.chunks)))
        doc.chunks[index] = ChunkRecord(index, text)
        doc.chunks_seen = max(doc.chunks_seen, index + 1)
        self.in_flight += 1
        self._changed()

    def stage_finished(self, source: str | None, stage: str, duration_s: float,
                       chunk_index: int | None) -> None:
        self.stages.setdefault(stage, StageStats()).add(duration_s)
        if source is not None and chunk_index is not None:
            record = self._document(source).chunks.get(chunk_index)
            if record is not None:
                if stage == "synthesize":
                    record.synthesize_s = duration_s
                elif stage == "resample":
                    record.resample_s = duration_s
        self._changed()

    def chunk_finished(self, source: str, index: int, audio_s: float, backend: str,
                       cached: bool) -> None:
        doc = self._document(source)
        record = doc.chunks.setdefault(index, ChunkRecord(index, ""))
        record.audio_s, record.backend, record.cached = audio_s, backend, cached
        doc.chunks_done += 1
        doc.audio_s += audio_s
        doc.cached += cached
        self.in_flight = max(0, self.in_flight - 1)
        row = self._backend(backend)
        if cached:
            row.cached += 1
        else:
            row.chunks += 1
            row.synthesize_s += record.synthesize_s or 0.0
            row.audio_s += audio_s
        self._changed()

    def document_finished(self, source: str, output: str | None, ok: bool, status: str,
                          error: str | None, chunks: int, audio_s: float, cached: int,
                          cancelled: bool = False) -> None:
        doc = self._document(source)
        doc.output, doc.error = output or doc.output, error
        if status == InputStatus.UP_TO_DATE:
            doc.state = UP_TO_DATE
            doc.chunks_total = doc.chunks_done = chunks
            doc.audio_s, doc.cached = audio_s, cached
        elif ok:
            doc.state = RESUMED if status == InputStatus.RESUMED else DONE
            doc.chunks_total, doc.audio_s = chunks, audio_s
        else:
            doc.state = CANCELLED if cancelled else FAILED
            if doc.state == FAILED:
                self.add_log("error", error or f"{source}: failed")
        self._changed()

    def attempt_failed(self, source: str | None, chunk_index: int, backend: str, reason: str,
                       action: str) -> None:
        row = self._backend(backend)
        row.failures[reason] += 1
        row.last_failure = reason
        if action == "retry":
            row.retries += 1
        elif action == "fallback":
            row.fallbacks += 1
        where = f"{source}: " if source else ""
        self.add_log("warning", f"{where}chunk {chunk_index + 1}: {backend}: {reason} → {action}")

    def chunk_verified(self, backend: str, error_rate: float, limit: float) -> None:
        row = self._backend(backend)
        row.verified += 1
        row.verify_total += error_rate
        row.verify_max = max(row.verify_max, error_rate)
        row.verify_rejected += error_rate > limit
        self._changed()

    def backend_state(self, backend: str, state: dict) -> None:
        row = self._backend(backend)
        if "breaker" in state:
            row.breaker = state["breaker"]
            self.add_log("info", f"{backend}: circuit {state['breaker']}")
        if "choice" in state:
            row.choice = state["choice"]
        if "admission" in state:
            row.admission = state["admission"]
            row.gpu_memory_fraction = state.get("gpu_memory_fraction")
        if "node" in state:
            row.nodes[state["node"]] += 1
        self._changed()

    def warning(self, source: str | None, message: str) -> None:
        self.add_log("warning", f"{source}: {message}" if source else message)

    def job_finished(self, exit_code: int, cancelled: bool, interrupted: bool) -> None:
        self.finished_at = self.clock()
        self.exit_code = exit_code
        self.in_flight = 0
        self.phase = ("cancelled" if cancelled or interrupted
                      else "failed" if exit_code else "done")
        for doc in self.documents.values():
            if doc.state == RUNNING:
                doc.state = CANCELLED if cancelled else FAILED
        self.add_log("error" if exit_code and not cancelled else "info",
                     f"job {self.phase} (exit code {exit_code})"
                     + ("; the same command resumes it" if self.phase == "cancelled" else ""))

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._changed()

    def add_log(self, level: str, text: str) -> None:
        self.log.append(LogLine(self.clock(), level, text))
        self.log_count += 1
        self._changed()

    def _backend(self, name: str) -> BackendRow:
        if name not in self.backends:
            self.backends[name] = BackendRow(name)
        return self.backends[name]

    # -- what the panels show ----------------------------------------------------------

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return self.active_s
        end = self.finished_at if self.finished_at is not None else self.clock()
        return self.active_s + end - self.started_at

    @property
    def running(self) -> bool:
        return self.phase in ("running", "pausing", "paused", "cancelling")

    @property
    def chunks_done(self) -> int:
        return sum(d.chunks_done for d in self.documents.values()
                   if d.state != UP_TO_DATE)

    @property
    def audio_s(self) -> float:
        return sum(d.audio_s for d in self.documents.values() if d.state != UP_TO_DATE)

    @property
    def cache_hits(self) -> int:
        return sum(d.cached for d in self.documents.values() if d.state != UP_TO_DATE)

    @property
    def rtf(self) -> float | None:
        return self.elapsed_s / self.audio_s if self.audio_s else None

    def counts(self) -> Counter:
        return Counter(d.state for d in self.documents.values())

    def eta_s(self) -> float | None:
        """Time left for the chunks known so far, plus the documents not yet segmented at
        the mean chunk count of those that were; None until a chunk is done."""
        if not self.running or self.phase == "paused":
            return None
        this_run = [d for d in self.documents.values() if d.state != UP_TO_DATE]
        done = sum(d.chunks_done for d in this_run)
        synthesized = sum(d.chunks_done - d.cached for d in this_run)
        if not synthesized:
            return None
        known = [d for d in this_run if d.chunks_total is not None]
        per_doc = sum(d.chunks_total for d in known) / len(known) if known else 0
        remaining = sum((d.chunks_total if d.chunks_total is not None else
                         max(per_doc, d.chunks_seen)) - d.chunks_done
                        for d in this_run if d.state in (QUEUED, RUNNING))
        elapsed = self.elapsed_s
        return max(0.0, elapsed / done * remaining) if done else None
