"""The base class every speech backend plugin subclasses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .models import Audio, Capabilities, Health, SynthesisRequest


class Backend:
    """A speech engine behind one name.

    Subclasses set `name`, `version` and `capabilities` as class attributes (the pipeline reads
    them without instantiating) and implement `synthesize`. `options` is the backend's table
    from the configuration (`[backends.NAME]`); `threads` is how many CPU threads this
    instance may use (the pipeline divides the machine's cores among its workers).
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    capabilities: ClassVar[Capabilities]

    def __init__(self, options: Mapping[str, Any] | None = None, *, threads: int = 1):
        self.options = dict(options or {})
        self.threads = threads

    def synthesize(self, request: SynthesisRequest) -> Audio:
        """Speak `request.text` and return its audio. Raise `voxline.BackendError` with a
        message a user can act on when that is not possible."""
        raise NotImplementedError

    def health(self) -> Health:
        """Say whether the backend can synthesize now. The default says yes."""
        return Health(ok=True)

    def close(self) -> None:
        """Release what the instance holds (sessions, connections). Called once at job end."""

    @classmethod
    def speaks(cls, language: str) -> bool:
        return language in cls.capabilities.languages

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Capabilities as plain data, for `voxline backends --json`."""
        caps = cls.capabilities
        return {
            "name": cls.name,
            "version": cls.version,
            "sample_rate_hz": caps.sample_rate_hz,
            "languages": list(caps.languages),
            "voices": [
                {"name": v.name, "language": v.language, "description": v.description}
                for v in caps.voices
            ],
            "ssml_tags": sorted(caps.ssml_tags),
            "controls": sorted(caps.controls),
            "budget_chars": caps.budget_chars,
            "streams": caps.streams,
            "batches": caps.batches,
            "needs_gpu": caps.needs_gpu,
            "thread_safe": caps.thread_safe,
            "max_workers": caps.max_workers,
        }
