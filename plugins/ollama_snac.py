"""`ollama`: an Ollama server running a codec-token speech model (Orpheus-style GGUF).

Ollama has no speech endpoint. The model writes audio as text tokens: voxline sends
`POST /api/generate` with `"raw": true, "stream": true` and the prompt
`<|audio|>{voice}: {text}<|eot_id|>`, reads the NDJSON lines as they stream, collects the
`<custom_token_N>` tokens, turns each group of seven into one SNAC frame (id = N - 10 -
(i mod 7) * 4096; codebooks take 1, 2 and 4 codes per frame) and decodes them with the `snac`
package's 24 kHz model, loaded from a local folder (`snac_path`). torch is imported here
only, when the first chunk is decoded.

Options under `[backends.ollama]`: `url` (else `OLLAMA_HOST`, else http://127.0.0.1:11434),
`model` (default `orpheus`), `voices`, `languages` (default `["en"]`), `snac_path` (else
`VOXLINE_SNAC_PATH`), `parallel` (requests at once; else `OLLAMA_NUM_PARALLEL`, else 1),
`temperature`, `top_p`, `repeat_penalty`, `max_tokens`.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import voxline
from voxline import (Audio, Capabilities, Health, HttpBackend, Option, SynthesisRequest, Terms,
                     Voice)
from voxline import BackendError

ORPHEUS_VOICES = ("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe")
TOKEN = re.compile(r"<custom_token_(\d+)>")
SAMPLE_RATE = 24000
CODEBOOK = 4096
SNAC_FILES = ("config.json", "pytorch_model.bin")
TOKENS_PER_S = 7 * SAMPLE_RATE / 2048  # seven tokens per coarse frame of 2048 samples


def _parallel(options: Mapping[str, Any]) -> int:
    value = options.get("parallel") or os.environ.get("OLLAMA_NUM_PARALLEL") or 1
    try:
        return max(1, int(value))
    except ValueError:
        raise BackendError(f"ollama: parallel must be a whole number, got {value!r}") from None


def _capabilities(options: Mapping[str, Any]) -> Capabilities:
    languages = tuple(options.get("languages", ("en",)))
    voices = tuple(Voice(str(v), lang) for v in options.get("voices", ORPHEUS_VOICES)
                   for lang in languages)
    return Capabilities(
        sample_rate_hz=SAMPLE_RATE, languages=languages, voices=voices,
        budget_chars=int(options.get("budget_chars", 300)), streams=True, thread_safe=True,
        max_workers=_parallel(options), network=True,
        terms=Terms("the served model's (Orpheus: Llama 3.2 Community License); SNAC decoder MIT"),
    )


def tokens_to_codes(numbers: Iterable[int]) -> list[list[int]]:
    """SNAC codes (three codebooks) from the numbers N of `<custom_token_N>`, in order.

    Token i of the stream maps to id N - 10 - (i mod 7) * 4096; numbers that give no valid id
    (the model's own markers) are skipped without advancing i. An incomplete last frame is
    dropped. Per frame of seven: codebook 0 takes id 0; codebook 1 ids 1 and 4; codebook 2
    ids 2, 3, 5, 6.
    """
    ids: list[int] = []
    for number in numbers:
        code = number - 10 - (len(ids) % 7) * CODEBOOK
        if 0 <= code < CODEBOOK:
            ids.append(code)
    frames = len(ids) // 7
    c0, c1, c2 = [], [], []
    for f in range(frames):
        a = ids[7 * f: 7 * f + 7]
        c0.append(a[0])
        c1.extend((a[1], a[4]))
        c2.extend((a[2], a[3], a[5], a[6]))
    return [c0, c1, c2]


class _Decoder:
    """One SNAC model per weights folder, shared by all workers."""

    _models: dict[str, Any] = {}
    _lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path):
        key = str(folder.resolve())
        with cls._lock:
            if key not in cls._models:
                try:
                    import torch
                    from snac import SNAC
                except ImportError as exc:
                    raise BackendError(
                        f"ollama needs the snac decoder ({exc.name} is not installed)",
                        hint="pip install 'voxline[ollama]'", reason="not installed") from None
                model = SNAC.from_config(str(folder / "config.json"))
                state = torch.load(str(folder / "pytorch_model.bin"), map_location="cpu",
                                   weights_only=True)
                model.load_state_dict(state)
                model.eval()
                cls._models[key] = model
            return cls._models[key]

    @staticmethod
    def decode(model, codes: list[list[int]]):
        import numpy as np
        import torch

        tensors = [torch.tensor(c, dtype=torch.long).unsqueeze(0) for c in codes]
        with torch.inference_mode():
            audio = model.decode(tensors)
        return np.ascontiguousarray(audio.squeeze().float().numpy(), dtype=np.float32)


class OllamaSpeech(HttpBackend):
    name = "ollama"
    version = "1"
    url_env = "OLLAMA_HOST"
    default_url = "http://127.0.0.1:11434"
    capabilities = _capabilities({})
    capabilities_for = staticmethod(_capabilities)
    option_specs = HttpBackend.http_options + (
        Option("model", str, "orpheus", "the Ollama model"),
        Option("snac_path", str, None, "folder of the SNAC 24 kHz decoder weights"),
        Option("temperature", float, 0.6, "sampling temperature", 0, 5),
        Option("top_p", float, 0.9, "nucleus sampling", 0, 1),
        Option("repeat_penalty", float, 1.1, "", 0, 5),
        Option("max_tokens", int, 8192, "audio tokens per request", 1, 1_000_000),
        Option("parallel", int, 1, "the server's OLLAMA_NUM_PARALLEL", 1, 256),
        Option("languages", list, ["en"], "language codes it speaks"),
        Option("voices", list, None, "voice names"),
        Option("budget_chars", int, 300, "characters per request", 1, 100000),
    )

    def __init__(self, options=None, *, threads: int = 1):
        super().__init__(options, threads=threads)
        self.model = str(self.options.get("model", "orpheus"))
        folder = self.options.get("snac_path") or os.environ.get("VOXLINE_SNAC_PATH")
        if not folder:
            raise BackendError(
                "ollama needs the SNAC 24 kHz decoder weights, and none are configured",
                hint="set snac_path in [backends.ollama] or VOXLINE_SNAC_PATH to a folder "
                     f"holding {' and '.join(SNAC_FILES)} (hubertsiuzdak/snac_24khz)",
                reason="not configured")
        self.snac_path = Path(folder).expanduser()
        missing = [f for f in SNAC_FILES if not (self.snac_path / f).is_file()]
        if missing:
            raise BackendError(
                f"ollama: SNAC weights folder {self.snac_path} lacks {', '.join(missing)}",
                hint=f"it must hold {' and '.join(SNAC_FILES)} (hubertsiuzdak/snac_24khz)",
                reason="not configured")
        self.sampling = {
            "temperature": float(self.options.get("temperature", 0.6)),
            "top_p": float(self.options.get("top_p", 0.9)),
            "repeat_penalty": float(self.options.get("repeat_penalty", 1.1)),
        }
        self.max_tokens = int(self.options.get("max_tokens", 8192))

    def prompt(self, request: SynthesisRequest) -> str:
        voice = request.voice or self.capabilities.default_voice(request.language) or "tara"
        return f"<|audio|>{voice}: {request.text}<|eot_id|>"

    def token_budget(self, text: str) -> int:
        """`num_predict` for a text: generous for its length (English is read at ~15
        characters a second), capped by `max_tokens`."""
        seconds = 2.0 + 2.0 * len(text) / 12.0
        return min(self.max_tokens, int(seconds * TOKENS_PER_S) + 64)

    def synthesize(self, request: SynthesisRequest) -> Audio:
        url = self.endpoint("/api/generate")
        body = {
            "model": self.model, "prompt": self.prompt(request), "raw": True, "stream": True,
            "options": {**self.sampling, "num_predict": self.token_budget(request.text)},
        }
        numbers = self.collect_tokens(body, url)
        codes = tokens_to_codes(numbers)
        if not codes[0]:
            raise BackendError(f"{self.name} at {url}: model {self.model!r} produced "
                               f"{len(numbers)} audio tokens, less than one frame",
                               reason="no audio", retryable=True)
        model = _Decoder.load(self.snac_path)
        return Audio(_Decoder.decode(model, codes), SAMPLE_RATE, 1)

    def collect_tokens(self, body: dict, url: str) -> list[int]:
        """Read the NDJSON stream; the numbers of the audio tokens, in order."""
        numbers: list[int] = []
        pending = ""   # text not yet matched (a token may be split across lines)
        words = 0      # characters that were not audio tokens
        done = False
        with self.stream("POST", "/api/generate", json_body=body) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    raise BackendError(f"{self.name} at {url}: a stream line is not JSON",
                                       reason="bad stream", retryable=True) from None
                if message.get("error"):
                    raise BackendError(f"{self.name} at {url}: {message['error']}",
                                       reason="server error", retryable=True)
                pending += message.get("response", "")
                last = 0
                for match in TOKEN.finditer(pending):
                    words += len(pending[last:match.start()].strip())
                    numbers.append(int(match.group(1)))
                    last = match.end()
                rest = pending[last:]
                # keep a possible token prefix for the next line
                cut = rest.rfind("<")
                if cut >= 0 and ">" not in rest[cut:]:
                    words += len(rest[:cut].strip())
                    pending = rest[cut:]
                else:
                    words += len(rest.strip())
                    pending = ""
                if words > 64 and words > 4 * len(numbers):
                    raise BackendError(
                        f"{self.name} at {url}: model {self.model!r} answers in words, "
                        "not audio tokens (is it an Orpheus-style codec-token speech "
                        "model?)", reason="not a speech model", retryable=False)
                if message.get("done"):
                    done = True
                    break
        if not done:
            raise BackendError(f"{self.name} at {url}: the stream ended before `done`",
                               reason="connection dropped", retryable=True)
        return numbers

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            response = self.request("GET", "/api/tags", timeout_s=5.0, expect="json")
            names = [m.get("name", "") for m in response.json().get("models", [])]
        except BackendError as exc:
            return Health(False, exc.message, latency_s=time.perf_counter() - started)
        except (ValueError, AttributeError):
            names = []
        latency = time.perf_counter() - started
        present = any(n == self.model or n.split(":")[0] == self.model for n in names)
        detail = f"model {self.model!r} " + ("present" if present else "not pulled")
        return Health(present, detail, {"models": names[:20]}, latency)


@voxline.hookimpl
def register_backends(register):
    register(OllamaSpeech)
