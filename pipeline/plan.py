"""`voxline synth --dry-run`: what a job would do, without synthesizing.

Every input goes through the text stages (read, ssml-clean, normalize, segment) exactly as in
a real run, streamed a block at a time, so a file of any size is planned in bounded memory.
Each chunk's cache key is computed as the run would compute it and looked up (without
reading the audio): a hit's duration is known exactly, a miss's is estimated from its text at
a typical speaking rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import EXIT_OK, InputError, VoxlineError
from .normalize import NormalizerSet
from .prepare import prepare_input
from .resilience import native_prosody
from .silence import SilenceBudget
from .models import InputStatus, SynthesisRequest
from . import textio

# typical speaking rates, in letters, digits or hanzi per second, for estimates only
SPEAKING_CHARS_PER_S = {"zh": 4.5, "yue": 4.5, "ja": 7.0, "ko": 6.0, "*": 14.0}


def estimate_s(text: str, language: str, rate: float = 1.0) -> float:
    """Seconds of speech `text` will probably take."""
    cps = SPEAKING_CHARS_PER_S.get(language, SPEAKING_CHARS_PER_S["*"])
    return sum(1 for ch in text if ch.isalnum()) / cps / max(rate, 0.1)


@dataclass
class PlannedDocument:
    source: str
    output: str
    status: InputStatus = InputStatus.NEW
    chunks: int = 0
    chars: int = 0
    cached: int = 0
    cached_s: float = 0.0
    estimated_s: float = 0.0
    backends: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = EXIT_OK

    def to_dict(self) -> dict:
        return {"source": self.source, "output": self.output, "status": self.status,
                "chunks": self.chunks, "chars": self.chars, "cached": self.cached,
                "audio_s": round(self.cached_s + self.estimated_s, 1),
                "cached_audio_s": round(self.cached_s, 1), "backends": self.backends,
                "error": self.error}


def dry_run(pipeline, job) -> dict:
    """Plan `job` on `pipeline` (a `voxline.job.Pipeline`): chunk counts, estimated audio
    duration and cache hits for each input, and in total."""
    settings = pipeline.settings
    started = time.perf_counter()
    store = pipeline.open_store()
    state = pipeline.open_job(job, record=False)
    normalizers = NormalizerSet(pipeline.registry.normalizers)
    planned: list[PlannedDocument] = []
    try:
        for spec in job.inputs:
            label = textio.source_label(spec.source)
            doc = PlannedDocument(label, str(spec.output))
            planned.append(doc)
            try:
                digest = (textio.file_digest(spec.source) if spec.source != "-" else None)
                doc.status = pipeline.status(state, spec, digest)
                if doc.status == InputStatus.UP_TO_DATE:
                    before = state.previous[str(spec.output)]
                    doc.chunks = doc.cached = before["chunks_total"] or 0
                    doc.cached_s = before["audio_s"]
                    continue
                reader = textio.TextInput.open(spec.source, stdin_name=spec.output.stem)
                with reader:
                    _plan_chunks(pipeline, store, doc,
                                 prepare_input(reader, settings, pipeline.registry,
                                               normalizers,
                                               lexicon=pipeline.lexicon(spec.source)))
            except FileNotFoundError:
                doc.error = f"{label}: file vanished before it could be read"
                doc.exit_code = InputError.exit_code
            except VoxlineError as exc:
                doc.error, doc.exit_code = str(exc), exc.exit_code
    finally:
        if store is not None:
            store.close()
    return _totals(state.id, planned, time.perf_counter() - started)


def _plan_chunks(pipeline, store, doc: PlannedDocument, prepared) -> None:
    """Count one input's chunks, their cache hits and their audio (pauses between chunks
    included, none after the last)."""
    settings = pipeline.settings
    rate = settings.sample_rate_hz
    silence = SilenceBudget(settings.max_pause_s, settings.max_silence_ratio)
    pauses = silence.pause(prepared.leading_pause_s)
    for chunk in prepared.chunks:
        if doc.chunks:  # the pause after the chunk before, within the same caps as a run
            pauses += silence.pause(last_pause)
        doc.chunks += 1
        doc.chars += len(chunk.text)
        doc.backends[chunk.backend] = doc.backends.get(chunk.backend, 0) + 1
        size = None
        if store is not None:
            caps = pipeline.registry.capabilities(chunk.backend)
            request = SynthesisRequest(chunk.text, chunk.language, chunk.voice,
                                       native_prosody(chunk.prosody, caps),
                                       chunk.breaks if caps.inline_breaks_s else (),
                                       chunk.phonemes_for(caps))
            size = store.size(pipeline.chunk_key(chunk.backend, caps, chunk, request))
        if size is not None:
            doc.cached += 1
            speech_s = size / 2 / rate
            doc.cached_s += speech_s
        else:
            speech_s = estimate_s(chunk.text, chunk.language, chunk.prosody.rate)
            doc.estimated_s += speech_s
        silence.speech(speech_s)
        last_pause = chunk.pause_after_s
    doc.estimated_s += pauses


def _totals(job_id: str, planned: list[PlannedDocument], wall_s: float) -> dict:
    return {
        "dry_run": True,
        "job": job_id,
        "files": len(planned),
        "chunks": sum(d.chunks for d in planned),
        "cached": sum(d.cached for d in planned),
        "to_synthesize": sum(d.chunks - d.cached for d in planned),
        "audio_s": round(sum(d.cached_s + d.estimated_s for d in planned), 1),
        "failed": sum(1 for d in planned if d.error),
        "exit_code": max((d.exit_code for d in planned), default=EXIT_OK),
        "wall_s": round(wall_s, 3),
        "documents": [d.to_dict() for d in planned],
    }
