"""`openai`: any server with OpenAI's speech endpoint, `POST /v1/audio/speech`.

Many speech servers speak it (ChatTTS's example API, Speech-AI-Forge, Kokoro-FastAPI, coqui's
server, ...). Options under `[backends.openai]`: `url` (else `OPENAI_BASE_URL`; with or
without the trailing `/v1`), `model` (default `tts-1`), `voices` (default `["alloy"]`),
`languages`, `response_format` (default `wav`; anything FFmpeg reads works), `budget_chars`,
`api_key_env` (default `OPENAI_API_KEY`; the key is sent only when that variable is set).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import voxline
from voxline import Capabilities, Health, HttpBackend, Option, SynthesisRequest, Terms, Voice
from voxline import BackendError


def _capabilities(options: Mapping[str, Any]) -> Capabilities:
    languages = tuple(options.get("languages", ("en", "zh")))
    voices = tuple(Voice(str(v), lang) for v in options.get("voices", ["alloy"])
                   for lang in languages)
    return Capabilities(
        sample_rate_hz=int(options.get("sample_rate", 24000)),
        languages=languages, voices=voices, controls=frozenset({"rate"}),
        budget_chars=int(options.get("budget_chars", 1000)), thread_safe=True,
        max_workers=int(options.get("concurrency", 8)), network=True,
        terms=Terms("those of the model the server runs"),
    )


class OpenAISpeech(HttpBackend):
    name = "openai"
    version = "1"
    url_env = "OPENAI_BASE_URL"
    capabilities = _capabilities({})
    capabilities_for = staticmethod(_capabilities)
    option_specs = HttpBackend.http_options + (
        Option("model", str, "tts-1", "the model name sent"),
        Option("response_format", str, "wav", "anything FFmpeg reads"),
        Option("voices", list, ["alloy"], "voice names"),
        Option("languages", list, ["en", "zh"], "language codes it speaks"),
        Option("sample_rate", int, 24000, "Hz expected", 4000, 192000),
        Option("budget_chars", int, 1000, "characters per request", 1, 100000),
    )

    def __init__(self, options=None, *, threads: int = 1):
        options = {"api_key_env": "OPENAI_API_KEY", **dict(options or {})}
        super().__init__(options, threads=threads)
        self.model = str(self.options.get("model", "tts-1"))
        self.response_format = str(self.options.get("response_format", "wav"))
        self.base = self.url if self.url.endswith("/v1") else self.url + "/v1"

    def endpoint(self, path: str) -> str:
        return f"{self.base}{path}"

    def synthesize(self, request: SynthesisRequest):
        speed = min(4.0, max(0.25, request.prosody.rate))
        body = {
            "model": self.model,
            "input": request.text,
            "voice": request.voice or self.capabilities.default_voice(request.language)
            or "alloy",
            "response_format": self.response_format,
            "speed": round(speed, 3),
        }
        response = self.request("POST", "/audio/speech", json_body=body)
        return self.decode_audio(response, self.endpoint("/audio/speech"))

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            response = self.request("GET", "/models", timeout_s=5.0, expect="json")
        except BackendError as exc:
            if exc.reason in ("http 404", "http 405"):
                return Health(True, "reachable (no /v1/models listing)",
                              latency_s=time.perf_counter() - started)
            return Health(False, exc.message, latency_s=time.perf_counter() - started)
        try:
            models = [m.get("id") for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            models = []
        detail = f"{len(models)} models" if models else "reachable"
        return Health(True, detail, {"models": models[:20]}, time.perf_counter() - started)


@voxline.hookimpl
def register_backends(register):
    register(OpenAISpeech)
