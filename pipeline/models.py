"""Small frozen values that cross stage and plugin boundaries.

Units are in the names (`_s`, `_hz`, `_db`). Nothing here imports numpy at module level, so
`import voxline` stays cheap; `Audio.samples` is a numpy array at run time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class InputStatus(StrEnum):
    """What a run does with an input, decided from what the job's manifest recorded of it.
    The values are the words the summary, `--json`, `voxline jobs` and the TUI show (a
    `StrEnum`: each compares equal to its word)."""

    NEW = "new"  # not made before
    CHANGED = "changed"  # the input was edited since the last run
    RESUMED = "resumed"  # the last run stopped part-way: finished chunks come from the cache
    REDONE = "redone"  # settings changed, output missing or altered, or --force
    UP_TO_DATE = "up to date"  # skipped: its output is what these settings would make


@dataclass(frozen=True)
class Prosody:
    """Delivery controls for a stretch of text, relative to the voice's defaults.

    `rate` and `pitch` are multipliers (1.0 = unchanged); `volume_db` is a gain in decibels.
    """

    rate: float = 1.0
    pitch: float = 1.0
    volume_db: float = 0.0

    @property
    def is_neutral(self) -> bool:
        return self.rate == 1.0 and self.pitch == 1.0 and self.volume_db == 0.0


@dataclass(frozen=True)
class Terms:
    """The licence of a voice's model and the terms of the data it learned from, as shown to
    users (`voxline backends`, the voices table in docs/guides/backends.md, a job's summary).

    `non_commercial`: the model or its training data may not be used commercially; a job
    that used such a voice says so once in its summary and `--json`.
    """

    licence: str
    data: str = ""
    non_commercial: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"licence": self.licence, "data": self.data,
                "non_commercial": self.non_commercial}


@dataclass(frozen=True)
class Option:
    """One key a backend takes in its `[backends.NAME]` table: its name, its type (`str`,
    `int`, `float`, `bool`, `list`, `dict`), its default, a line of help, for numbers the
    allowed range (`minimum`/`maximum`, inclusive), and `choices` when only some values are
    allowed. The host checks every configured key against these before a job starts, so a
    typo or a value out of range is an error that names the key, not an option silently
    ignored.

    Every option can be set on the command line as `--option BACKEND.KEY=VALUE`; `flag`
    (such as `"--model-dir"`) also gives it a flag of its own on `voxline synth` and
    `voxline tui`."""

    name: str
    type: type
    default: Any = None
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    flag: str | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this option, or None."""
        kind = self.type
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is list:
            ok = isinstance(value, (list, tuple))
        else:
            ok = isinstance(value, kind)
        if not ok:
            names = {str: "a string", int: "a whole number", float: "a number",
                     bool: "true or false", list: "a list", dict: "a table"}
            return f"must be {names.get(kind, kind.__name__)}"
        if kind is float and not math.isfinite(value):
            return "must be a finite number"
        if kind in (int, float) and (
                (self.minimum is not None and value < self.minimum)
                or (self.maximum is not None and value > self.maximum)):
            if self.minimum is not None and self.maximum is not None:
                return f"must be between {self.minimum:g} and {self.maximum:g}"
            if self.minimum is not None:
                return f"must be at least {self.minimum:g}"
            return f"must be at most {self.maximum:g}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}"
        return None

    def parse(self, text: str) -> Any:
        """The value a command-line `text` gives this option, checked like a configured one;
        a `ValueError` says what is wrong."""
        kind = self.type
        if kind not in (str, int, float, bool, list):
            raise ValueError(f"{self.problem(object())}: set it in the config file")
        try:
            if kind is bool:
                words = {"true": True, "yes": True, "on": True, "1": True,
                         "false": False, "no": False, "off": False, "0": False}
                value = words[text.strip().lower()]
            elif kind is list:
                value = [part.strip() for part in text.split(",") if part.strip()]
            else:
                value = kind(text)
        except (KeyError, ValueError):
            raise ValueError(self.problem(object())) from None  # "must be a number", ...
        problem = self.problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def to_dict(self) -> dict[str, Any]:
        """The option as plain data, for `voxline backends --json`."""
        return {"name": self.name, "type": self.type.__name__, "default": self.default,
                "help": self.help, "minimum": self.minimum, "maximum": self.maximum,
                "choices": list(self.choices), "flag": self.flag}


@dataclass(frozen=True)
class Voice:
    """A voice a backend offers: its name as the backend knows it and the language it speaks.
    `terms`: this voice's licence and data terms, when they differ from the backend's."""

    name: str
    language: str
    description: str = ""
    terms: Terms | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, read by the pipeline without calling the backend.

    - `sample_rate_hz`: the rate of the audio it returns (informational: the pipeline reads the
      rate of each `Audio` it gets back).
    - `languages`: language codes it speaks (`en`, `zh`, `yue`, ...); `voices` lists named voices,
      the first voice of a language being that language's default.
    - `ssml_tags`: SSML elements it accepts in its input; everything else is translated or
      dropped by the pipeline before the backend sees it.
    - `controls`: which of `rate`, `pitch`, `volume` it applies itself; the pipeline translates
      the others (tempo and gain filters) or drops them with a warning.
    - `budget_chars`: the most characters it handles reliably in one call.
    - `batches`: `synthesize_batch` does real batched work; the pipeline then gathers
      concurrent chunks for it into lists (`--batch-size`, else the backend's preference).
    - `thread_safe`: one instance may serve several workers at once; otherwise the pipeline
      makes one instance per worker.
    - `max_workers`: a cap on concurrent calls (None: the job's `--workers`).
    - `network`: it talks to a server. Such backends are used only when asked for (by
      `--backend`, `--voice`, `[routes]` or SSML), never picked on their own.
    - `deterministic`: the same request always gives the same audio, so retrying a request
      whose audio was too short cannot help.
    - `inline_breaks_s`: SSML `<break>`s up to this long stay inside a chunk and reach the
      backend as `SynthesisRequest.breaks`, for engines whose own pause tokens flow better
      than a cut and inserted silence (ChatTTS's `[uv_break]`). Longer pauses, paragraph
      ends and chunk boundaries are always exact inserted silence. 0: never.
    - `scripts`: the writing systems it can read (`"Han"`, `"Latin"`); empty means any. A
      sentence routed to it with words in another script (Latin words in Chinese text) has
      those words spoken by the default voice of a language written in that script, spliced
      in without a pause.
    - `terms`: the licence and data terms of its voices (a `Voice` may carry its own).
    - `phoneme_alphabets`: the phoneme alphabets it reads (`"ipa"`, `"pinyin"`; see
      `PhonemeSpan`). Requests to it carry the lexicon's and SSML `<phoneme>`'s phonemes in
      those alphabets as `SynthesisRequest.phonemes`; a backend that lists none gets the
      replacement text alone.
    """

    sample_rate_hz: int
    languages: tuple[str, ...]
    voices: tuple[Voice, ...] = ()
    ssml_tags: frozenset[str] = frozenset()
    controls: frozenset[str] = frozenset()
    budget_chars: int = 300
    streams: bool = False
    batches: bool = False
    needs_gpu: bool = False
    thread_safe: bool = False
    max_workers: int | None = None
    network: bool = False
    deterministic: bool = False
    inline_breaks_s: float = 0.0
    scripts: frozenset[str] = frozenset()
    terms: Terms | None = None
    phoneme_alphabets: frozenset[str] = frozenset()

    def reads(self, script: str) -> bool:
        return not self.scripts or script in self.scripts

    def terms_of(self, voice: str | None) -> Terms | None:
        """The terms of `voice` (the backend's own when the voice has none of its own)."""
        for v in self.voices:
            if v.name == voice and v.terms is not None:
                return v.terms
        return self.terms

    def default_voice(self, language: str) -> str | None:
        for voice in self.voices:
            if voice.language == language:
                return voice.name
        return None


@dataclass(frozen=True)
class Health:
    """A backend's answer to a health check: whether it can synthesize now, a one-line
    `detail` for people, what the server reported (`info`, e.g. `gpu_mem_percent`) and how
    long the check took."""

    ok: bool
    detail: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    latency_s: float | None = None


@dataclass(frozen=True, eq=False)
class Audio:
    """PCM samples with their rate and channel count.

    `samples` is a numpy array of int16 or float32 (in [-1, 1]), shape (frames,) for mono or
    (frames, channels). `notes` are what the backend had to change to produce it (characters
    it cannot speak left out, a chunk split after a truncation, a CPU fallback); the pipeline
    reports each as a warning on the chunk's document.
    """

    samples: "np.ndarray"
    sample_rate_hz: int
    channels: int = 1
    notes: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz if self.sample_rate_hz else 0.0


@dataclass(frozen=True)
class PhonemeSpan:
    """How to pronounce `text[start:end]` of a request, sentence or chunk: `phonemes` in
    `alphabet` (`"ipa"`: the International Phonetic Alphabet, as eSpeak NG and Piper write
    it, e.g. `wˈɪn`; `"pinyin"`: one Mandarin syllable with its tone digit per Han character,
    space-separated, e.g. `chong2 qing4`). The text in the span is what a backend that
    cannot read the alphabet speaks instead (the lexicon's replacement text)."""

    start: int
    end: int
    alphabet: str
    phonemes: str

    def shifted(self, by: int) -> "PhonemeSpan":
        return PhonemeSpan(self.start + by, self.end + by, self.alphabet, self.phonemes)


@dataclass(frozen=True)
class SynthesisRequest:
    """What a backend is asked to speak. `breaks` are short pauses inside the text, as
    (character offset into `text`, seconds), for backends that take them (`inline_breaks_s`).
    `phonemes` are pronunciations of stretches of `text` in the alphabets the backend lists
    in `Capabilities.phoneme_alphabets` (none for a backend that lists none), in order."""

    text: str
    language: str
    voice: str | None = None
    prosody: Prosody = field(default_factory=Prosody)
    breaks: tuple[tuple[int, float], ...] = ()
    phonemes: tuple[PhonemeSpan, ...] = ()


@dataclass(frozen=True)
class Document:
    """One input: where it came from, its text, and what is known about it."""

    source: str
    name: str
    text: str
    is_ssml: bool = False
    language: str | None = None


@dataclass(frozen=True)
class Sentence:
    """A sentence after SSML cleaning and normalization.

    `text` is what will be spoken; `source_text` and `span` (character offsets into the
    document's text) are what was written. `continues`: the next sentence is the rest of this
    one in another voice (a Latin word inside Chinese text), joined without a pause.
    `phonemes`: pronunciations of parts of `text` (the lexicon, SSML `<phoneme>`).
    """

    text: str
    source_text: str
    span: tuple[int, int]
    language: str
    voice: str | None = None
    backend: str | None = None
    prosody: Prosody = field(default_factory=Prosody)
    pause_after_s: float = 0.0
    continues: bool = False
    phonemes: tuple[PhonemeSpan, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """One call to a backend: sentences merged up to the backend's budget."""

    index: int
    text: str
    language: str
    backend: str
    voice: str | None
    prosody: Prosody
    pause_after_s: float
    span: tuple[int, int]
    source_text: str
    breaks: tuple[tuple[int, float], ...] = ()  # pauses kept inside: (offset in text, s)
    # the next chunk is the rest of this sentence in another voice: spliced on with no pause,
    # one subtitle cue for both
    continues: bool = False
    phonemes: tuple[PhonemeSpan, ...] = ()  # pronunciations of parts of `text`

    def request(self, prosody: Prosody | None = None) -> SynthesisRequest:
        """This chunk as a backend request, with `prosody` in place of the chunk's own (the
        part of it the backend applies itself) when given."""
        return SynthesisRequest(self.text, self.language, self.voice,
                                self.prosody if prosody is None else prosody, self.breaks,
                                self.phonemes)

    def phonemes_for(self, capabilities: Capabilities) -> tuple[PhonemeSpan, ...]:
        """The chunk's phonemes in the alphabets a backend with `capabilities` reads."""
        return tuple(p for p in self.phonemes
                     if p.alphabet in capabilities.phoneme_alphabets)
