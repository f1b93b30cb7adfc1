"""`chattts-local`: the ChatTTS library in-process, on torch, batched, CUDA when present.

The weights are a folder holding ChatTTS's `asset/`: the user's own (`model_dir`) or the one
`voxline models pull chattts` fills; the backend itself downloads nothing. voxline loads the model once per job, on the GPU with the most free memory as
NVML reports it (device-wide, other processes included), else on the CPU with a warning, and
speaks chunks in batches (`infer([...], split_text=False)`). The text is voxline's own
normalized text (`do_text_normalization=False`), mapped to what ChatTTS can speak so the
library never drops a character silently. One speaker embedding and one sampling seed serve
the whole job, so the voice stays the same from the first chunk to the last.

Options under `[backends.chattts-local]` (the flags `--model-dir`, `--speaker` and
`--batch-size` set the first three):

- `model_dir`: the folder with `asset/` (else `VOXLINE_CHATTTS_MODEL_DIR`, else where
  `voxline models pull chattts` puts it: `voxline.model_folder("chattts")`).
- `speaker`: `seed:N` (ChatTTS's seeded voices), `file:PATH` (a saved embedding string), the
  embedding string itself, or `random:PATH` (sampled once, written to PATH, reused after).
  Default `seed:2222`. A chunk's voice (`--voice chattts-local:seed:N`, SSML `<voice>`) wins.
- `seed`: the sampling seed of every chunk [default 42].
- `device`: `auto`, `cpu`, `cuda` or `cuda:N` [default auto].
- `gpu_memory_threshold`: device-wide GPU memory use above which new batches wait [0.6].
- `temperature` [0.3], `top_p` [0.7], `top_k` [20].
- `check_hashes`: compare the weights with the released files' SHA-256 [default true];
  set false for fine-tuned weights.
- `max_new_token`: the most audio tokens one chunk may take [default 2048].
- `split_on_truncation`: speak a chunk that ran into its token limit again in two halves
  [default true].
- `compile`: torch.compile the GPT on CUDA [default false].
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import voxline
from voxline import (Audio, Backend, BackendError, Capabilities, Option, SynthesisRequest, Terms,
                     Voice, write_atomic)

SAMPLE_RATE = 24000
SAMPLES_PER_TOKEN = 512  # one audio token: two mel frames of 256 samples at 24 kHz
TOKENS_PER_S = SAMPLE_RATE / SAMPLES_PER_TOKEN
DEFAULT_SPEAKER = "seed:2222"
# the files ChatTTS loads, under model_dir
ASSET_FILES = (
    "asset/Decoder.safetensors",
    "asset/DVAE.safetensors",
    "asset/Embed.safetensors",
    "asset/Vocos.safetensors",
    "asset/gpt/config.json",
    "asset/gpt/model.safetensors",
    "asset/tokenizer/special_tokens_map.json",
    "asset/tokenizer/tokenizer_config.json",
    "asset/tokenizer/tokenizer.json",
)
# the slowest speech a chunk's token budget allows for: characters per second of audio
SLOWEST_CHARS_PER_S = {"zh": 2.0, "en": 6.0}
BUDGET_MARGIN_S = 1.5
MAX_SPLITS = 2  # a chunk cut off at the token limit is halved at most this deep
# SSML breaks up to this long are spoken as ChatTTS's own short pause, [uv_break], inside the
# chunk; longer ones are cuts with exact inserted silence
BREAK_TOKEN_MAX_S = 0.3
BREAK_TOKEN = "[uv_break]"

# ---------------------------------------------------------------------------------------
# What ChatTTS can speak. The library keeps only CJK ideographs, ASCII letters, `，。、,.` and
# spaces (and its own [control] tokens); anything else it drops with a log line. voxline maps
# what has a spoken or prosodic equivalent and reports the rest.

_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z，。、,. ]")
_ZH_PUNCT = {
    "！": "。", "？": "。", "!": "。", "?": "。", "；": "，", ";": "，", "：": "，", ":": "，",
    "…": "。", "—": "，", "–": "，", "-": "，", "（": "，", "）": "，", "(": "，", ")": "，",
    "【": "，", "】": "，", "《": "", "》": "", "「": "", "」": "", "『": "", "』": "",
    "“": "", "”": "", "‘": "", "’": "", '"': "", "'": "", "·": "", "\n": "，", "\t": " ",
    "/": "，", "~": "，", "～": "，", "[": "", "]": "",
}
_EN_PUNCT = {
    "!": ".", "?": ".", ";": ",", ":": ",", "…": ".", "—": ",", "–": ",", "(": ",", ")": ",",
    '"': "", "“": "", "”": "", "‘": "", "’": "", "'": "", "`": "", "\n": ",", "\t": " ",
    "/": " ", "[": "", "]": "", "&": " and ", "+": " plus ", "=": " equals ", "%": " percent",
    "-": " ", "_": " ", "~": " ",
}


def speakable(text: str, language: str) -> tuple[str, list[str]]:
    """`text` in ChatTTS's alphabet, and the characters that had to be left out.

    Punctuation becomes the pause marks ChatTTS knows (`，。` in Chinese, `,.` in English),
    compatibility and accented letters their plain forms, stray digits are read one by one
    (voxline's normalizers have already read numbers as words; this only catches leftovers),
    and brackets are removed so text never injects a ChatTTS control token.
    """
    zh = language in ("zh", "yue")
    table = _ZH_PUNCT if zh else _EN_PUNCT
    out: list[str] = []
    dropped: list[str] = []
    for ch in text:
        if ch not in table and not _KEEP.match(ch):
            ch = unicodedata.normalize("NFKC", ch)  # full-width letters, compatibility forms
            ch = ch if len(ch) == 1 else ch[0] if ch.isascii() and ch.isalpha() else ch
        if ch in table:
            out.append(table[ch])
        elif len(ch) == 1 and _KEEP.match(ch):
            out.append(ch)
        elif len(ch) == 1 and ch.isdigit() and ch.isascii():
            out.append(voxline.digit_name(ch, "zh") if zh else f" {voxline.digit_name(ch, 'en')} ")
        elif ch.isspace():
            out.append(" ")
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", ch)
                            if _KEEP.match(c))
            if plain:
                out.append(plain)
            else:
                if ch not in dropped:
                    dropped.append(ch)
                out.append(" ")
    spoken = re.sub(r"\s+", " ", "".join(out))
    spoken = re.sub(r"\s*([，。、])\s*", r"\1", spoken)
    spoken = re.sub(r"\s+([,.])", r"\1", spoken)
    spoken = re.sub(r"([，。、,.])(?:\s*[，。、,.])+", r"\1", spoken).strip(" ，,、")
    return spoken, dropped


def with_breaks(text: str, breaks: Sequence[tuple[int, float]], language: str
                ) -> tuple[str, list[str]]:
    """`speakable(text)` with ChatTTS's short-pause token where `breaks` (offsets into `text`)
    put a pause; the characters left out, as for `speakable`."""
    cuts = sorted({offset for offset, _ in breaks if 0 < offset < len(text)})
    pieces, dropped = [], []
    for start, end in zip([0, *cuts], [*cuts, len(text)]):
        spoken, lost = speakable(text[start:end], language)
        dropped += [ch for ch in lost if ch not in dropped]
        if spoken:
            pieces.append(spoken)
    return BREAK_TOKEN.join(pieces), dropped


def speed_token(rate: float) -> str:
    """ChatTTS's speed control for a `<prosody rate>` multiplier: [speed_5] is its normal
    pace; each step is about a tenth faster or slower."""
    return f"[speed_{max(0, min(9, round(5 + (rate - 1.0) * 10)))}]"


def token_budget(text: str, language: str, limit: int) -> int:
    """The most audio tokens a chunk may take: its text read at the slowest plausible pace,
    plus a margin. A real model stops well before; one that does not was going wrong."""
    letters = sum(1 for ch in _TOKENS.sub("", text) if ch.isalnum())
    slowest = SLOWEST_CHARS_PER_S.get(language, SLOWEST_CHARS_PER_S["en"])
    return max(32, min(limit, round((letters / slowest + BUDGET_MARGIN_S) * TOKENS_PER_S)))


_TOKENS = re.compile(r"\[\w+\]")


def halves(text: str) -> tuple[str, str] | None:
    """`text` cut in two at the sentence or clause mark nearest its middle (sentence marks
    first); None when it has no such mark with words on both sides."""
    for marks in ("。.！？!?", "，,、；;：:"):
        cuts = [i + 1 for i, ch in enumerate(text[:-1]) if ch in marks]
        cuts = [i for i in cuts if text[:i].strip(" ，。,.") and text[i:].strip(" ，。,.")]
        if cuts:
            middle = min(cuts, key=lambda i: abs(i - len(text) / 2))
            return text[:middle].strip(), text[middle:].strip()
    return None


# ---------------------------------------------------------------------------------------
# Speakers


def _read_speaker_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BackendError(f"chattts-local: speaker file {path} cannot be read: "
                           f"{exc.strerror or exc}") from None


def resolve_speaker(spec: str, sample, decode) -> tuple[str, str | None]:
    """The speaker embedding string for `spec`, and a note when one was made and saved.

    `sample(seed)` draws a speaker (seed None: a fresh random one); `decode(embedding)` raises
    on a malformed embedding string."""
    spec = spec.strip()
    note = None
    if spec.startswith("seed:"):
        try:
            seed = int(spec[5:])
        except ValueError:
            raise BackendError(f"chattts-local: speaker {spec!r}: the seed must be a whole "
                               "number, like seed:2222") from None
        embedding = sample(seed)
    elif spec.startswith("file:"):
        embedding = _read_speaker_file(Path(spec[5:]).expanduser())
    elif spec.startswith("random:"):
        path = Path(spec[7:]).expanduser()
        if path.exists():
            embedding = _read_speaker_file(path)
        else:
            embedding = sample(None)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, embedding + "\n")
            except OSError as exc:
                raise BackendError(f"chattts-local: cannot save the new speaker to {path}: "
                                   f"{exc.strerror or exc}") from None
            note = f"sampled a new ChatTTS speaker and saved it to {path} (reused from now on)"
    elif len(spec) > 32 and ":" not in spec and "/" not in spec:
        embedding = spec
    else:
        raise BackendError(
            f"chattts-local: speaker {spec!r} not understood",
            hint="give seed:N, file:PATH, random:PATH or an embedding string")
    try:
        decode(embedding)
    except Exception:
        raise BackendError(f"chattts-local: speaker {spec[:40]!r} is not a ChatTTS speaker "
                           "embedding (a string saved from sample_random_speaker)") from None
    return embedding, note


# ---------------------------------------------------------------------------------------
# Model folder checks


def check_model_dir(folder: Path, expected: Mapping[str, str] | None) -> None:
    """Raise a BackendError naming every missing file, or (with `expected`, ChatTTS's own
    SHA-256 map) every file that differs from the released weights."""
    if not folder.is_dir():
        raise BackendError(
            f"chattts-local: model folder {folder} does not exist",
            hint=f"`voxline models pull chattts --dir {folder}` downloads ChatTTS's weights "
                 "there; or give the folder that holds asset/ with --model-dir or "
                 "[backends.chattts-local] model_dir")
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise BackendError(
            f"chattts-local: model folder {folder} is incomplete: missing "
            f"{', '.join(missing)}",
            hint=f"it must hold {', '.join(ASSET_FILES)}")
    if expected is None:
        return
    differ = [name for name in ASSET_FILES
              if _sha256(folder / name) != expected.get(_hash_key(name))]
    if len(differ) == len(ASSET_FILES):
        raise BackendError(
            f"chattts-local: none of the files in {folder} match the released ChatTTS "
            "weights the installed ChatTTS library checks against",
            hint="for fine-tuned weights, or another revision of 2Noise/ChatTTS, set "
                 "check_hashes = false under [backends.chattts-local]")
    if differ:
        raise BackendError(
            f"chattts-local: {', '.join(differ)} in {folder} differ from the released "
            "ChatTTS weights (an interrupted download, or another revision of "
            "2Noise/ChatTTS?)",
            hint="`voxline models pull chattts` downloads and checks them; for fine-tuned "
                 "weights or another revision set check_hashes = false under "
                 "[backends.chattts-local]")


def _hash_key(name: str) -> str:
    return "sha256_" + name.replace("/", "_").replace(".", "_")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class _TruncationLog(logging.Handler):
    """Counts ChatTTS's "hit max_new_token" log lines: a batch where one came has at least
    one item that did not finish."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.hits = 0
        self.dropped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "max_new_token" in message:
            self.hits += 1
        elif "invalid characters" in message:
            self.dropped.append(message)


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    known = {"model_dir", "speaker", "seed", "device", "gpu_memory_threshold", "temperature",
             "top_p", "top_k", "check_hashes", "max_new_token", "compile", "budget_chars",
             "split_on_truncation"}
    unknown = set(options) - known
    if unknown:
        raise BackendError(f"chattts-local: unknown option(s) {', '.join(sorted(unknown))}",
                           hint=f"known: {', '.join(sorted(known))}")
    return dict(options)


class ChatTTSLocal(Backend):
    name = "chattts-local"
    version = "1"
    capabilities = Capabilities(
        sample_rate_hz=SAMPLE_RATE, languages=("zh", "en"),
        voices=(Voice(DEFAULT_SPEAKER, "zh", "ChatTTS seeded speaker 2222"),
                Voice(DEFAULT_SPEAKER, "en", "ChatTTS seeded speaker 2222")),
        controls=frozenset({"rate"}), budget_chars=120, batches=True, thread_safe=True,
        inline_breaks_s=BREAK_TOKEN_MAX_S,
        terms=Terms("ChatTTS code AGPL-3.0+, weights CC BY-NC 4.0",
                    "2Noise's released weights: non-commercial use only", non_commercial=True),
    )
    option_specs = (
        Option("model_dir", str, None, "the folder holding ChatTTS's asset/",
               flag="--model-dir"),
        Option("speaker", str, DEFAULT_SPEAKER, "the voice, as seed:N, file:PATH, an "
               "embedding string, or random:PATH (sampled once, saved there, reused)",
               flag="--speaker"),
        Option("seed", int, 42, "the sampling seed"),
        Option("device", str, "auto", "auto, cpu, cuda, cuda:N"),
        Option("gpu_memory_threshold", float, 0.6, "new work waits above this share", 0, 1),
        Option("temperature", float, 0.3, "sampling temperature", 0, 5),
        Option("top_p", float, 0.7, "nucleus sampling", 0, 1),
        Option("top_k", int, 20, "top-k sampling", 1, 1000),
        Option("check_hashes", bool, True, "check the weights' hashes when loading"),
        Option("max_new_token", int, 2048, "audio tokens per chunk", 1, 100000),
        Option("compile", bool, False, "torch.compile the model"),
        Option("budget_chars", int, 120, "characters per chunk", 1, 10000),
        Option("split_on_truncation", bool, True, "redo a truncated chunk in halves"),
    )
    # where the model runs and how it is checked do not change the sound
    cache_ignore = frozenset({"model_dir", "device", "gpu_memory_threshold", "check_hashes",
                              "compile"})

    @classmethod
    def configured_capabilities(cls, options, capabilities_of):
        from dataclasses import replace

        speaker = str(options.get("speaker") or DEFAULT_SPEAKER)
        return replace(cls.capabilities,
                       voices=(Voice(speaker, "zh"), Voice(speaker, "en")),
                       budget_chars=int(options.get("budget_chars", 120)))

    def __init__(self, options: Mapping[str, Any] | None = None, *, threads: int = 1):
        super().__init__(_options(options or {}), threads=threads)
        self._lock = threading.Lock()
        self._speakers: dict[str, str] = {}
        self._notes: list[str] = []
        self._closed = False
        self._log = _TruncationLog()
        self._load()

    # -- loading ----------------------------------------------------------------------

    def _load(self) -> None:
        folder = self.options.get("model_dir") or os.environ.get("VOXLINE_CHATTTS_MODEL_DIR")
        if not folder:
            pulled = voxline.model_folder("chattts")
            if not pulled.is_dir():
                raise BackendError(
                    "chattts-local needs the folder of ChatTTS's weights, and none was "
                    f"pulled to {pulled}",
                    hint="run `voxline models pull chattts`, or give "
                         "--model-dir DIR (the folder holding asset/), "
                         "[backends.chattts-local] model_dir, or VOXLINE_CHATTTS_MODEL_DIR")
            folder = pulled
        self.model_dir = Path(str(folder)).expanduser()
        try:
            import torch
            import ChatTTS
        except ImportError as exc:
            raise BackendError(
                f"chattts-local needs the ChatTTS library and torch ({exc})",
                hint="pip install 'voxline[chattts]' (see docs/guides/chattts.md)"
            ) from None
        self._torch = torch
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar over voxline's own
        except ImportError:
            pass
        logger = logging.getLogger("voxline.chattts")
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        if self._log not in logger.handlers:
            logger.addHandler(self._log)
        chat = ChatTTS.Chat(logger)
        check = self.options.get("check_hashes", True)
        check_model_dir(self.model_dir, chat.sha256_map if check else None)
        if not check:  # the library checks again against its map: give it these files'
            chat.sha256_map = {_hash_key(n): _sha256(self.model_dir / n) for n in ASSET_FILES}
        self.device, note = self._pick_device()
        if note:
            self._notes.append(note)
        torch.set_num_threads(max(1, self.threads))
        try:
            loaded = chat.load(source="custom", custom_path=str(self.model_dir),
                               device=self.device,
                               compile=bool(self.options.get("compile", False)))
        except Exception as exc:
            raise BackendError(f"chattts-local: the model in {self.model_dir} could not be "
                               f"loaded: {type(exc).__name__}: {exc}") from None
        if not loaded:
            raise BackendError(f"chattts-local: the model in {self.model_dir} could not be "
                               "loaded (ChatTTS's check of its files failed)")
        self.chat = chat
        self._admission = None
        if self.device.type == "cuda":
            self._admission = voxline.GpuAdmission(
                float(self.options.get("gpu_memory_threshold", 0.6)),
                device=self._nvml_index,
                on_state=lambda state: self.host.emit(self.name, state))

    def _pick_device(self):
        """The torch device, and a note for the user when it is not the one they would
        expect (the CPU for want of a usable GPU)."""
        torch = self._torch
        wanted = str(self.options.get("device", "auto"))
        self._nvml_index = None
        if wanted == "cpu":
            return torch.device("cpu"), None
        if not torch.cuda.is_available():
            if wanted.startswith("cuda"):
                raise BackendError(f"chattts-local: device {wanted!r} asked for, but torch "
                                   "sees no CUDA GPU")
            reason = voxline.sample_gpus().reason
            return torch.device("cpu"), (f"chattts-local runs on the CPU ({reason}; torch "
                                         "sees no CUDA GPU): expect it to be slow")
        if wanted.startswith("cuda:"):
            index = int(wanted[5:])
            self._nvml_index = index if not os.environ.get("CUDA_VISIBLE_DEVICES") else None
            return torch.device(wanted), None
        index, free = pick_gpu(torch)
        if free < 2.5 * 2**30:
            return torch.device("cpu"), (f"chattts-local runs on the CPU: the freest GPU has "
                                         f"{free / 2**30:.1f} GiB free, under the 2.5 GiB "
                                         "the model needs")
        self._nvml_index = index if not os.environ.get("CUDA_VISIBLE_DEVICES") else None
        self._free_at_load = free
        return torch.device(f"cuda:{index}"), None

    def preferred_batch_size(self) -> int:
        """On a GPU, as many chunks as half the free memory left after loading holds (a
        chunk's key/value cache at full length is about 260 MB); on the CPU, 16 (`python -m
        benchmarks chattts` on 2 cores: RTF 4.7 one at a time, 2.1 in fours, 1.1 in eights,
        0.81 in sixteens)."""
        if self.device.type != "cuda":
            return 16
        free, _ = self._torch.cuda.mem_get_info(self.device)
        per_chunk = 2 * 20 * 768 * 4 * 2048 * 2  # K and V, 20 layers, fp32, 2048 tokens, x2
        return max(1, min(16, int(free * 0.5 // per_chunk)))

    # -- synthesis --------------------------------------------------------------------

    def _speaker(self, spec: str | None) -> str:
        spec = spec or str(self.options.get("speaker") or DEFAULT_SPEAKER)
        if spec not in self._speakers:
            torch = self._torch
            speaker = self.chat.speaker

            def sample(seed):
                if seed is None:
                    return speaker.sample_random()
                # drawn on the CPU from its own generator: seed:N is the same voice on any
                # device and whatever else used torch's global random state
                noise = torch.randn(speaker.dim, generator=torch.Generator().manual_seed(seed))
                std, mean = speaker.std.float().cpu(), speaker.mean.float().cpu()
                return speaker._encode(noise * std + mean)

            embedding, note = resolve_speaker(spec, sample, speaker._decode)
            if note:
                self._notes.append(note)
            self._speakers[spec] = embedding
        return self._speakers[spec]

    def synthesize(self, request: SynthesisRequest) -> Audio:
        (produced,) = self.synthesize_batch([request])
        if isinstance(produced, BaseException):
            raise produced
        return produced

    def synthesize_batch(self, requests: Sequence[SynthesisRequest]
                         ) -> list[Audio | BackendError]:
        import numpy as np

        prepared = []
        failed: dict[int, BackendError] = {}
        for n, request in enumerate(requests):
            text, dropped = with_breaks(request.text, request.breaks, request.language)
            notes = []
            if dropped:
                notes.append("chattts-local cannot speak "
                             + ", ".join(repr(ch) for ch in dropped) + "; left out")
            if not _TOKENS.sub("", text).strip(" ，。、,."):
                failed[n] = BackendError(
                    f"chattts-local cannot speak any of {request.text!r}",
                    hint="route this text to another backend (--fallback espeak)",
                    reason="unspeakable")
                continue
            prepared.append((request, text, notes))
        if not prepared:
            return [failed[n] for n in range(len(requests))]
        with self._lock:
            if self._closed:
                raise BackendError("chattts-local was closed", reason="closed")
            if self._notes:
                prepared[0][2][:0] = self._notes
                self._notes = []
            results: list[Any] = [None] * len(prepared)
            # one speaker per infer call: group by voice, keep each group's order
            groups: dict[str | None, list[int]] = {}
            for i, (request, _, _) in enumerate(prepared):
                groups.setdefault(request.voice, []).append(i)
            for voice, indices in groups.items():
                items = [(prepared[i][1], prepared[i][0]) for i in indices]
                for i, (samples, splits, cut) in zip(indices,
                                                     self._speak(items, voice, depth=0)):
                    results[i] = (samples, prepared[i][2] + self._truncation_note(splits, cut))
        spoken = iter(Audio(samples.astype(np.float32, copy=False), SAMPLE_RATE, 1,
                            tuple(notes)) for samples, notes in results)
        return [failed[n] if n in failed else next(spoken) for n in range(len(requests))]

    def _infer(self, texts: list[str], budgets: list[int], voice: str | None):
        """One ChatTTS call: the wavs, and for each whether it hit the token limit."""
        chat = self.chat
        limit = max(budgets)
        if self._admission is not None:
            self._admission.wait(lambda: self._closed)
        params = chat.InferCodeParams(
            prompt="", spk_emb=self._speaker(voice),
            temperature=float(self.options.get("temperature", 0.3)),
            top_P=float(self.options.get("top_p", 0.7)),
            top_K=int(self.options.get("top_k", 20)),
            max_new_token=limit, manual_seed=int(self.options.get("seed", 42)),
            show_tqdm=False, ensure_non_empty=False,
        )
        hits = self._log.hits
        try:
            wavs = chat.infer(list(texts), skip_refine_text=True, split_text=False,
                              do_text_normalization=False, do_homophone_replacement=True,
                              params_infer_code=params)
        except Exception as exc:
            if self.device.type == "cuda" and "out of memory" in str(exc).lower():
                self._torch.cuda.empty_cache()
                raise BackendError(f"chattts-local: the GPU ran out of memory on a batch of "
                                   f"{len(texts)}", hint="lower --batch-size",
                                   reason="out of memory", retryable=True) from None
            raise BackendError(f"chattts-local: ChatTTS failed: {type(exc).__name__}: {exc}",
                               reason="error") from None
        finally:
            if self.device.type == "cuda":  # give the cached blocks back: NVML admission
                self._torch.cuda.empty_cache()  # must see what others can really use
        hit = self._log.hits > hits
        # each text against its own budget: in a batch the call runs to the largest, and a
        # text that had not ended by its own was going wrong there already
        out = []
        for wav, budget in zip(wavs, budgets):
            own = SAMPLES_PER_TOKEN * budget
            truncated = len(wav) >= 0.97 * own and (hit or budget < limit)
            out.append((wav[:own], truncated))
        return out

    def _speak(self, items: list[tuple[str, SynthesisRequest]], voice: str | None,
               depth: int) -> list[tuple[Any, int, int]]:
        """For each (text, request): its audio, how many times it was split, and how many of
        its parts still ran to the token limit. A text ChatTTS cut off at its limit is split
        at the mark nearest its middle and the halves spoken (up to MAX_SPLITS deep)."""
        import numpy as np

        limit = int(self.options.get("max_new_token", 2048))
        texts = [speed_token(r.prosody.rate) + text for text, r in items]
        budgets = [token_budget(text, r.language, limit) for text, r in items]
        produced = self._infer(texts, budgets, voice)
        out: list[list[Any]] = [[wav, 0, int(truncated)] for wav, truncated in produced]
        split = []  # (item, its two halves)
        for i, (_, _, truncated) in enumerate(out):
            pieces = (halves(items[i][0]) if truncated and depth < MAX_SPLITS
                      and self.options.get("split_on_truncation", True) else None)
            if pieces is not None:
                split.append((i, pieces))
        if split:
            flat = [(piece, items[i][1]) for i, pieces in split for piece in pieces]
            spoken = self._speak(flat, voice, depth + 1)
            for k, (i, _) in enumerate(split):
                first, second = spoken[2 * k], spoken[2 * k + 1]
                out[i] = [np.concatenate([first[0], second[0]]),
                          first[1] + second[1] + 1, first[2] + second[2]]
        return [(wav, parts, cut) for wav, parts, cut in out]

    @staticmethod
    def _truncation_note(splits: int, cut: int) -> list[str]:
        if not cut and not splits:
            return []
        if not cut:
            return [f"ChatTTS hit its token limit; spoke the chunk again in {splits + 1} parts"]
        again = f" after splitting it into {splits + 1} parts" if splits else ""
        return [f"ChatTTS hit its token limit{again}: {cut} part(s) ran to the limit, so "
                "the audio there may end early or run on"]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.chat = None
        logging.getLogger("voxline.chattts").removeHandler(self._log)


def pick_gpu(torch, sampler=None) -> tuple[int, int]:
    """The CUDA device with the most free memory and its free bytes. Free memory is the
    device-wide figure (NVML, or the driver's own when CUDA_VISIBLE_DEVICES renumbers the
    devices), which counts other processes, not torch's view of its own reservations."""
    if not os.environ.get("CUDA_VISIBLE_DEVICES"):
        report = (sampler or voxline.sample_gpus)()
        frees = [(d.memory_total_bytes - d.memory_used_bytes, d.index) for d in report.devices
                 if d.memory_total_bytes is not None and d.memory_used_bytes is not None
                 and d.index < torch.cuda.device_count()]
        if frees:
            free, index = max(frees)
            return index, free
    frees = [(torch.cuda.mem_get_info(i)[0], i) for i in range(torch.cuda.device_count())]
    free, index = max(frees)
    return index, free


@voxline.hookimpl
def register_backends(register):
    register(ChatTTSLocal)
