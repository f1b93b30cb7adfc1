"""Messages the app receives: pipeline events (posted from the job's threads by the bridge
plugin) and GPU samples. Each carries plain data and knows how to apply itself to the
`JobView`, so the app has one handler for all of them."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from voxline.gpu import GpuReport

from .state import JobView


class PipelineEvent(Message):
    """Base of the pipeline's event messages."""

    def apply(self, state: JobView) -> None:
        raise NotImplementedError


@dataclass
class JobStarted(PipelineEvent):
    inputs: list[tuple[str, str]]

    def apply(self, state):
        state.job_started(self.inputs)


@dataclass
class DocumentStarted(PipelineEvent):
    source: str
    chunk_count: int | None

    def apply(self, state):
        state.document_started(self.source, self.chunk_count)


@dataclass
class ChunkStarted(PipelineEvent):
    source: str
    index: int
    text: str

    def apply(self, state):
        state.chunk_started(self.source, self.index, self.text)


@dataclass
class StageFinished(PipelineEvent):
    source: str | None
    stage: str
    duration_s: float
    chunk_index: int | None

    def apply(self, state):
        state.stage_finished(self.source, self.stage, self.duration_s, self.chunk_index)


@dataclass
class ChunkFinished(PipelineEvent):
    source: str
    index: int
    audio_s: float
    backend: str
    cached: bool

    def apply(self, state):
        state.chunk_finished(self.source, self.index, self.audio_s, self.backend, self.cached)


@dataclass
class ChunkVerified(PipelineEvent):
    backend: str
    error_rate: float
    limit: float

    def apply(self, state):
        state.chunk_verified(self.backend, self.error_rate, self.limit)


@dataclass
class DocumentFinished(PipelineEvent):
    source: str
    output: str | None
    ok: bool
    status: str
    error: str | None
    chunks: int
    audio_s: float
    cached: int
    cancelled: bool = False

    def apply(self, state):
        state.document_finished(self.source, self.output, self.ok, self.status, self.error,
                                self.chunks, self.audio_s, self.cached, self.cancelled)


@dataclass
class AttemptFailed(PipelineEvent):
    source: str | None
    chunk_index: int
    backend: str
    reason: str
    action: str

    def apply(self, state):
        state.attempt_failed(self.source, self.chunk_index, self.backend, self.reason,
                             self.action)


@dataclass
class BackendChanged(PipelineEvent):
    backend: str
    state: dict

    def apply(self, state):
        state.backend_state(self.backend, self.state)


@dataclass
class WarningRaised(PipelineEvent):
    source: str | None
    message: str

    def apply(self, state):
        state.warning(self.source, self.message)


@dataclass
class JobFinished(PipelineEvent):
    exit_code: int
    cancelled: bool
    interrupted: bool

    def apply(self, state):
        state.job_finished(self.exit_code, self.cancelled, self.interrupted)


@dataclass
class GpuSampled(Message):
    report: GpuReport
