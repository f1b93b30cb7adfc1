"""ChatTTS HTTP servers, as deployed in-house: `chattts-v1`, `chattts-v2` and the `chattts`
router that prefers v2 while it is healthy.

The protocol: `POST {url}/api/tts` with JSON `{"text", "voice", "speed", ...}` answers audio
bytes; `GET {url}/health` answers JSON with `gpu_mem_percent` (0-1). What differs between
deployments (sample rate, SSML, emotion switch, voices, how much text one call takes) is
configuration under `[backends.chattts-v1]` / `[backends.chattts-v2]`, with the defaults
below; the audio's real format is read from each response.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import voxline
from voxline import Capabilities, Health, Option, Router, SynthesisRequest, Terms, Voice
from voxline import BackendError
from voxline import HttpBackend

DEFAULT_VOICE = "zh_female_shanghai"

# what these deployments serve: ChatTTS's released weights
SERVER_TERMS = Terms("the server's; ChatTTS weights are CC BY-NC 4.0",
                     "ChatTTS's released weights: non-commercial use only", non_commercial=True)


def _voices(options: Mapping[str, Any], languages: tuple[str, ...]) -> tuple[Voice, ...]:
    """`voices = ["a", "b"]` (each speaking every language) or
    `voices = [{name = "a", language = "zh"}, ...]`."""
    raw = options.get("voices", [DEFAULT_VOICE])
    voices: list[Voice] = []
    for item in raw:
        if isinstance(item, str):
            voices.extend(Voice(item, lang) for lang in languages)
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            voices.append(Voice(item["name"], str(item.get("language", languages[0])),
                                str(item.get("description", ""))))
        else:
            raise BackendError(f"voices: expected names or {{name, language}} tables, got "
                               f"{item!r}")
    return tuple(voices)


def server_capabilities(options: Mapping[str, Any]) -> Capabilities:
    languages = tuple(options.get("languages", ("zh", "en")))
    ssml = bool(options.get("ssml"))
    return Capabilities(
        sample_rate_hz=int(options.get("sample_rate", 24000)),
        languages=languages,
        voices=_voices(options, languages),
        ssml_tags=frozenset({"speak", "prosody"}) if ssml else frozenset(),
        controls=frozenset({"rate", "pitch", "volume"} if ssml else {"rate"}),
        budget_chars=int(options.get("budget_chars", 150)),
        thread_safe=True,
        max_workers=int(options.get("concurrency", 8)),
        terms=SERVER_TERMS,
        network=True,
    )


class ChatTTSServer(HttpBackend):
    """One ChatTTS server deployment. Options: `url`, `ssml` (accepts SSML `<prosody>`),
    `sample_rate` (what it is expected to return; the response decides), `emotion_switch`
    and `emotion`, `voices`, `languages`, `budget_chars`, `gpu_threshold` (health),
    `health_timeout`, `extra` (a table merged into every request body), plus the HTTP
    options of `voxline.http.HttpBackend`."""

    defaults: ClassVar[dict[str, Any]] = {}
    option_specs = HttpBackend.http_options + (
        Option("ssml", bool, False, "the server accepts SSML <prosody>"),
        Option("sample_rate", int, 24000, "Hz expected (each answer's own format counts)",
               4000, 192000),
        Option("emotion_switch", bool, False, "the server takes an emotion"),
        Option("emotion", str, None, "sent as emotion when emotion_switch is on"),
        Option("voices", list, None, "names, or {name, language} tables"),
        Option("languages", list, None, "language codes it speaks"),
        Option("budget_chars", int, 150, "characters per request", 1, 10000),
        Option("gpu_threshold", float, 0.9, "healthy below this gpu_mem_percent", 0, 1),
        Option("health_timeout", float, 5.0, "seconds", 0.1, 600),
        Option("extra", dict, None, "merged into every request body"),
    )

    @classmethod
    def configured_capabilities(cls, options: Mapping[str, Any],
                                capabilities_of: Callable[[str], Capabilities]) -> Capabilities:
        return server_capabilities({**cls.defaults, **options})

    def __init__(self, options=None, *, threads: int = 1):
        super().__init__({**self.defaults, **dict(options or {})}, threads=threads)
        self.ssml = bool(self.options.get("ssml"))
        self.emotion = self.options.get("emotion") if self.options.get("emotion_switch") \
            else None
        self.health_timeout_s = float(self.options.get("health_timeout", 5.0))
        self.gpu_threshold = float(self.options.get("gpu_threshold", 0.9))
        extra = self.options.get("extra", {})
        self.extra = dict(extra) if isinstance(extra, Mapping) else {}

    def text_for(self, request: SynthesisRequest) -> str:
        """The text as this deployment takes it: SSML only where it accepts SSML and there is
        something to say with it; plain text otherwise."""
        prosody = request.prosody
        if not self.ssml or (prosody.pitch == 1.0 and prosody.volume_db == 0.0):
            return request.text
        attrs = []
        if prosody.pitch != 1.0:
            attrs.append(f'pitch="{(prosody.pitch - 1) * 100:+.0f}%"')
        if prosody.volume_db != 0.0:
            attrs.append(f'volume="{prosody.volume_db:+.1f}dB"')
        return f"<speak><prosody {' '.join(attrs)}>{escape(request.text)}</prosody></speak>"

    def synthesize(self, request: SynthesisRequest):
        body: dict[str, Any] = {
            **self.extra,
            "text": self.text_for(request),
            "voice": request.voice or self.capabilities.default_voice(request.language)
            or DEFAULT_VOICE,
        }
        if request.prosody.rate != 1.0:
            body["speed"] = round(request.prosody.rate, 3)
        if self.emotion:
            body["emotion"] = self.emotion
        response = self.request("POST", "/api/tts", json_body=body)
        return self.decode_audio(response, self.endpoint("/api/tts"))

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            response = self.request("GET", "/health", timeout_s=self.health_timeout_s,
                                    expect="json")
            data = response.json()
        except BackendError as exc:
            return Health(False, exc.message, latency_s=time.perf_counter() - started)
        except ValueError:
            return Health(False, f"{self.name} at {self.endpoint('/health')}: not JSON",
                          latency_s=time.perf_counter() - started)
        latency = time.perf_counter() - started
        info = data if isinstance(data, dict) else {}
        gpu = info.get("gpu_mem_percent")
        if not isinstance(gpu, (int, float)):
            return Health(False, "health answer has no gpu_mem_percent", info, latency)
        ok = gpu < self.gpu_threshold
        detail = f"GPU memory {gpu:.0%}" + ("" if ok else
                                            f" (at or over {self.gpu_threshold:.0%})")
        return Health(ok, detail, info, latency)


class ChatTTSV1(ChatTTSServer):
    name = "chattts-v1"
    version = "1"
    url_env = "CHATTTS_V1_URL"
    defaults = {"sample_rate": 16000, "ssml": True, "emotion_switch": False}
    capabilities = server_capabilities(defaults)


class ChatTTSV2(ChatTTSServer):
    name = "chattts-v2"
    version = "2"
    url_env = "CHATTTS_V2_URL"
    defaults = {"sample_rate": 48000, "ssml": False, "emotion_switch": True}
    capabilities = server_capabilities(defaults)


class ChatTTSRouter(Router):
    """The seeds' router: `primary` (v2) while it answers `/health` within its own
    `health_timeout` (5 s) with `gpu_mem_percent` under `gpu_threshold`, else `secondary`
    (v1); re-decided at most every `check_interval` seconds; a failure on the primary
    switches to the secondary until the next check."""

    name = "chattts"
    version = "1"
    capabilities = Capabilities(sample_rate_hz=48000, languages=("zh", "en"),
                                voices=(Voice(DEFAULT_VOICE, "zh"), Voice(DEFAULT_VOICE, "en")),
                                controls=frozenset({"rate"}), budget_chars=150,
                                thread_safe=True, network=True, terms=SERVER_TERMS)

    @classmethod
    def configured_capabilities(cls, options: Mapping[str, Any],
                                capabilities_of: Callable[[str], Capabilities]) -> Capabilities:
        primary = capabilities_of(options.get("primary", "chattts-v2"))
        secondary = capabilities_of(options.get("secondary", "chattts-v1"))
        languages = tuple(lang for lang in primary.languages if lang in secondary.languages)
        voices = tuple(v for v in primary.voices if v in secondary.voices)
        return Capabilities(
            sample_rate_hz=primary.sample_rate_hz,
            languages=languages,
            voices=voices,
            controls=primary.controls & secondary.controls,
            budget_chars=min(primary.budget_chars, secondary.budget_chars),
            thread_safe=True,
            network=True,
            terms=SERVER_TERMS,
        )

    option_specs = (
        Option("primary", str, "chattts-v2", "the backend used while healthy"),
        Option("secondary", str, "chattts-v1", "the backend used otherwise"),
        Option("gpu_threshold", float, 0.9, "use the primary below this gpu_mem_percent",
               0, 1),
        Option("check_interval", float, 30.0, "seconds between health checks", 0, 86400),
    )

    def __init__(self, options=None, *, threads: int = 1):
        super().__init__(options, threads=threads)
        self.primary = str(self.options.get("primary", "chattts-v2"))
        self.secondary = str(self.options.get("secondary", "chattts-v1"))
        self.gpu_threshold = float(self.options.get("gpu_threshold", 0.9))
        self.interval_s = float(self.options.get("check_interval", 30.0))
        self.choice = self.secondary  # conservative until the first check
        self.last_check: float | None = None
        self.last_health: Health | None = None
        self.why = "not checked yet"
        self._probe_lock = threading.Lock()
        self._clock = time.monotonic

    def _due(self) -> bool:
        return self.last_check is None or self._clock() - self.last_check >= self.interval_s

    def candidates(self, request: SynthesisRequest) -> Sequence[str]:
        if self._due():
            # the first decision is waited for; later ones are made by one worker while the
            # others carry on with the current choice
            if self._probe_lock.acquire(blocking=self.last_check is None):
                try:
                    if self._due():
                        self.check()
                finally:
                    self._probe_lock.release()
        choice = self.choice
        return [choice, self.secondary] if choice != self.secondary else [choice]

    def check(self) -> str:
        """Probe the primary now and decide."""
        try:
            primary = self.host.backend(self.primary)
        except BackendError as exc:  # not configured: the secondary it is
            health = Health(False, str(exc))
        else:
            health = primary.health()
        gpu = health.info.get("gpu_mem_percent") if health.info else None
        usable = health.ok and isinstance(gpu, (int, float)) and gpu < self.gpu_threshold
        self.last_health = health
        self.last_check = self._clock()
        self._decide(self.primary if usable else self.secondary,
                     health.detail or ("healthy" if usable else "unhealthy"))
        return self.choice

    def _decide(self, choice: str, why: str) -> None:
        changed = choice != self.choice
        self.choice, self.why = choice, why
        state = {"choice": choice, "why": why}
        if self.last_health is not None:
            state["health"] = {"backend": self.primary, "ok": self.last_health.ok,
                               "detail": self.last_health.detail,
                               "info": dict(self.last_health.info),
                               "latency_s": self.last_health.latency_s}
        state["changed"] = changed
        self.host.emit(self.name, state)

    def record(self, backend: str, ok: bool, reason: str | None = None) -> None:
        if backend == self.primary and not ok and self.choice == self.primary:
            self.last_check = self._clock()
            self._decide(self.secondary, f"{self.primary} failed during the job ({reason})")

    def health(self) -> Health:
        choice = self.check()
        health = self.last_health
        try:
            self.host.backend(choice)
        except BackendError as exc:  # the one it would use is not configured either
            raise BackendError(f"would use {choice}, which is not usable: {exc}",
                               reason=exc.reason) from None
        return Health(True, f"using {choice}: {self.why}",
                      {"choice": choice, "primary": self.primary,
                       "secondary": self.secondary,
                       "primary_health": dict(health.info) if health else {}},
                      health.latency_s if health else None)


@voxline.hookimpl
def register_backends(register):
    register(ChatTTSV1)
    register(ChatTTSV2)
    register(ChatTTSRouter)
