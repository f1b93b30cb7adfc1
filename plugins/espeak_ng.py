"""The `espeak` backend: eSpeak NG in-process through `espeakng-loader`.

The library and its data come in the wheel (no system package). It speaks about a hundred
languages, Mandarin (`cmn`) and Cantonese (`yue`) among them: robotic, but always there, and the
offline default for Chinese. The C library keeps one global state, so calls are serialized
with a process-wide lock; at a real-time factor near 0.003 that is rarely the bottleneck.
"""

from __future__ import annotations

import ctypes
import threading

import voxline
from voxline import (Audio, Backend, BackendError, Capabilities, Health, Option, SynthesisRequest,
                     Terms, Voice)

# voxline language code → eSpeak NG voice
VOICES = {
    "zh": "cmn", "yue": "yue", "en": "en-us", "de": "de", "fr": "fr-fr", "es": "es",
    "it": "it", "pt": "pt", "ru": "ru", "ja": "ja", "ko": "ko", "vi": "vi", "th": "th",
    "ar": "ar", "hi": "hi", "nl": "nl", "pl": "pl", "tr": "tr", "sv": "sv", "id": "id",
}
_DESCRIPTIONS = {"cmn": "Mandarin", "yue": "Cantonese", "en-us": "US English"}

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH = 1, 2, 3
_DEFAULT_RATE_WPM, _DEFAULT_PITCH, _DEFAULT_VOLUME = 175, 50, 100

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Engine:
    """The one eSpeak NG library of this process."""

    lock = threading.Lock()
    _instance: "_Engine | None" = None

    def __init__(self) -> None:
        import array

        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate_hz = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate_hz <= 0:
            raise BackendError("eSpeak NG failed to initialize (espeakng-loader's data missing?)")
        self.buffer = array.array("h")
        self._callback = _CALLBACK(self._on_audio)  # kept referenced: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.voice = None

    def _on_audio(self, wav, count, events):
        if count > 0:
            self.buffer.frombytes(ctypes.string_at(wav, count * 2))  # int16 samples
        return 0

    @classmethod
    def get(cls) -> "_Engine":
        with cls.lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def speak(self, text: str, voice: str, rate_wpm: int, pitch: int, volume: int):
        import numpy as np

        with self.lock:
            if voice != self.voice:
                if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise BackendError(f"eSpeak NG has no voice {voice!r}")
                self.voice = voice
            self.lib.espeak_SetParameter(_RATE, rate_wpm, 0)
            self.lib.espeak_SetParameter(_PITCH, pitch, 0)
            self.lib.espeak_SetParameter(_VOLUME, volume, 0)
            del self.buffer[:]
            data = text.encode("utf-8")
            self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                  None, None)
            self.lib.espeak_Synchronize()
            return np.frombuffer(self.buffer.tobytes(), dtype=np.int16).copy()


class EspeakBackend(Backend):
    """eSpeak NG. Options (`[backends.espeak]`): `rate_wpm` (default 175), `pitch` (0–100,
    default 50). A voice is an eSpeak NG voice name (`cmn`, `yue`, `en-us`, ...)."""

    name = "espeak"
    version = "1"
    capabilities = Capabilities(
        sample_rate_hz=22050,
        languages=tuple(VOICES),
        voices=tuple(
            Voice(v, lang, _DESCRIPTIONS.get(v, "")) for lang, v in VOICES.items()
        ),
        controls=frozenset({"rate", "pitch", "volume"}),
        budget_chars=500,
        thread_safe=True,
        # not deterministic: the library carries state between calls in process-wide statics
        # (pitch flutter, wave phase) that no API resets, so the same text can come out a few
        # samples different depending on what was spoken before it
        deterministic=False,
        terms=Terms("GPL-3.0 (eSpeak NG, rule-based: no training data)"),
    )
    option_specs = (
        Option("rate_wpm", float, _DEFAULT_RATE_WPM, "words per minute", 80, 450),
        Option("pitch", float, _DEFAULT_PITCH, "0 low to 100 high", 0, 100),
    )

    def synthesize(self, request: SynthesisRequest) -> Audio:
        engine = _Engine.get()
        voice = request.voice or VOICES.get(request.language, request.language)
        prosody = request.prosody
        rate = int(round(float(self.options.get("rate_wpm", _DEFAULT_RATE_WPM)) * prosody.rate))
        pitch = int(round(float(self.options.get("pitch", _DEFAULT_PITCH)) * prosody.pitch))
        volume = int(round(_DEFAULT_VOLUME * 10 ** (prosody.volume_db / 20)))
        samples = engine.speak(
            request.text, voice, max(80, min(rate, 450)), max(0, min(pitch, 100)),
            max(0, min(volume, 200)),
        )
        return Audio(samples, engine.sample_rate_hz, 1)

    def health(self) -> Health:
        try:
            engine = _Engine.get()
        except (OSError, BackendError) as exc:
            return Health(False, str(exc))
        return Health(True, f"eSpeak NG at {engine.sample_rate_hz} Hz")


@voxline.hookimpl
def register_backends(register):
    register(EspeakBackend)
