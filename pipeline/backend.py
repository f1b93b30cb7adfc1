"""The base classes every speech backend plugin subclasses."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from .models import Audio, Capabilities, Health, Option, SynthesisRequest


class BackendHost(Protocol):
    """What the pipeline offers a running backend instance."""

    def backend(self, name: str) -> "Backend":
        """The job's instance of another backend (a router uses this to reach its targets)."""

    def emit(self, name: str, state: Mapping[str, Any]) -> None:
        """Tell listeners (the `backend_state` hook) what changed: health, choice, breaker."""


class _NoHost:
    def backend(self, name: str) -> "Backend":
        from .errors import BackendError

        raise BackendError(f"backend {name!r} is not available outside a job")

    def emit(self, name: str, state: Mapping[str, Any]) -> None:
        pass


class Backend:
    """A speech engine behind one name.

    Subclasses set `name`, `version` and `capabilities` as class attributes (the pipeline reads
    them without instantiating) and implement `synthesize`. A backend whose capabilities depend
    on its deployment (a server's languages, voices or SSML support) overrides
    `configured_capabilities`. `options` is the backend's table from the configuration
    (`[backends.NAME]`); `threads` is how many CPU threads this instance may use (the pipeline
    divides the machine's cores among its workers).
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"  # part of the chunk cache key: bump it when output changes
    capabilities: ClassVar[Capabilities]
    # option keys that cannot change the sound (left out of the chunk cache key)
    cache_ignore: ClassVar[frozenset[str]] = frozenset()
    # every key `[backends.NAME]` may hold, checked by the host before a job; None: the
    # backend does not say, and its table is passed on unchecked
    option_specs: ClassVar[tuple[Option, ...] | None] = None

    def __init__(self, options: Mapping[str, Any] | None = None, *, threads: int = 1):
        self.options = dict(options or {})
        self.threads = threads
        self.host: BackendHost = _NoHost()
        # the instance's own view, for backends whose capabilities come from configuration;
        # the pipeline replaces it with the registry's view, which can see other backends
        try:
            caps = type(self).configured_capabilities(self.options, _no_lookup)
        except LookupError:
            caps = type(self).capabilities
        self.capabilities = caps  # type: ignore[misc]

    @classmethod
    def configured_capabilities(cls, options: Mapping[str, Any],
                                capabilities_of: Callable[[str], Capabilities]) -> Capabilities:
        """Capabilities under the configuration `options`; `capabilities_of(name)` gives
        another backend's configured capabilities. The default is the class attribute."""
        return cls.capabilities

    def attach(self, host: BackendHost) -> None:
        """Called by the pipeline once, right after the instance is made."""
        self.host = host

    def synthesize(self, request: SynthesisRequest) -> Audio:
        """Speak `request.text` and return its audio. Raise `voxline.BackendError` with a
        message a user can act on when that is not possible."""
        raise NotImplementedError

    def synthesize_batch(self, requests: Sequence[SynthesisRequest]) -> list[Audio]:
        """Speak several requests in one call; the audio in the same order. Backends whose
        capabilities say `batches` override this with a real batched call (the pipeline
        gathers concurrent chunks into lists of up to `preferred_batch_size()` or
        `--batch-size`); the default speaks them one by one. Raising fails every request in
        the list, and the pipeline retries each on its own terms; a `BackendError` in the
        list in place of a request's audio fails that request alone."""
        return [self.synthesize(request) for request in requests]

    def preferred_batch_size(self) -> int:
        """How many requests one `synthesize_batch` call should take when the user did not
        say (`--batch-size`); a GPU backend may work it out from free memory."""
        return 1

    def health(self) -> Health:
        """Say whether the backend can synthesize now. The default says yes."""
        return Health(ok=True)

    def close(self) -> None:
        """Release what the instance holds (sessions, connections). Called once at job end."""

    @classmethod
    def describe(cls, capabilities: Capabilities | None = None) -> dict[str, Any]:
        """Capabilities as plain data, for `voxline backends --json`."""
        caps = capabilities or cls.capabilities
        return {
            "name": cls.name,
            "version": cls.version,
            "sample_rate_hz": caps.sample_rate_hz,
            "languages": list(caps.languages),
            "voices": [
                {"name": v.name, "language": v.language, "description": v.description,
                 "terms": t.to_dict() if (t := caps.terms_of(v.name)) else None}
                for v in caps.voices
            ],
            "terms": caps.terms.to_dict() if caps.terms else None,
            "scripts": sorted(caps.scripts),
            "phoneme_alphabets": sorted(caps.phoneme_alphabets),
            "ssml_tags": sorted(caps.ssml_tags),
            "controls": sorted(caps.controls),
            "budget_chars": caps.budget_chars,
            "streams": caps.streams,
            "batches": caps.batches,
            "needs_gpu": caps.needs_gpu,
            "thread_safe": caps.thread_safe,
            "max_workers": caps.max_workers,
            "network": caps.network,
            "deterministic": caps.deterministic,
            "options": [spec.to_dict() for spec in cls.option_specs or ()],
        }


def _no_lookup(name: str) -> Capabilities:
    raise LookupError(name)


class Router(Backend):
    """A backend that speaks through other backends, choosing per request.

    The pipeline asks `candidates()` for the backends to try, in order, and runs them with
    its retry, circuit-breaker and fallback rules; it reports each attempt's outcome back
    through `record()`. `synthesize` is never called on a router.
    """

    def candidates(self, request: SynthesisRequest) -> Sequence[str]:
        raise NotImplementedError

    def record(self, backend: str, ok: bool, reason: str | None = None) -> None:
        """The outcome of one attempt on `backend`, one of this router's candidates."""

    def synthesize(self, request: SynthesisRequest) -> Audio:  # pragma: no cover - contract
        raise TypeError(f"router {self.name!r} is not called directly")
