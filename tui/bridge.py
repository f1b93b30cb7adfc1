"""The TUI's view of the pipeline: an event-hook plugin that turns each hook call into a
message posted to the app (thread-safe, never blocking the pipeline's threads)."""

from __future__ import annotations

import voxline
from voxline.textio import source_label

from . import messages as m

TEXT_LIMIT = 2000  # characters of a chunk's spoken text kept for the details screen


class EventBridge:
    def __init__(self, post):
        """`post`: the app's `post_message`."""
        self.post = post

    @voxline.hookimpl
    def job_started(self, job):
        self.post(m.JobStarted([(source_label(s.source), str(s.output))
                                for s in job.inputs]))

    @voxline.hookimpl
    def document_started(self, document, chunk_count):
        self.post(m.DocumentStarted(document.source, chunk_count))

    @voxline.hookimpl
    def chunk_started(self, document, chunk):
        self.post(m.ChunkStarted(document.source, chunk.index, chunk.text[:TEXT_LIMIT]))

    @voxline.hookimpl
    def stage_finished(self, document, stage, duration_s, chunk):
        self.post(m.StageFinished(document.source if document is not None else None, stage,
                                  duration_s, None if chunk is None else chunk.index))

    @voxline.hookimpl
    def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
        self.post(m.ChunkFinished(document.source, chunk.index, audio_duration_s, backend,
                                  cached))

    @voxline.hookimpl
    def chunk_verified(self, document, chunk, backend, error_rate, limit, transcript):
        self.post(m.ChunkVerified(backend, error_rate, limit))

    @voxline.hookimpl
    def document_finished(self, document, result):
        self.post(m.DocumentFinished(result.source, result.output, result.ok, result.status,
                                     result.error, result.chunks, result.audio_s,
                                     result.cached, result.cancelled))

    @voxline.hookimpl
    def attempt_failed(self, document, chunk, backend, reason, action):
        self.post(m.AttemptFailed(document.source if document is not None else None,
                                  chunk.index, backend, reason, action))

    @voxline.hookimpl
    def backend_state(self, backend, state):
        # health answers can be large server bodies: keep what the panel shows
        self.post(m.BackendChanged(backend, {k: v for k, v in state.items() if k != "health"}))

    @voxline.hookimpl
    def warning(self, document, message):
        self.post(m.WarningRaised(document.source if document is not None else None,
                                  message[:500]))

    @voxline.hookimpl
    def job_finished(self, job, report):
        self.post(m.JobFinished(report.exit_code, report.cancelled, report.interrupted))
