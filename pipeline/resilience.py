"""What happens when a backend fails: retries with backoff, circuit breakers, fallback chains,
routers, and the quality checks: the guard that catches audio too short for its text and,
with --verify, a recognizer that catches audio that does not say its text.

One `Dispatcher` serves a whole job. For each chunk it walks the chain: the chunk's backend
(or a router's current candidates), then the configured fallbacks. On each backend it makes up
to `1 + retries` attempts for transient failures, waiting with exponential backoff and jitter,
unless that backend's circuit is open. Every attempt is counted, so the job report can say
which backend served each chunk, how many retries and fallbacks happened, and why.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .backend import Backend, Router
from .errors import BackendError, VoxlineError
from .models import Audio, Capabilities, Chunk, Prosody, SynthesisRequest


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0

    def delay(self, attempt: int, hint_s: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based): exponential, with "equal
        jitter" (half fixed, half random) so many workers do not retry in step; a server's
        Retry-After wins when it asks for longer."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(delay, min(hint_s or 0.0, self.backoff_max_s))


class CircuitBreaker:
    """Per-backend breaker: after `failures` consecutive failures the circuit opens and calls
    are refused for `cooldown_s`; then one trial call is let through (half-open), which closes
    the circuit on success and re-opens it on failure."""

    def __init__(self, failures: int = 5, cooldown_s: float = 30.0,
                 on_change: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.state = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial = False
        self._lock = threading.Lock()
        self._on_change = on_change
        self._clock = clock

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)

    def allow(self) -> bool:
        with self._lock:
            if self.state == "closed":
                return True
            if self.state == "open" and self._clock() - self._opened_at >= self.cooldown_s:
                self._set("half-open")
            if self.state == "half-open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._trial = False
            self._set("closed")

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            self._trial = False
            if self.state == "half-open" or self._consecutive >= self.threshold:
                self._opened_at = self._clock()
                self._set("open")


def speakable_chars(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


@dataclass(frozen=True)
class QualityGuard:
    """Flags audio too short for its text: fewer seconds than the text's letters, digits and
    hanzi divided by the fastest plausible speech rate for its language (scaled by the
    chunk's `<prosody rate>`). Words swallowed by a server show up this way."""

    max_chars_per_s: Mapping[str, float]
    enabled: bool = True
    min_chars: int = 4  # below this, durations say too little

    def minimum_s(self, text: str, language: str, rate: float = 1.0) -> float:
        from .segment import RUN_ON

        chars = speakable_chars(RUN_ON.sub(" ", text))  # runs without spaces are not words
        if not self.enabled or chars < self.min_chars:
            return 0.0
        cps = self.max_chars_per_s.get(language, self.max_chars_per_s.get("*", 40.0))
        return chars / cps / max(rate, 0.1)

    def check(self, text: str, language: str, rate: float, audio: Audio) -> str | None:
        return self.check_s(text, language, rate, audio.duration_s)

    def check_s(self, text: str, language: str, rate: float,
                duration_s: float) -> str | None:
        """`check` on audio of `duration_s` seconds."""
        need = self.minimum_s(text, language, rate)
        if duration_s < need:
            return (f"audio {duration_s:.2f}s is too short for "
                    f"{speakable_chars(text)} characters (at least {need:.2f}s expected)")
        return None


class QualityError(BackendError):
    """Audio that came back but is bad: too short for its text, or (`verdict` given) heard
    by the recognizer as something else."""

    def __init__(self, message: str, audio: Audio | None, verdict: Any = None):
        super().__init__(message, reason="too short" if verdict is None else "verify",
                         retryable=True)
        self.audio = audio
        self.verdict = verdict


@dataclass
class BackendStats:
    requests: int = 0
    ok: int = 0
    chunks: int = 0  # chunks whose audio this backend produced in this job
    cached: int = 0  # chunks of this backend taken from the chunk cache
    retries: int = 0
    failures: Counter = field(default_factory=Counter)  # reason -> attempts
    breaker: str = "closed"

    def to_dict(self) -> dict:
        return {"chunks": self.chunks, "cached": self.cached, "requests": self.requests,
                "ok": self.ok,
                "retries": self.retries, "failures": dict(self.failures),
                "breaker": self.breaker}


@dataclass
class VerifyStats:
    """--verify, per backend: chunks heard (stored scores included), their error rates,
    and how many were rejected."""

    chunks: int = 0
    total_error: float = 0.0
    max_error: float = 0.0
    rejected: int = 0

    def add(self, error_rate: float, ok: bool) -> None:
        self.chunks += 1
        self.total_error += error_rate
        self.max_error = max(self.max_error, error_rate)
        self.rejected += not ok

    def to_dict(self) -> dict:
        return {"chunks": self.chunks, "rejected": self.rejected,
                "mean_error_rate": round(self.total_error / self.chunks, 4) if self.chunks
                else None, "max_error_rate": round(self.max_error, 4)}


@dataclass
class DispatchStats:
    """Counts over a job, safe to update from the worker threads."""

    backends: dict[str, BackendStats] = field(default_factory=dict)
    verified: dict[str, VerifyStats] = field(default_factory=dict)
    fallbacks: Counter = field(default_factory=Counter)  # (from, to, reason) -> chunks
    quality: list[dict] = field(default_factory=list)   # chunks kept despite the guard
    routers: dict[str, dict] = field(default_factory=dict)  # name -> choice, why, switches
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_state(self, name: str, state: Mapping[str, Any]) -> None:
        """Keep a router's latest choice and count its switches (from `backend_state`)."""
        if "choice" not in state:
            return
        with self.lock:
            router = self.routers.setdefault(name, {"choice": None, "why": "", "switches": 0})
            if router["choice"] is not None and router["choice"] != state["choice"]:
                router["switches"] += 1
            router["choice"], router["why"] = state["choice"], state.get("why", "")

    def of(self, name: str) -> BackendStats:
        if name not in self.backends:
            self.backends[name] = BackendStats()
        return self.backends[name]

    @property
    def retries(self) -> int:
        return sum(b.retries for b in self.backends.values())

    def to_dict(self) -> dict:
        with self.lock:
            return {
                "backends": {name: s.to_dict() for name, s in sorted(self.backends.items())},
                "retries": self.retries,
                "fallbacks": sum(self.fallbacks.values()),
                "fallback_reasons": [
                    {"from": a, "to": b, "reason": r, "chunks": n}
                    for (a, b, r), n in sorted(self.fallbacks.items())
                ],
                "quality_warnings": list(self.quality),
                "routers": {name: dict(r) for name, r in self.routers.items()},
                "verify": {name: v.to_dict() for name, v in sorted(self.verified.items())},
            }


def native_prosody(prosody: Prosody, caps: Capabilities) -> Prosody:
    """The part of `prosody` a backend applies itself; the pipeline does the rest."""
    controls = caps.controls
    return Prosody(
        rate=prosody.rate if "rate" in controls else 1.0,
        pitch=prosody.pitch if "pitch" in controls else 1.0,
        volume_db=prosody.volume_db if "volume" in controls else 0.0,
    )


def fallback_voice(name: str, caps: Capabilities, chunk: Chunk,
                   routes: Mapping[str, str]) -> str | None:
    """The voice a chunk gets on backend `name` when that is not its own backend (a
    fallback): the chunk's voice if `name` has a voice of that name, else the `[routes]` voice
    for the language if the route names `name`, else `name`'s default for the language."""
    if chunk.voice and any(v.name == chunk.voice for v in caps.voices):
        return chunk.voice
    target, _, voice = routes.get(chunk.language, "").partition(":")
    if target == name and voice:
        return voice
    return caps.default_voice(chunk.language)


@dataclass
class Served:
    # None when `pcm` came from the cache; else output-ready when the dispatcher was given an
    # output rate, the backend's own audio otherwise
    audio: Audio | None
    backend: str
    capabilities: Capabilities
    attempts: int
    quality_warning: str | None = None
    key: str | None = None   # the chunk cache key of this audio
    pcm: bytes | None = None  # output-ready PCM, when the cache had it
    verdict: Any = None      # --verify: what the recognizer made of this audio (a Verdict)
    rejected: list = field(default_factory=list)  # verdicts on audio turned down before it
    notes: tuple[str, ...] = ()  # what the backend had to change (`Audio.notes`)
    resample_s: float = 0.0  # the task's time on tempo, gain and rate
    node: str = "local"  # where the task ran

    def rank(self) -> tuple[int, float]:
        """Which bad result is kept when every backend gave one: audio the recognizer heard
        (it was long enough) before audio too short; then the lowest error rate, or the
        longest audio."""
        if self.verdict is not None:
            return 1, -self.verdict.error_rate
        return 0, self.audio.duration_s if self.audio is not None else 0.0


class Dispatcher:
    """Runs one chunk through its backend chain with retries, breakers and the guard.

    Each attempt is a `SynthesisTask` run by `executor` (a `voxline.executor.Executor`);
    without one, a `LocalExecutor` over `get(name)`, the job's instance of a backend, and
    `limit(name)`, its concurrency semaphore (or None). `options(name)` is a backend's
    configured options, sent with each task; with `output_rate_hz`, tasks return audio ready
    for the output (tempo and gain the backend cannot apply, then that rate).
    `on_attempt_failed(chunk, backend, reason, action)` and
    `on_state(backend, state)` report to the event hooks. With `verify(chunk, backend,
    audio=…, pcm=…)` (returning a `voxline.verify.Verdict`), audio that passed the guard is
    also heard by a recognizer, and a verdict over its limit is a bad result like audio too
    short: retried, then handed to the fallback (`on_verified(document, chunk, verdict)`
    reports each verdict).
    """

    def __init__(self, get: Callable[[str], Backend] | None,
                 limit: Callable[[str], threading.Semaphore | None] | None,
                 policy: RetryPolicy, guard: QualityGuard,
                 fallback: tuple[str, ...] = (),
                 breaker_failures: int = 5, breaker_cooldown_s: float = 30.0,
                 on_attempt_failed: Callable[..., None] | None = None,
                 on_state: Callable[[str, dict], None] | None = None,
                 routes: Mapping[str, str] | None = None,
                 lookup: Callable[..., tuple[str | None, bytes | None]] | None = None,
                 verify: Callable[..., Any] | None = None,
                 on_verified: Callable[..., None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 executor: Any = None,
                 options: Callable[[str], Mapping[str, Any]] | None = None,
                 output_rate_hz: int | None = None):
        from .executor import LocalExecutor

        self._executor = executor if executor is not None else LocalExecutor(get, limit)
        self._get = self._executor.backend
        self._options = options or (lambda name: {})
        self._output_rate_hz = output_rate_hz
        self.policy = policy
        self.guard = guard
        self.fallback = fallback
        self._breaker_args = (breaker_failures, breaker_cooldown_s)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()
        self._on_attempt_failed = on_attempt_failed or (lambda *a, **k: None)
        self._on_state = on_state or (lambda *a, **k: None)
        self._sleep = sleep
        self._routes = dict(routes or {})
        # lookup(name, capabilities, chunk, request) -> (cache key, cached PCM or None)
        self._lookup = lookup
        self._verify = verify
        self._on_verified = on_verified or (lambda *a, **k: None)
        self.stats = DispatchStats()

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            if name not in self._breakers:
                def changed(state: str, name: str = name) -> None:
                    with self.stats.lock:
                        self.stats.of(name).breaker = state
                    self._on_state(name, {"breaker": state})

                self._breakers[name] = CircuitBreaker(*self._breaker_args, on_change=changed)
            return self._breakers[name]

    def _count(self, name: str, **changes: int) -> None:
        with self.stats.lock:
            stats = self.stats.of(name)
            for key, amount in changes.items():
                setattr(stats, key, getattr(stats, key) + amount)

    def _fail(self, name: str, reason: str) -> None:
        with self.stats.lock:
            self.stats.of(name).failures[reason] += 1

    def synthesize(self, chunk: Chunk, document: Any = None) -> Served:
        """The chunk's audio from the first backend in its chain that produces good audio.

        Raises the last backend's error when every backend in the chain failed. When the
        only complaint left is the quality guard's, the longest audio received is kept and
        the chunk is reported instead of failing its document."""
        tried: list[str] = []
        errors: list[str] = []
        best: Served | None = None
        last_error: BackendError | None = None
        queue = [chunk.backend, *self.fallback]
        previous: tuple[str, str] | None = None  # (backend, reason) that failed last
        routers: list[Router] = []  # routers met on the way, told how their picks did
        verdicts: list = []  # --verify: every verdict on this chunk's audio, in order
        while queue:
            name = queue.pop(0)
            if name in tried:
                continue
            try:
                backend = self._get(name)
            except BackendError as exc:  # not configured, or failed to start
                tried.append(name)
                self._fail(name, exc.reason)
                last_error = exc
                errors.append(exc.message if name in exc.message else f"{name}: {exc}")
                previous = (name, exc.reason)
                continue
            if isinstance(backend, Router):
                routers.append(backend)
                picks = list(backend.candidates(chunk.request()))
                queue[:0] = [p for p in picks if p not in tried]
                continue
            tried.append(name)
            if previous is not None:
                with self.stats.lock:
                    self.stats.fallbacks[(previous[0], name, previous[1])] += 1
            served, error = self._on_backend(chunk, name, backend, document, verdicts)
            if served is not None and error is None:
                for router in routers:
                    router.record(name, True, None)
                served.rejected = [v for v in verdicts if v is not served.verdict]
                return served
            assert error is not None
            for router in routers:
                router.record(name, False, error.reason)
            last_error = error
            errors.append(f"{name}: {error.message}")
            if served is not None and (best is None or served.rank() > best.rank()):
                best = served
            previous = (name, error.reason)
            self._on_attempt_failed(document=document, chunk=chunk, backend=name,
                                    reason=error.reason,
                                    action="fallback" if queue else "give up")
        if best is not None:
            warning = (f"chunk {chunk.index + 1}: {best.quality_warning} from every backend "
                       f"tried ({', '.join(tried)}); kept the {best.backend} audio")
            with self.stats.lock:
                self.stats.of(best.backend).chunks += 1
                self.stats.quality.append({
                    "source": getattr(document, "source", None), "chunk": chunk.index + 1,
                    "backend": best.backend, "detail": best.quality_warning})
            best.quality_warning = warning
            best.rejected = [v for v in verdicts if v is not best.verdict]
            return best
        if last_error is None:
            raise BackendError(f"no backend to try for chunk {chunk.index + 1}")
        if len(errors) > 1:
            raise BackendError("; then ".join(errors), reason=last_error.reason)
        raise last_error

    def _heard(self, document: Any, chunk: Chunk, name: str, verdicts: list, **audio) -> Any:
        """--verify: the recognizer's verdict on this audio, counted and reported."""
        verdict = self._verify(chunk, name, **audio)
        verdicts.append(verdict)
        with self.stats.lock:
            self.stats.verified.setdefault(name, VerifyStats()).add(verdict.error_rate,
                                                                     verdict.ok)
        self._on_verified(document=document, chunk=chunk, verdict=verdict)
        return verdict

    def _on_backend(self, chunk: Chunk, name: str, backend: Backend,
                    document: Any, verdicts: list | None = None
                    ) -> tuple[Served | None, BackendError | None]:
        """Attempts on one backend: (audio, None) on success; (audio kept despite the guard
        or the recognizer, or None; the error) otherwise."""
        verdicts = [] if verdicts is None else verdicts
        caps = backend.capabilities
        if chunk.language not in caps.languages:
            self._fail(name, "language")
            return None, BackendError(f"{name} does not speak {chunk.language!r}",
                                      reason="language")
        voice = chunk.voice if name == chunk.backend else fallback_voice(name, caps, chunk,
                                                                         self._routes)
        request = SynthesisRequest(chunk.text, chunk.language, voice,
                                   native_prosody(chunk.prosody, caps),
                                   chunk.breaks if caps.inline_breaks_s else (),
                                   chunk.phonemes_for(caps))
        key = None
        kept: Served | None = None
        error: BackendError | None = None
        if self._lookup is not None:
            key, pcm = self._lookup(name, caps, chunk, request)
            if pcm is not None:
                served = Served(None, name, caps, 0, key=key, pcm=pcm)
                if self._verify is not None:
                    served.verdict = self._heard(document, chunk, name, verdicts, pcm=pcm)
                if served.verdict is None or served.verdict.ok:
                    self._count(name, cached=1)
                    return served, None
                # cached audio the recognizer turns down (made without --verify, or under
                # a looser limit) is a bad result like any other: synthesize it again
                self._fail(name, "verify")
                served.quality_warning = served.verdict.problem
                kept, error = served, QualityError(served.verdict.problem, None, served.verdict)
                if caps.deterministic:
                    return kept, error
        task = self._task(name, caps, chunk, request, key)
        breaker = self.breaker(name)
        for attempt in range(1 + self.policy.retries):
            if not breaker.allow():
                self._fail(name, "circuit open")
                return kept, BackendError(
                    f"circuit open after {breaker.threshold} consecutive failures "
                    f"(retrying in up to {breaker.cooldown_s:g}s)", reason="circuit open")
            if attempt:
                self._count(name, retries=1)
                self._on_attempt_failed(document=document, chunk=chunk, backend=name,
                                        reason=error.reason, action="retry")
                self._sleep(self.policy.delay(attempt, getattr(error, "retry_after_s", None)))
            self._count(name, requests=1)
            try:
                result = self._executor.run(task)
                if result.error is not None:
                    raise result.error.exception()
                audio = result.audio
                problem = self.guard.check_s(chunk.text, chunk.language, chunk.prosody.rate,
                                             result.source_duration_s)
                if problem:
                    raise QualityError(problem, audio)
                verdict = None
                if self._verify is not None:
                    verdict = self._heard(document, chunk, name, verdicts, audio=audio)
                    if not verdict.ok:
                        raise QualityError(verdict.problem, audio, verdict)
            except QualityError as exc:
                breaker.success()  # the server answered; the content was bad
                self._fail(name, exc.reason)
                error = exc
                bad = Served(exc.audio, name, caps, attempt + 1, exc.message, key,
                             verdict=exc.verdict, notes=result.notes,
                             resample_s=result.resample_s, node=result.node)
                if kept is None or bad.rank() > kept.rank():
                    kept = bad
                if caps.deterministic:
                    break
                continue
            except BackendError as exc:
                breaker.failure()
                self._fail(name, exc.reason)
                error = exc
                if not exc.retryable:
                    break
                continue
            except VoxlineError:
                raise
            except Exception as exc:  # a plugin's own bug: name it, do not retry it
                breaker.failure()
                self._fail(name, "error")
                error = BackendError(f"backend {name!r} failed: {type(exc).__name__}: {exc}")
                break
            breaker.success()
            self._count(name, ok=1, chunks=1)
            return Served(audio, name, caps, attempt + 1, key=key, verdict=verdict,
                          notes=result.notes, resample_s=result.resample_s,
                          node=result.node), None
        return kept, error

    def _task(self, name: str, caps: Capabilities, chunk: Chunk, request: SynthesisRequest,
              key: str | None) -> "SynthesisTask":
        """The attempt of `chunk` on backend `name`, as an executor runs it."""
        from .executor import SynthesisTask

        prosody, controls = chunk.prosody, caps.controls
        return SynthesisTask(
            name, request, self._options(name), key, self._output_rate_hz,
            tempo=prosody.rate if "rate" not in controls else 1.0,
            gain_db=prosody.volume_db if "volume" not in controls else 0.0)
