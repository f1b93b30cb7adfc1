"""Real HTTP servers on 127.0.0.1 that speak the protocols of voxline's server backends.

They answer with real speech (eSpeak NG, through voxline's own espeak backend) at each
deployment's sample rate and format, log every request they see, and can be told to misbehave:
slow answers, 500, 503, 400, a connection dropped mid-body or reset before any answer, audio
cut short, an unhealthy `/health` or a GPU at 95 %.
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
import struct
import threading
import time
import wave
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

FAULTS = ("slow", "500", "503", "400", "drop", "reset", "short")


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    return buffer.getvalue()


_speech_cache: dict[tuple[str, int], np.ndarray] = {}
_speech_lock = threading.Lock()


def speech(text: str, rate: int, language: str = "zh") -> np.ndarray:
    """eSpeak NG reading `text`, as int16 samples at `rate` (cached: eSpeak is deterministic)."""
    from voxline import SynthesisRequest
    from voxline.audio import resample
    from voxline.plugins.espeak_ng import EspeakBackend

    key = (text, rate)
    with _speech_lock:
        if key not in _speech_cache:
            voice = "cmn" if language == "zh" else "en-us"
            audio = EspeakBackend().synthesize(SynthesisRequest(text, language, voice))
            _speech_cache[key] = resample(audio, rate).samples.copy()
        return _speech_cache[key]


@dataclass
class Entry:
    method: str
    path: str
    body: dict | None
    outcome: str
    at: float
    headers: dict = field(default_factory=dict)
    client: tuple = ()  # (host, port) of the connection it came on


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # keep test output clean
        pass

    def _body(self) -> dict | None:
        length = int(self.headers.get("content-length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            return {"_raw": raw.decode(errors="replace")}

    def do_GET(self):
        self.server.owner.handle(self, "GET", None)

    def do_POST(self):
        self.server.owner.handle(self, "POST", self._body())

    # helpers for the simulators
    def send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_json(self, status: int, data, headers: dict | None = None):
        self.send(status, json.dumps(data).encode(), "application/json", headers)

    def drop_mid_body(self, body: bytes, content_type: str):
        """Promise the whole body, send half of it, close the connection."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def reset(self):
        """Abort the connection with a TCP reset, no answer at all."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class SimServer:
    """Base: a threaded HTTP server in the background with a request log."""

    def __init__(self):
        self.log: list[Entry] = []
        self.lock = threading.RLock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.in_flight = 0
        self.max_in_flight = 0

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def record(self, handler, method, body, outcome) -> Entry:
        entry = Entry(method, handler.path, body, outcome, time.monotonic(),
                      {k.lower(): v for k, v in handler.headers.items()},
                      tuple(handler.client_address))
        with self.lock:
            self.log.append(entry)
        return entry

    def entries(self, method: str | None = None, path: str | None = None) -> list[Entry]:
        with self.lock:
            return [e for e in self.log if (method is None or e.method == method)
                    and (path is None or e.path == path)]

    def handle(self, handler, method, body):
        raise NotImplementedError


class ChatTTSSim(SimServer):
    """A ChatTTS deployment: `POST /api/tts` → WAV at `rate`; `GET /health` → JSON.

    `fault_rate` of the speech requests fail, each in one of `faults`, drawn from a seeded
    generator. `ssml=False` answers 400 to any text with markup, as v2 does. `delay_s` is
    added to every answer. `on_request(sim, n)` runs before the n-th speech request."""

    def __init__(self, rate: int, *, ssml: bool, gpu: float = 0.3, fault_rate: float = 0.0,
                 faults: tuple[str, ...] = FAULTS, seed: int = 1, delay_s: float = 0.0,
                 slow_s: float = 1.0, on_request=None):
        super().__init__()
        self.rate = rate
        self.ssml = ssml
        self.gpu = gpu
        self.fault_rate = fault_rate
        self.faults = faults
        self.random = random.Random(seed)
        self.delay_s = delay_s
        self.slow_s = slow_s
        self.on_request = on_request
        self.served: dict[str, bytes] = {}  # text -> the WAV bytes of its accepted answer
        self.speech_requests = 0  # speech requests that have arrived

    def handle(self, handler, method, body):
        if method == "GET" and handler.path == "/health":
            self.record(handler, method, None, "health")
            return handler.send_json(200, {"status": "ok", "gpu_mem_percent": self.gpu})
        if method != "POST" or handler.path != "/api/tts":
            self.record(handler, method, body, "404")
            return handler.send_json(404, {"detail": "Not Found"})
        with self.lock:
            n = self.speech_requests
            self.speech_requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = (self.random.choice(self.faults)
                     if self.random.random() < self.fault_rate else None)
        try:
            if self.on_request is not None:
                self.on_request(self, n)
            text = (body or {}).get("text", "")
            if not isinstance(text, str) or not text:
                self.record(handler, method, body, "400")
                return handler.send_json(400, {"error": "text is required"})
            if not self.ssml and re.search(r"<[a-zA-Z/]", text):
                self.record(handler, method, body, "400 ssml")
                return handler.send_json(400, {"error": "SSML is not supported"})
            if self.delay_s:
                time.sleep(self.delay_s)
            plain = re.sub(r"<[^>]+>", "", text)
            samples = speech(plain, self.rate)
            audio = wav_bytes(samples, self.rate)
            self.record(handler, method, body, fault or "ok")
            if fault == "slow":
                time.sleep(self.slow_s)
                return handler.send(200, audio, "audio/wav")
            if fault in ("500", "503"):
                return handler.send_json(int(fault), {"error": "CUDA out of memory"}
                                         if fault == "500" else {"error": "busy"})
            if fault == "400":
                return handler.send_json(400, {"error": "SSML is not supported"})
            if fault == "drop":
                return handler.drop_mid_body(audio, "audio/wav")
            if fault == "reset":
                return handler.reset()
            if fault == "short":
                return handler.send(200, wav_bytes(samples[: len(samples) // 5], self.rate),
                                    "audio/wav")
            with self.lock:
                self.served[text] = audio
            return handler.send(200, audio, "audio/wav")
        finally:
            with self.lock:
                self.in_flight -= 1

    def speech_entries(self) -> list[Entry]:
        return self.entries("POST", "/api/tts")


class HtmlSim(SimServer):
    """A web server that answers every request with an HTML page (a wrong host or port)."""

    def handle(self, handler, method, body):
        self.record(handler, method, body, "html")
        handler.send(200, b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>",
                     "text/html")


class OpenAISim(SimServer):
    """`POST /v1/audio/speech` → audio in the requested `response_format`."""

    def __init__(self, rate: int = 24000, api_key: str | None = None):
        super().__init__()
        self.rate = rate
        self.api_key = api_key

    def handle(self, handler, method, body):
        if method == "GET" and handler.path == "/v1/models":
            self.record(handler, method, None, "models")
            return handler.send_json(200, {"object": "list", "data": [{"id": "tts-1"}]})
        if method != "POST" or handler.path != "/v1/audio/speech":
            self.record(handler, method, body, "404")
            return handler.send_json(404, {"error": {"message": "not found"}})
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.record(handler, method, body, "401")
            return handler.send_json(401, {"error": {"message": "Incorrect API key"}})
        missing = [k for k in ("model", "input", "voice") if k not in (body or {})]
        if missing:
            self.record(handler, method, body, "400")
            return handler.send_json(400, {"error": {"message": f"missing {missing}"}})
        samples = speech(body["input"], self.rate, "en")
        fmt = body.get("response_format", "mp3")
        self.record(handler, method, body, "ok")
        if fmt == "wav":
            return handler.send(200, wav_bytes(samples, self.rate), "audio/wav")
        if fmt == "pcm":
            return handler.send(200, samples.astype("<i2").tobytes(), "audio/pcm")
        return handler.send(200, encode(samples, self.rate, fmt), f"audio/{fmt}")


def encode(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """Samples encoded by FFmpeg into `fmt` (mp3, flac, opus, aac)."""
    import subprocess

    from voxline.audio import ffmpeg_exe

    muxer = {"aac": "adts", "opus": "ogg"}.get(fmt, fmt)
    return subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar",
         str(rate), "-ac", "1", "-i", "pipe:0", "-f", muxer, "pipe:1"],
        input=samples.astype("<i2").tobytes(), capture_output=True, check=True).stdout


class OllamaSim(SimServer):
    """Ollama's `/api/generate` streaming NDJSON, for a codec-token speech model.

    For each request it makes `frames` SNAC frames (seven `<custom_token_N>` each, N built
    the way Orpheus models write them), spread over many lines, with tokens split across line
    boundaries and the model's own marker tokens mixed in. `mode`: `tokens`, `words` (a chat
    model that answers in prose), `busy_first` (503 to the first `busy` requests)."""

    def __init__(self, *, parallel: int = 2, mode: str = "tokens", busy: int = 0,
                 delay_s: float = 0.0, model: str = "orpheus"):
        super().__init__()
        self.parallel = parallel
        self.mode = mode
        self.busy = busy
        self.delay_s = delay_s
        self.model = model
        self.codes: dict[str, list[int]] = {}  # prompt -> the code ids sent

    def handle(self, handler, method, body):
        if method == "GET" and handler.path == "/api/tags":
            self.record(handler, method, None, "tags")
            return handler.send_json(200, {"models": [{"name": f"{self.model}:latest"}]})
        if method != "POST" or handler.path != "/api/generate":
            self.record(handler, method, body, "404")
            return handler.send(404, b"404 page not found", "text/plain")
        body = body or {}
        if body.get("model") != self.model:
            self.record(handler, method, body, "404 model")
            return handler.send_json(404, {"error": f"model '{body.get('model')}' not found, "
                                                    "try pulling it first"})
        with self.lock:
            if self.in_flight >= self.parallel:
                self.record(handler, method, body, "503 overloaded")
                return handler.send_json(503, {"error": "server busy, please try again."})
            if self.busy > 0:
                self.busy -= 1
                self.record(handler, method, body, "503")
                return handler.send_json(503, {"error": "server busy, please try again."})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.record(handler, method, body, self.mode)
            prompt = body.get("prompt", "")
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.mode == "words":
                pieces = ["Sure", "!", " Here", " is", " a", " story", " about", " the",
                          " text", " you", " gave", " me", ":", " once", " upon", " a",
                          " time", " there", " was", " a", " voice", "."] * 4
            else:
                pieces = self._token_pieces(prompt)
            self._stream(handler, pieces)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _token_pieces(self, prompt: str) -> list[str]:
        match = re.match(r"<\|audio\|>(\w+): (.*)<\|eot_id\|>$", prompt, re.S)
        text = match.group(2) if match else ""
        frames = max(2, len(text) // 2)
        rng = random.Random(prompt)
        ids = [rng.randrange(4096) for _ in range(frames * 7)]
        with self.lock:
            self.codes[prompt] = ids
        tokens = ["<custom_token_3>"]  # a marker the model emits first (no valid code)
        tokens += [f"<custom_token_{code + 10 + (i % 7) * 4096}>" for i, code in enumerate(ids)]
        tokens.append("<custom_token_2>")
        stream = "".join(tokens)
        # Ollama sends a token or a few per line; cut at odd places to split some tokens
        cuts = list(range(0, len(stream), 23)) + [len(stream)]
        return [stream[a:b] for a, b in zip(cuts, cuts[1:])]

    def _stream(self, handler, pieces: list[str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def chunk(data: bytes):
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        for piece in pieces:
            line = json.dumps({"model": self.model, "created_at": "2026-11-22T00:00:00Z",
                               "response": piece, "done": False}) + "\n"
            chunk(line.encode())
        chunk((json.dumps({"model": self.model, "created_at": "2026-11-22T00:00:00Z",
                           "response": "", "done": True, "done_reason": "stop",
                           "eval_count": len(pieces)}) + "\n").encode())
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
