"""One run of one job (`JobRun`, started by `Pipeline.start`): the main thread reads and
prepares documents in order, keeps a window of chunks in flight on the executor (spanning
document boundaries), and writes each document's audio in chunk order as results arrive,
with the cache, the manifest, the hooks, retries and fallbacks on this (the driver's) side.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import audio as audio_mod
from . import textio
from .control import JobCancelled, JobControl
from .errors import EXIT_INTERRUPTED, BackendError, InputError, VoxlineError
from .executor import Executor
from .models import Chunk, Document, InputStatus
from .normalize import NormalizerSet
from .prepare import PreparedInput, prepare_input
from .resilience import Dispatcher, QualityGuard, RetryPolicy
from .silence import SilenceBudget
from .subtitles import SubtitleWriter, speech_bounds
from .job import MAX_AUTO_BATCH, InputSpec, Job, JobState
from .report import DocumentResult, JobReport

if TYPE_CHECKING:
    from .job import Pipeline


@dataclass
class _ChunkAudio:
    pcm: "object"
    backend: str
    synthesize_s: float
    resample_s: float
    warning: str | None = None
    key: str | None = None
    cached: bool = False
    verdict: "object | None" = None  # --verify: the recognizer's verdict on this audio
    rejected: list = field(default_factory=list)  # and on the audio turned down before it
    verify_s: float = 0.0


@dataclass
class _DocState:
    job: JobState
    spec: InputSpec
    position: int
    prepared: PreparedInput
    result: DocumentResult
    upcoming: Chunk | None = None  # the next chunk to submit (None: all submitted)
    encoder: "audio_mod.Encoder | audio_mod.WavWriter | audio_mod.StreamEncoder | " \
        "audio_mod.LoudnessEncoder | None" = None
    subtitles: "SubtitleWriter | None" = None
    failed: bool = False
    cancelled: bool = False
    read_base: float = 0.0  # time spent hashing and opening the input
    silence: SilenceBudget | None = None  # the pauses inserted so far, within their caps
    # the previous chunk continues into the next one (`Chunk.continues`): where its subtitle
    # cue started and what it says, and that the next chunk's leading silence is trimmed
    spliced: bool = False
    cue: tuple[float, str] | None = None

    def take(self) -> tuple[Chunk, bool]:
        """The next chunk, and whether it is the document's last (may raise an InputError
        found further into a streamed input)."""
        chunk = self.upcoming
        self.upcoming = next(self.prepared.chunks, None)
        return chunk, self.upcoming is None


class JobRun:
    """One run of one job on a `Pipeline` (`Pipeline.start`). The pipeline is long-lived and
    keeps only what outlives a job (plugins, settings, loaded lexicons and recognizer, and
    any backends, threads or cache its caller lends it); everything this run knows and
    decides is here, so a TUI queue or a server can run jobs one after another, or several
    at once, on one pipeline.

    The driver side: this run reads and prepares documents, keeps the window of chunks in
    flight, walks each chunk's retries and fallbacks (`voxline.resilience.Dispatcher`) on its
    dispatch threads, caches, assembles, keeps the manifest and calls the hooks. Only the
    synthesis attempts themselves (`voxline.executor.SynthesisTask`) leave it, to the
    executor."""

    def __init__(self, pipeline: Pipeline, job: Job, control: JobControl | None = None, *,
                 record: bool = True):
        self.pipeline = pipeline
        self.job = job
        self.control = control or JobControl()
        self.record = record
        # the pipeline's, read only
        self.pm = pipeline.pm
        self.registry = pipeline.registry
        self.settings = pipeline.settings
        self.format = pipeline.format
        self.loudness = pipeline.loudness
        self.state: JobState | None = None  # opened by run()
        self.results: list[DocumentResult] = []
        self.executor: Executor | None = None
        self.dispatcher: Dispatcher | None = None


    def run(self) -> JobReport:
        """Run the job to its end (or to a cancel or an interrupt) and report it."""
        pipeline, job, control, settings = self.pipeline, self.job, self.control, self.settings
        if self.state is not None:
            raise RuntimeError("a JobRun runs once")
        started = time.perf_counter()
        results = self.results
        job_state = self.state = pipeline.open_job(job, record=self.record)
        try:
            if settings.verify:
                job_state.verifier = pipeline.open_verifier(job_state.manifest)
            self.pm.hook.job_started(job=job)
            job_state.store = pipeline.lent_store or pipeline.open_store()
        except BaseException:
            job_state.close()
            raise
        normalizers = NormalizerSet(self.registry.normalizers)

        def on_state(name: str, state: Mapping[str, Any]) -> None:
            dispatcher.stats.note_state(name, state)
            self.pm.hook.backend_state(backend=name, state=state)

        try:
            executor = self.executor = pipeline.executor(on_state)
        except BaseException:  # no Ray, or no cluster at the address
            job_state.close()
            raise
        dispatcher = self.dispatcher = Dispatcher(
            None, None,
            RetryPolicy(settings.retries, settings.retry_backoff_s, settings.retry_backoff_max_s),
            QualityGuard(settings.max_chars_per_s, settings.quality_guard),
            fallback=settings.fallback, breaker_failures=settings.breaker_failures,
            breaker_cooldown_s=settings.breaker_cooldown_s,
            on_attempt_failed=self.pm.hook.attempt_failed,
            on_state=on_state,
            routes=settings.routes,
            lookup=(functools.partial(self._lookup, job_state.store) if job_state.store is not None
                    else None),
            verify=(functools.partial(self._verify, job_state.verifier)
                    if job_state.verifier is not None else None),
            on_verified=lambda document, chunk, verdict: self.pm.hook.chunk_verified(
                document=document, chunk=chunk, backend=verdict.backend,
                error_rate=verdict.error_rate, limit=verdict.limit,
                transcript=verdict.transcript),
            executor=executor, options=settings.backend_options,
            output_rate_hz=settings.sample_rate_hz,
        )
        # chunks waiting in a batching backend's queue hold a worker thread each: room for
        # one batch being formed while the one before runs
        batch_room = 2 * self._batch_room()
        lent_threads = pipeline.lent_threads
        threads = lent_threads or ThreadPoolExecutor(settings.workers + batch_room,
                                                     thread_name_prefix="voxline-synth")
        window: deque[tuple[_DocState, Chunk, bool, Future]] = deque()
        ahead = settings.workers * 4 + batch_room
        pending = iter(enumerate(job.inputs))
        submitting: _DocState | None = None
        interrupted = cancelled = ended = False
        open_docs: list[_DocState] = []

        def fill() -> None:
            nonlocal submitting
            while len(window) < ahead and not control.cancelled:
                if submitting is None or submitting.failed or submitting.upcoming is None:
                    position, spec = next(pending, (None, None))
                    if spec is None:
                        return
                    doc = self._prepare(job_state, spec, position, normalizers)
                    if isinstance(doc, DocumentResult):
                        results.append(doc)
                        continue
                    results.append(doc.result)
                    open_docs.append(doc)
                    submitting = doc
                try:
                    chunk, is_last = submitting.take()
                except VoxlineError as exc:  # bad bytes further into a streamed input
                    self._fail(submitting, None, exc)
                    continue
                self._check_chunk(submitting, chunk)
                window.append((submitting, chunk, is_last,
                               threads.submit(self._synthesize, dispatcher, submitting, chunk,
                                              control)))

        try:
            fill()
            while window:
                doc, chunk, is_last, future = window.popleft()
                if doc.failed or doc.cancelled:
                    future.cancel()
                else:
                    try:
                        self._deliver(doc, chunk, is_last, future.result())
                    except JobCancelled:  # its later chunks were not started either
                        doc.cancelled = True
                    except Exception as exc:  # one bad document must not stop the job
                        self._fail(doc, chunk, exc)
                fill()
            interrupted = cancelled = control.cancelled
            ended = True
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (see voxline.cli.signals)
            interrupted = ended = True
            for _, _, _, future in window:
                future.cancel()
        finally:
            if window:  # left early: workers held by a pause must not outlive the job
                control.cancel()
            for doc in open_docs:
                if doc.result.output is None and doc.encoder is not None:
                    doc.encoder.abort()
                if doc.result.output is None and doc.subtitles is not None:
                    doc.subtitles.abort()
                if doc.prepared.reader is not None:
                    doc.prepared.reader.close()
                if interrupted and doc.result.output is None and not doc.failed:
                    doc.result.error = (f"{doc.result.source}: "
                                        + ("cancelled" if cancelled else "interrupted"))
                    doc.result.exit_code = EXIT_INTERRUPTED
                    doc.result.cancelled = cancelled
                    self._record_finished(job_state, doc.position, doc.result, "interrupted")
            if threads is not lent_threads:
                threads.shutdown(wait=not interrupted, cancel_futures=True)
            executor.close()
            if ended and job_state.manifest is not None:
                job_state.manifest.finish(job_state.id, "cancelled" if cancelled else
                                 "interrupted" if interrupted else
                                 "failed" if any(not d.ok for d in results) else "done")
            store = job_state.store
            if store is pipeline.lent_store:  # the caller's: left open
                job_state.store = None
            job_state.close()
            job_state.store = store
        synthesis = dispatcher.stats.to_dict()
        synthesis["adaptive"] = list(job_state.degraded.values())
        synthesis["executor"] = executor.describe()
        synthesis["terms"] = self._terms_used(results)
        store = job_state.store
        if store is not None:
            synthesis["cache"] = {"store": store.description,
                                  "down": getattr(store, "down", None),
                                  **store.counts.to_dict()}
        report = JobReport(results, time.perf_counter() - started, settings.workers, interrupted,
                           cancelled, len(job.inputs), synthesis, job_state.id)
        self.pm.hook.job_finished(job=job, report=report)
        return report


    # -- dispatch threads: one chunk's attempts, run by the executor ----------------------

    def _synthesize(self, dispatcher: Dispatcher, doc: _DocState, chunk: Chunk,
                    control: JobControl) -> _ChunkAudio:
        control.admit()
        if doc.job.degraded:  # adaptive quality switched this chunk's backend away
            chunk = self._adapt(doc, chunk)
        document = doc.prepared.document
        self.pm.hook.chunk_started(document=document, chunk=chunk)
        started = time.perf_counter()
        served = dispatcher.synthesize(chunk, document)
        # --verify: the recognizer's time is its own stage, not the backend's (adaptive
        # quality must not blame a backend for it)
        verify_s = sum(v.heard_s for v in [served.verdict, *served.rejected] if v is not None)
        resample_s = served.resample_s  # done by the task, but a stage of its own
        synth_s = time.perf_counter() - started - verify_s - resample_s
        self.pm.hook.stage_finished(document=document, stage="synthesize", duration_s=synth_s,
                                    chunk=chunk)
        if served.verdict is not None:
            self.pm.hook.stage_finished(document=document, stage="verify",
                                        duration_s=verify_s, chunk=chunk)
        rate = self.settings.sample_rate_hz
        warning = served.quality_warning
        if served.audio is not None and served.notes:
            notes = "; ".join(served.notes)
            warning = f"{warning}; {notes}" if warning else f"chunk {chunk.index + 1}: {notes}"
        if served.pcm is not None:  # from the cache: already what the output takes
            pcm = np.frombuffer(served.pcm, dtype=np.int16)
            resample_s = 0.0
        else:  # the task made it output-ready (tempo, gain, rate)
            pcm = served.audio.samples
            store = doc.job.store
            if store is not None and served.key and not served.quality_warning:
                store.put(served.key, pcm.tobytes(),
                               {"sample_rate_hz": rate, "backend": served.backend})
                if served.verdict is not None:  # a rerun's cache hit keeps this score
                    from .verify import audio_digest

                    doc.job.verifier.remember(
                        audio_digest(pcm.tobytes(), rate, chunk.text, chunk.language),
                        served.verdict.error_rate, served.verdict.transcript)
        self.pm.hook.stage_finished(document=document, stage="resample", duration_s=resample_s,
                                    chunk=chunk)
        self.pm.hook.chunk_finished(document=document, chunk=chunk,
                                    audio_duration_s=len(pcm) / rate, backend=served.backend,
                                    cached=served.pcm is not None)
        return _ChunkAudio(pcm, served.backend, synth_s, resample_s, warning,
                           served.key, served.pcm is not None, served.verdict,
                           served.rejected, verify_s)

    def _verify(self, verifier, chunk: Chunk, backend: str, audio=None,
                pcm: bytes | None = None):
        """--verify: the recognizer's verdict on a chunk's audio, fresh from its backend
        (`audio`) or output-ready from the cache (`pcm`, whose score an earlier run may have
        stored)."""
        from .verify import audio_digest

        if pcm is not None:
            rate = self.settings.sample_rate_hz
            return verifier.check(chunk.text, chunk.language,
                                  np.frombuffer(pcm, dtype=np.int16), rate, backend,
                                  audio_digest(pcm, rate, chunk.text, chunk.language))
        return verifier.check(chunk.text, chunk.language, audio.samples,
                              audio.sample_rate_hz, backend)

    def _lookup(self, store, name: str, caps, chunk: Chunk,
                request) -> tuple[str, bytes | None]:
        """The cache key of `chunk` on backend `name`, and its PCM if `store` has it."""
        key = self.pipeline.chunk_key(name, caps, chunk, request)
        return key, store.get(key) if store is not None else None

    # -- main thread -------------------------------------------------------------------

    def _warn(self, document: Document, result: DocumentResult, message: str) -> None:
        result.warnings.append(message)
        self.pm.hook.warning(document=document, message=message)

    def _prepare(self, job: JobState, spec: InputSpec, position: int,
                 normalizers: NormalizerSet) -> _DocState | DocumentResult:
        label = textio.source_label(spec.source)
        result = DocumentResult(source=label)
        digest = None
        try:
            if textio.is_file_source(spec.source):
                started = time.perf_counter()
                digest = textio.file_digest(Path(spec.source))
                result.add_time("read", time.perf_counter() - started)
            result.status = self.pipeline.status(job, spec, digest)
            if result.status == InputStatus.UP_TO_DATE:
                before = job.previous[str(spec.output)]
                result.output, result.chunks = str(spec.output), before["chunks_total"] or 0
                result.audio_s, result.cached = before["audio_s"], result.chunks
                self.pm.hook.document_finished(document=None, result=result)
                return result
            started = time.perf_counter()
            reader = textio.TextInput.open(spec.source, stdin_name=spec.output.stem)
            result.add_time("read", time.perf_counter() - started)
            try:
                prepared = prepare_input(reader, self.settings, self.registry, normalizers,
                                         lexicon=self.pipeline.lexicon(spec.source))
                upcoming = next(prepared.chunks)
            except BaseException:
                reader.close()
                raise
        except FileNotFoundError:
            result.error = f"{label}: file vanished before it could be read"
            result.exit_code = InputError.exit_code
        except OSError as exc:
            result.error = f"{label}: cannot be read: {exc.strerror or exc}"
            result.exit_code = InputError.exit_code
        except VoxlineError as exc:
            result.error, result.exit_code = str(exc), exc.exit_code
        if result.error is not None:
            self._record_finished(job, position, result, "failed")
            self.pm.hook.document_finished(document=None, result=result)
            return result
        document = prepared.document
        state = _DocState(job, spec, position, prepared, result, upcoming,
                          read_base=result.stage_s.get("read", 0.0),
                          silence=SilenceBudget(self.settings.max_pause_s,
                                                self.settings.max_silence_ratio))
        self._merge_times(state)
        for stage in ("read", "ssml", "normalize", "segment"):
            self.pm.hook.stage_finished(document=document, stage=stage,
                                        duration_s=result.stage_s.get(stage, 0.0), chunk=None)
        result.chunks = prepared.total or 0
        for message in prepared.warnings:
            self._warn(document, result, message)
        if job.manifest is not None:
            job.manifest.document_started(job.id, position, digest, reader.size,
                                     self.pipeline.fingerprint_of(job, spec),
                                     prepared.total)
        self.pm.hook.document_started(document=document, chunk_count=prepared.total)
        return state

    def _merge_times(self, doc: _DocState) -> None:
        """Stage times of the text side, as far as a streamed input has got."""
        for stage, seconds in doc.prepared.stage_s.items():
            doc.result.stage_s[stage] = seconds + (doc.read_base if stage == "read" else 0.0)

    def _check_chunk(self, doc: _DocState, chunk: Chunk) -> None:
        caps = self.registry.capabilities(chunk.backend)
        if chunk.prosody.pitch != 1.0 and "pitch" not in caps.controls:
            key = (doc.prepared.document.source, chunk.backend)
            if key not in doc.job.warned:
                doc.job.warned.add(key)
                self._warn(doc.prepared.document, doc.result,
                           f"backend {chunk.backend!r} has no pitch control; "
                           "<prosody pitch> ignored")

    def _terms_used(self, documents: list[DocumentResult]) -> list[dict]:
        """The licence and data terms of each voice the job's audio came from."""
        used: dict[str, int] = {}
        for doc in documents:
            for voice, chunks in doc.voices.items():
                used[voice] = used.get(voice, 0) + chunks
        out = []
        for key, chunks in sorted(used.items()):
            backend, _, voice = key.partition(":")
            if backend not in self.registry.backends:
                continue
            caps = self.registry.capabilities(backend)
            terms = caps.terms_of(voice or None)
            if terms is not None:
                out.append({"voice": key.rstrip(":"), "chunks": chunks, **terms.to_dict()})
        return out

    def _record_finished(self, job: JobState, position: int, result: DocumentResult,
                         state: str) -> None:
        if job.manifest is not None:
            job.manifest.document_finished(
                job.id, position, state, total=result.chunks or None,
                output=Path(result.output) if result.output else None, error=result.error,
                audio_s=result.audio_s if result.output else None)

    def _deliver(self, doc: _DocState, chunk: Chunk, is_last: bool,
                 produced: _ChunkAudio) -> None:
        if produced.warning:
            self._warn(doc.prepared.document, doc.result, produced.warning)
        doc.result.add_time("synthesize", produced.synthesize_s)
        doc.result.add_time("resample", produced.resample_s)
        if produced.verdict is not None:
            doc.result.add_time("verify", produced.verify_s)
        started = time.perf_counter()
        rate = self.settings.sample_rate_hz
        if doc.encoder is None:
            doc.encoder = audio_mod.open_encoder(doc.spec.output, self.format, rate,
                                                 self.loudness, metadata=doc.spec.metadata,
                                                 out=doc.spec.stream)
            if doc.prepared.leading_pause_s:
                doc.encoder.write(audio_mod.silence(
                    doc.silence.pause(doc.prepared.leading_pause_s), rate))
        if doc.subtitles is None and self.settings.subtitles:
            doc.subtitles = SubtitleWriter(doc.spec.output, self.settings.subtitles)
        pcm = produced.pcm
        if doc.spliced or chunk.continues:  # a word in another voice inside one sentence
            pcm = audio_mod.splice_edges(pcm, rate, start=doc.spliced,
                                         end=chunk.continues and not is_last)
        if doc.subtitles is not None:
            bounds = speech_bounds(pcm, rate)
            if bounds is not None:  # the cue spans the chunk's speech, not its silent ends
                offset = doc.encoder.frames_written
                start_s, end_s = (offset + bounds[0]) / rate, (offset + bounds[1]) / rate
                text = chunk.source_text
                if doc.cue is not None:  # the sentence began in an earlier chunk
                    start_s, text = doc.cue[0], doc.cue[1] or text
                    doc.cue = None
                if chunk.continues and not is_last:
                    doc.cue = (start_s, text)
                else:
                    doc.subtitles.add(start_s, end_s, text)
        doc.spliced = chunk.continues and not is_last
        offset_s = doc.encoder.frames_written / rate
        doc.encoder.write(pcm)
        doc.silence.speech(len(pcm) / rate)
        if not is_last:
            doc.encoder.write(audio_mod.silence(doc.silence.pause(chunk.pause_after_s), rate))
        doc.result.backends[produced.backend] = doc.result.backends.get(produced.backend, 0) + 1
        # a fallback speaks with its own default voice, not the chunk's
        voice = f"{produced.backend}:{chunk.voice if produced.backend == chunk.backend else ''}"
        doc.result.voices[voice] = doc.result.voices.get(voice, 0) + 1
        doc.result.cached += produced.cached
        if not produced.cached and len(produced.pcm):
            self._measure(doc, chunk, produced.backend, produced.synthesize_s,
                          len(produced.pcm) / rate)
        if is_last:
            capped = doc.silence.warning()
            if capped is not None:
                self._warn(doc.prepared.document, doc.result, capped)
            written = doc.encoder.finish()
            doc.result.output = str(written)
            doc.result.audio_s = doc.encoder.frames_written / rate
            report = getattr(doc.encoder, "report", None)
            if report is not None:
                doc.result.loudness = report.to_dict()
            if doc.subtitles is not None:
                doc.result.subtitles = str(doc.subtitles.finish())
                doc.result.cues = doc.subtitles.cues
            doc.result.chunks = chunk.index + 1
        doc.result.add_time("concatenate", time.perf_counter() - started)
        verified = None
        if produced.verdict is not None:
            verified = {"chunk": chunk.index + 1, "backend": produced.backend,
                        "error_rate": round(produced.verdict.error_rate, 4),
                        "limit": produced.verdict.limit,
                        "transcript": produced.verdict.transcript,
                        "stored": produced.verdict.stored,  # heard in an earlier run
                        "rejected": [v.to_dict() for v in produced.rejected]}
            doc.result.verify.append(verified)
        if doc.job.manifest is not None:
            doc.job.manifest.chunk_done(doc.job.id, doc.position, chunk.index, produced.key,
                                 len(chunk.text), produced.backend, produced.cached,
                                 produced.synthesize_s, len(produced.pcm) / rate, offset_s,
                                 verified)
        if is_last:
            self._finish_text(doc)
            self._record_finished(doc.job, doc.position, doc.result, "done")
            self.pm.hook.stage_finished(document=doc.prepared.document, stage="concatenate",
                                        duration_s=doc.result.stage_s["concatenate"], chunk=None)
            self.pm.hook.document_finished(document=doc.prepared.document, result=doc.result)

    def _measure(self, doc: _DocState, chunk: Chunk, backend: str, synth_s: float,
                 audio_s: float) -> None:
        """Adaptive quality: note a chunk's real-time factor; past the limit over the
        backend's last chunks, switch the backend's remaining chunks (see `_adapt`)."""
        settings = self.settings
        job = doc.job
        if settings.max_rtf is None or backend in job.degraded:
            return
        target = settings.degrade_to.partition(":")[0]
        if backend == target:
            return
        recent = job.rtf.setdefault(backend, deque(maxlen=settings.rtf_window))
        recent.append(synth_s / audio_s)
        rtf = sum(recent) / len(recent)
        if len(recent) == settings.rtf_window and rtf > settings.max_rtf:
            with job.adapting:
                job.degraded[backend] = {
                    "backend": backend, "to": settings.degrade_to, "rtf": round(rtf, 3),
                    "limit": settings.max_rtf, "source": doc.result.source,
                    "after_chunk": chunk.index + 1, "chunks": 0}
            self._warn(doc.prepared.document, doc.result,
                       f"{backend} ran at real-time factor {rtf:.2f} over its last "
                       f"{len(recent)} chunks (limit {settings.max_rtf}); its remaining "
                       f"chunks go to {settings.degrade_to}")

    def _adapt(self, doc: _DocState, chunk: Chunk) -> Chunk:
        """The chunk on the cheaper backend when its own one was switched away from (and the
        cheaper one speaks its language). Runs on the worker as the chunk starts, so every
        chunk not yet started when the switch happens moves."""
        with doc.job.adapting:
            switched = doc.job.degraded.get(chunk.backend)
            if switched is None:
                return chunk
            name, _, voice = self.settings.degrade_to.partition(":")
            if not voice:
                if not self.registry.speaks(name, chunk.language):
                    return chunk
                voice = self.registry.capabilities(name).default_voice(chunk.language)
            switched["chunks"] += 1
            doc.result.adapted += 1
        return dataclasses.replace(chunk, backend=name, voice=voice or None, breaks=())

    def _finish_text(self, doc: _DocState) -> None:
        self._merge_times(doc)
        for message in list(doc.prepared.warnings):  # a large input's, found as it streamed
            if message not in doc.result.warnings:
                self._warn(doc.prepared.document, doc.result, message)
        removed = doc.prepared.reader.removed_controls if doc.prepared.reader else 0
        if removed:
            self._warn(doc.prepared.document, doc.result,
                       f"removed {removed} control characters (NUL, escape codes, ...) "
                       "from the text")

    def _fail(self, doc: _DocState, chunk: Chunk | None, exc: BaseException) -> None:
        doc.failed = True
        if doc.encoder is not None:
            doc.encoder.abort()
        if doc.subtitles is not None:
            doc.subtitles.abort()
        if doc.prepared.reader is not None:
            doc.prepared.reader.close()
        if isinstance(exc, VoxlineError):
            reason, doc.result.exit_code = str(exc), exc.exit_code
        else:
            reason = f"backend {chunk.backend!r} failed: {type(exc).__name__}: {exc}"
            doc.result.exit_code = BackendError.exit_code
        if chunk is None:  # the text side, further into a streamed input
            doc.result.error = reason
        else:
            of = f" of {doc.prepared.total}" if doc.prepared.total else ""
            doc.result.error = f"{doc.result.source}: chunk {chunk.index + 1}{of}: {reason}"
        self._finish_text(doc)
        self._record_finished(doc.job, doc.position, doc.result, "failed")
        self.pm.hook.document_finished(document=doc.prepared.document, result=doc.result)

    def _batch_room(self) -> int:
        """The largest batch any backend this job may use can take (0: none batches)."""
        settings = self.settings
        names = {settings.backend, *settings.fallback,
                 *(target.partition(":")[0] for target in settings.routes.values()),
                 (settings.voice or "").partition(":")[0]}
        batching = [n for n in names if n in self.registry.backends
                    and self.registry.capabilities(n).batches]
        if not batching:
            return 0
        return settings.batch_size or MAX_AUTO_BATCH
