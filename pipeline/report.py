"""What a run reports: per input (`DocumentResult`, handed to the `document_finished`
hook) and per job (`JobReport`, the summary, `--json` and the `job_finished` hook)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import EXIT_INTERRUPTED, EXIT_OK
from .models import InputStatus

STAGES = ("read", "ssml", "normalize", "segment", "synthesize", "resample", "concatenate")


@dataclass
class DocumentResult:
    source: str
    output: str | None = None
    error: str | None = None
    exit_code: int = EXIT_OK
    chunks: int = 0
    audio_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    backends: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    status: InputStatus = InputStatus.NEW
    cancelled: bool = False  # stopped by a cancel (the TUI, the server, Ctrl-C in a job)
    cached: int = 0  # chunks that came from the cache
    loudness: dict | None = None  # --loudness: measured before and after (LoudnessReport)
    subtitles: str | None = None  # --subtitles: the file written beside the output
    adapted: int = 0  # chunks moved to --degrade-to by adaptive quality
    cues: int = 0
    voices: dict[str, int] = field(default_factory=dict)  # "backend:voice" → chunks
    # --verify: per chunk, its error rate and backend, and the attempts rejected before it
    verify: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds


@dataclass
class JobReport:
    documents: list[DocumentResult]
    wall_s: float
    workers: int
    interrupted: bool = False
    cancelled: bool = False  # stopped on request (JobControl.cancel), resumable like an interrupt
    inputs: int = 0  # inputs in the job, including any not reached before an interruption
    synthesis: dict = field(default_factory=dict)  # per-backend counts, retries, fallbacks
    job_id: str | None = None

    @property
    def audio_s(self) -> float:
        """Audio produced by this run (inputs already up to date not counted)."""
        return sum(d.audio_s for d in self.documents if d.status != InputStatus.UP_TO_DATE)

    @property
    def rtf(self) -> float | None:
        return self.wall_s / self.audio_s if self.audio_s else None

    @property
    def stage_s(self) -> dict[str, float]:
        totals = {stage: 0.0 for stage in STAGES}
        for doc in self.documents:
            for stage, seconds in doc.stage_s.items():
                totals[stage] = totals.get(stage, 0.0) + seconds
        return totals

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return max((d.exit_code for d in self.documents), default=EXIT_OK)

    def to_dict(self) -> dict:
        return {
            "files": max(self.inputs, len(self.documents)),
            "written": sum(1 for d in self.documents if d.ok and d.status != InputStatus.UP_TO_DATE),
            "up_to_date": sum(1 for d in self.documents if d.status == InputStatus.UP_TO_DATE),
            "failed": sum(1 for d in self.documents if not d.ok),
            "interrupted": self.interrupted,
            "cancelled": self.cancelled,
            "exit_code": self.exit_code,
            "audio_s": round(self.audio_s, 3),
            "wall_s": round(self.wall_s, 3),
            "rtf": None if self.rtf is None else round(self.rtf, 6),
            "workers": self.workers,
            "stage_s": {k: round(v, 4) for k, v in self.stage_s.items()},
            "backends": self.synthesis.get("backends", {}),
            "retries": self.synthesis.get("retries", 0),
            "fallbacks": self.synthesis.get("fallbacks", 0),
            "fallback_reasons": self.synthesis.get("fallback_reasons", []),
            "quality_warnings": self.synthesis.get("quality_warnings", []),
            "routers": self.synthesis.get("routers", {}),
            "cache": self.synthesis.get("cache"),
            "adaptive": self.synthesis.get("adaptive", []),
            "terms": self.synthesis.get("terms", []),
            "verify": self.synthesis.get("verify", {}),
            "executor": self.synthesis.get("executor"),
            "job": self.job_id,
            "documents": [
                {
                    "source": d.source, "output": d.output, "error": d.error,
                    "exit_code": d.exit_code, "status": d.status, "chunks": d.chunks,
                    "cached": d.cached,
                    "audio_s": round(d.audio_s, 3), "backends": d.backends,
                    "warnings": d.warnings, "loudness": d.loudness,
                    "subtitles": d.subtitles, "cues": d.cues, "adapted": d.adapted,
                    "verify": d.verify,
                    "stage_s": {k: round(v, 4) for k, v in d.stage_s.items()},
                }
                for d in self.documents
            ],
        }
