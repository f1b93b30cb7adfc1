"""The `espeak` backend: eSpeak NG in-process through `espeakng-loader`.

The library and its data come in the wheel (no system package). It speaks about a hundred
languages, Mandarin (`cmn`) and Cantonese (`yue`) among them: robotic, but always there, and the
offline default for Chinese. The C library keeps one global state, so calls are serialized
with a process-wide lock; at a real-time factor near 0.003 that is rarely the bottleneck.

It reads IPA (`SynthesisRequest.phonemes`): eSpeak NG takes phonemes as `[[...]]` in its own
ASCII names, so IPA is rewritten with `IPA_TO_ESPEAK`, the names eSpeak NG's English voices
write for the IPA they print (a test checks the table against the library). A symbol the
table lacks leaves that word to its replacement text, with a note.
"""

from __future__ import annotations

import ctypes
import threading

import voxline
from voxline import (Audio, Backend, BackendError, Capabilities, Health, Option, PhonemeSpan,
                     SynthesisRequest, Terms, Voice)

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
_PHONEME_INPUT = 0x100  # espeakPHONEMES: [[...]] in the text is phonemes
_RATE, _VOLUME, _PITCH = 1, 2, 3
_DEFAULT_RATE_WPM, _DEFAULT_PITCH, _DEFAULT_VOLUME = 175, 50, 100

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


# IPA → eSpeak NG phoneme names, as the library's English voices print the same sounds in
# both (espeak_TextToPhonemes, IPA and names); longest IPA first when rewriting
IPA_TO_ESPEAK = {
    "aɪə": "aI@", "aɪɚ": "aI3", "ɑːɹ": "A@", "ɔːɹ": "o@", "aɪ": "aI", "aʊ": "aU",
    "eɪ": "eI", "oʊ": "oU", "ɔɪ": "OI", "iː": "i:", "uː": "u:", "ɑː": "A:", "ɔː": "O:",
    "ɜː": "3:", "iə": "i@", "əl": "@L", "ɛɹ": "e@", "ɪɹ": "i@3", "ʊɹ": "U@", "dʒ": "dZ",
    "tʃ": "tS", "n̩": "n-", "b": "b", "d": "d", "f": "f", "h": "h", "j": "j", "k": "k",
    "l": "l", "m": "m", "n": "n", "p": "p", "s": "s", "t": "t", "v": "v", "w": "w",
    "z": "z", "ɡ": "g", "g": "g", "ɹ": "r", "r": "r", "ð": "D", "θ": "T", "ʃ": "S",
    "ʒ": "Z", "ŋ": "N", "ɾ": "t#", "ʔ": "?", "i": "i", "ɪ": "I", "ᵻ": "I#", "ɛ": "E",
    "e": "e", "æ": "a", "a": "a", "ɐ": "a#", "ɑ": "A", "ɒ": "0", "ɔ": "O", "o": "o",
    "ʊ": "U", "u": "u", "ʌ": "V", "ə": "@", "ɚ": "3", "ɜ": "3", "x": "x",
    "ˈ": "'", "ˌ": ",", "ː": ":", " ": " ",
}
_IPA_LONGEST = max(map(len, IPA_TO_ESPEAK))
_IPA_SILENT = set(".‿")  # syllable breaks and links: eSpeak NG finds its own


def ipa_to_espeak(ipa: str) -> tuple[str, str]:
    """`ipa` in eSpeak NG's phoneme names, and the symbols it could not rewrite."""
    out, unknown, i = [], [], 0
    while i < len(ipa):
        for size in range(min(_IPA_LONGEST, len(ipa) - i), 0, -1):
            if ipa[i:i + size] in IPA_TO_ESPEAK:
                out.append(IPA_TO_ESPEAK[ipa[i:i + size]])
                i += size
                break
        else:
            if ipa[i] not in _IPA_SILENT:
                unknown.append(ipa[i])
            i += 1
    return "".join(out), "".join(unknown)


def with_phonemes(text: str, spans: tuple[PhonemeSpan, ...]) -> tuple[str, list[str]]:
    """`text` with the IPA of `spans` in place of their words, as eSpeak NG's `[[...]]`,
    and notes on the spans it could not rewrite (their words are read as written)."""
    out, notes, position = [], [], 0
    for span in sorted(spans, key=lambda p: p.start):
        if span.alphabet != "ipa" or span.start < position:
            continue
        names, unknown = ipa_to_espeak(span.phonemes)
        out.append(text[position:span.start].replace("[[", "[ ["))
        if unknown:
            notes.append(f"eSpeak NG cannot read the IPA {unknown!r} of "
                         f"{span.phonemes!r}: said {text[span.start:span.end]!r} instead")
            out.append(text[span.start:span.end])
        else:
            out.append(f"[[{names}]]")
        position = span.end
    out.append(text[position:].replace("[[", "[ ["))
    return "".join(out), notes


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

    def speak(self, text: str, voice: str, rate_wpm: int, pitch: int, volume: int,
              phonemes: bool = False):
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
            flags = _CHARS_UTF8 | (_PHONEME_INPUT if phonemes else 0)
            self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, flags, None, None)
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
        phoneme_alphabets=frozenset({"ipa"}),
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
        text, notes = with_phonemes(request.text, request.phonemes)
        samples = engine.speak(
            text, voice, max(80, min(rate, 450)), max(0, min(pitch, 100)),
            max(0, min(volume, 200)), phonemes=bool(request.phonemes),
        )
        return Audio(samples, engine.sample_rate_hz, 1, tuple(notes))

    def health(self) -> Health:
        try:
            engine = _Engine.get()
        except (OSError, BackendError) as exc:
            return Health(False, str(exc))
        return Health(True, f"eSpeak NG at {engine.sample_rate_hz} Hz")


@voxline.hookimpl
def register_backends(register):
    register(EspeakBackend)
