"""`voxline synth`: text files in, speech files out."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from voxline import InputStatus
from voxline.display import printable

from .options import (backend_overrides, metrics_options, read_options, reading_options,
                      settings_overrides, synthesis_options, tag_options)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output folder, or an output file when there is one input.")
@click.option("-r", "--recursive", is_flag=True, help="Scan folders recursively.")
@synthesis_options
@reading_options
@tag_options
@metrics_options
@click.option("--json", "as_json", is_flag=True, help="Print the job summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--dry-run", is_flag=True,
              help="Read, normalize and segment only: print chunk counts, estimated audio "
                   "duration and cache hits; synthesize and write nothing.")
@click.option("--force", is_flag=True,
              help="Redo inputs whose output is up to date (chunks still come from the "
                   "cache; --no-cache to resynthesize them too).")
@click.option("--chapters", is_flag=True,
              help="Make one audiobook (-o BOOK.m4b or BOOK.mp3) with a chapter per input "
                   "file, or per chapter of a book (EPUB, ...) or Markdown heading (# Title) "
                   "of a single input.")
@click.option("--tui", is_flag=True,
              help="Run the job in the terminal UI (the same as `voxline tui`).")
def synth(paths, output, recursive, as_json, quiet, config, dry_run, force, metrics_port,
          metrics_textfile, tui, chapters, **options):
    """Synthesize PATHS (files: text, SSML, EPUB, HTML, Markdown, DOCX, PDF; folders
    scanned for *.txt and *.ssml; - for stdin)."""
    from voxline.books import remove_work

    planned = plan_job(paths, output, recursive, config,
                       {**options, "dry_run_listing": dry_run}, chapters=chapters)
    try:
        return _synth(planned, as_json, quiet, dry_run, force, metrics_port, metrics_textfile,
                      tui, chapters)
    finally:
        remove_work(planned.work)


def _synth(planned, as_json, quiet, dry_run, force, metrics_port, metrics_textfile, tui,
           chapters):
    from voxline.job import Job, Pipeline

    for note in planned.notes:
        if not quiet:
            click.echo(f"voxline: warning: {note}", err=True)
    pm, registry, settings, specs = planned.pm, planned.registry, planned.settings, planned.specs
    streaming = planned.streaming
    if tui and streaming:
        from voxline.errors import UsageError

        raise UsageError("-o - streams the audio to standard output; the terminal UI needs "
                         "an output file or folder")
    if tui and chapters:
        from voxline.errors import UsageError

        raise UsageError("--chapters runs in `voxline synth`, not in the terminal UI")
    if tui and not dry_run:
        from voxline.tui.app import run_app

        return run_app(planned, force=force, metrics_port=metrics_port,
                       metrics_textfile=metrics_textfile)
    if not dry_run:
        planned.check_writable()
    if dry_run:
        from voxline.plan import dry_run as plan

        data = plan(Pipeline(pm, registry, settings, force=force), Job(specs, settings))
        if planned.listing is not None:
            data["chapters"] = planned.listing
        click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json
                   else printable("\n".join(filter(None, [
                       planned.listing and _chapters_summary(planned.listing),
                       plan_summary(data)]))))
        return data["exit_code"]
    display = None
    if not quiet:
        from .progress import ProgressDisplay

        display = ProgressDisplay(len(specs))
        pm.register(display, name="voxline.cli.progress")
    try:
        with metrics_export(pm, metrics_port, metrics_textfile, quiet):
            report = Pipeline(pm, registry, settings, force=force).run(Job(specs, settings))
        if planned.book is not None:
            book = finish_book(planned, report)
    finally:
        if display is not None:
            pm.unregister(display)
    from voxline.redact import redact

    # with -o -, standard output is the audio: the summary goes to standard error
    data = redact(report.to_dict())
    data["config"] = settings.config_file  # every config file read is shown
    if planned.book is not None:
        data["book"] = book
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2), err=streaming)
    else:
        click.echo(printable(redact(summary(report))), err=streaming)
        if settings.config_file:
            click.echo(printable(f"config: {settings.config_file}"), err=streaming)
        if planned.book is not None:
            click.echo(printable(book_summary(book)))
    return max(report.exit_code, book.get("exit_code", 0)) if planned.book is not None \
        else report.exit_code


def _chapters_summary(listing: dict) -> str:
    from .chapters_cmd import chapters_summary

    return chapters_summary(listing)


def finish_book(planned: "JobSetup", report) -> dict:
    """After a --chapters job: the book assembled from its chapters when all are done, its
    table of contents recorded in the job's manifest; else why not."""
    from voxline import audio as audio_mod
    from voxline import manifest as manifest_mod
    from voxline.chapters import assemble
    from voxline.errors import VoxlineError

    book, settings = planned.book, planned.book_settings
    if not all(doc.ok for doc in report.documents) or report.interrupted:
        return {"output": None, "exit_code": report.exit_code,
                "error": f"{book.output} not written: not every chapter is done (they are "
                         f"kept in {book.work}; run the same command again to go on)"}
    try:
        result = assemble(book, audio_mod.FORMATS[settings.format], settings.sample_rate_hz,
                          settings.chapter_pause_s, audio_mod.loudness_target(settings),
                          settings.subtitles)
    except VoxlineError as exc:
        return {"output": None, "exit_code": exc.exit_code, "error": str(exc)}
    log = manifest_mod.Manifest()
    try:
        log.book_written(report.job_id, result["output"], result["chapters"],
                         result["audio_s"])
    finally:
        log.close()
    for doc in report.documents:  # each chapter's audio is now in the book
        doc.output, doc.subtitles = result["output"], None
    return {**result, "exit_code": 0}


def book_summary(book: dict) -> str:
    if not book.get("output"):
        return f"book: {book['error']}"
    lines = [f"book: {book['output']} ({len(book['chapters'])} chapters, "
             f"{_duration(book['audio_s'])})"]
    for entry in book["chapters"]:
        start = round(entry["start_s"])
        lines.append(f"  {start // 3600}:{start % 3600 // 60:02d}:{start % 60:02d}  "
                     f"{entry['title']}")
    if book.get("loudness"):
        lines.append(loudness_line(book["output"], book["loudness"]))
    if book.get("subtitles"):
        lines.append(f"subtitles: {book['subtitles']}")
    return "\n".join(lines)


@dataclass
class JobSetup:
    """A job's settings and inputs as the command line gives them, checked, with the plugin
    manager and registry that will run it."""

    pm: object
    registry: object
    settings: object
    specs: list
    output: Path
    single_file: bool
    book: object = None           # --chapters: the chapters.Book being made
    book_settings: object = None  # --chapters: the settings the book is assembled with
    work: list = field(default_factory=list)   # folders of read books' text, removed after
    notes: list = field(default_factory=list)  # readers' warnings
    listing: dict | None = None   # the chapters of read books, for --dry-run

    @property
    def streaming(self) -> bool:
        """`-o -`: the one output streams to standard output."""
        return str(self.output) == "-"

    def check_writable(self) -> None:
        """An output folder that cannot be written fails before any work."""
        from voxline.audio import check_writable

        if self.streaming:
            return
        for folder in sorted({spec.output.parent for spec in self.specs}):
            check_writable(folder)


def plan_job(paths, output, recursive: bool, config, options: dict,
             chapters: bool = False) -> JobSetup:
    """What `synth` (and the TUI) do before any work: settings from the config, environment
    and `options` (synthesis_options' parameters), the inputs found and where each output
    goes, and the backend names checked. Raises a VoxlineError a user can act on."""
    from voxline.audio import FORMATS
    from voxline.errors import UsageError
    from voxline.job import output_specs
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import load_settings
    from voxline.textio import find_inputs

    options = dict(options)
    out = Path(output)
    suffix_format = next((f for f in FORMATS.values() if out.suffix.lower() == f.extension), None)
    if (suffix_format is None and str(output) != "-" and _looks_like_extension(out.suffix)
            and not out.is_dir() and not str(output).endswith(("/", os.sep))):
        raise UsageError(
            f"-o {output}: unknown output extension {out.suffix!r} (known: "
            f"{', '.join(f.extension for f in FORMATS.values())})",
            hint=f"for a folder of that name, end it with a slash: -o {output}/")
    if options.get("fmt") is None and suffix_format is not None:
        options["fmt"] = suffix_format.name
    pm = get_plugin_manager()
    registry = build_registry(pm)
    settings = load_settings(config, settings_overrides(options),
                             backend_overrides=backend_overrides(options, registry))
    book = book_settings = None  # --chapters
    if options.get("peak") is not None and settings.loudness_lufs is None:
        raise UsageError("--peak is the true-peak ceiling of --loudness; give --loudness too "
                         "(e.g. --loudness -16 --peak -1)")
    inputs = find_inputs(list(paths), recursive=recursive)
    if not inputs:
        raise UsageError(f"no .txt or .ssml files found in {', '.join(map(str, paths))}"
                         + ("" if recursive else " (use -r to scan subfolders)"))
    from voxline.books import reader_for

    reading = read_options(options)
    overrides = {key: options.get(key) for key in ("title", "author", "narrator", "cover")}
    read_inputs = [(s, r) for s, r in inputs if reader_for(s, registry) is not None]
    work, notes, listing = [], [], None
    if options.get("pick") and not (read_inputs or chapters):
        raise UsageError("--pick chooses chapters of a book (EPUB, HTML, Markdown, DOCX, "
                         "PDF) or of --chapters")
    if options.get("dry_run_listing") and (read_inputs or chapters):
        from voxline.chapters import chapter_listing

        listing = chapter_listing(inputs, registry, settings, reading, options.get("pick"))
    if str(output) == "-" and read_inputs:
        raise UsageError(f"{read_inputs[0][0]}: a book or document is not streamed to standard "
                         "output; give an output file or folder")
    if str(output) == "-":
        from voxline.audio import STDOUT, STREAMABLE
        from voxline.job import InputSpec

        if chapters:
            raise UsageError("--chapters makes one seekable audiobook file; give -o BOOK.m4b")
        if len(inputs) != 1:
            raise UsageError(f"-o - streams one input to standard output; {len(inputs)} "
                             "were given (give an output folder for several)")
        if settings.format not in STREAMABLE:
            raise UsageError(f"{settings.format} cannot be streamed (it needs a seekable "
                             f"file); with -o - use {', '.join(STREAMABLE)}")
        if settings.subtitles is not None:
            raise UsageError("--subtitles are written beside the audio file; with -o - "
                             "there is none (give an output file)")
        if settings.loudness_lufs is not None:
            raise UsageError("--loudness measures the whole audio before it writes any, so "
                             "it cannot stream to standard output; give an output file")
        specs, single = [InputSpec(inputs[0][0], STDOUT)], True
        if not settings.first_chunk_chars:  # a short first chunk: audio starts sooner
            from dataclasses import replace

            from voxline.settings import STREAM_FIRST_CHUNK_CHARS

            settings = replace(settings, first_chunk_chars=STREAM_FIRST_CHUNK_CHARS)
    elif chapters:
        from dataclasses import replace

        from voxline.chapters import BOOK_FORMATS, plan_book
        from voxline.job import InputSpec

        if settings.format not in BOOK_FORMATS:
            raise UsageError(f"--chapters makes an m4b, mp3 or m4a file, not {settings.format}"
                             " (give -o BOOK.m4b)")
        book, book_settings = plan_book(inputs, out, registry, reading, options.get("pick"),
                                        overrides, _narrator(settings, registry)), settings
        specs, single = [InputSpec(ch.text, ch.audio) for ch in book.chapters], True
        # the chapters are WAVs in the work folder; format and loudness apply to the book,
        # the lexicons beside the book's files to its chapters
        from voxline.lexicon import beside

        settings = replace(settings, format="wav", loudness_lufs=None, lexicon=(
            *settings.lexicon, *(str(p) for source, _ in inputs for p in beside(source))))
    else:
        single = suffix_format is not None and not out.is_dir()
        if single and len(inputs) > 1:
            raise UsageError(f"{output} names one file but there are {len(inputs)} inputs; "
                             "give a folder")
        text_inputs = [(s, r) for s, r in inputs if (s, r) not in read_inputs]
        specs = output_specs(text_inputs, out, FORMATS[settings.format], single)
        if read_inputs:
            from voxline.books import read_output_specs

            read = read_output_specs(read_inputs, out, FORMATS[settings.format], single,
                                     registry, reading, options.get("pick"), overrides,
                                     _narrator(settings, registry))
            work, notes = read.work, read.notes
            taken = {spec.output for spec in specs}
            for spec in read.specs:
                if spec.output in taken:
                    raise UsageError(f"two inputs would both be written to {spec.output}")
                taken.add(spec.output)
            specs += read.specs
    check_lexicons(settings, specs)
    registry.check_options(settings.backends)
    check_backends(registry, settings)
    if settings.verify:
        from voxline.verify import check_available

        check_available(settings.verify_model)
    return JobSetup(pm, registry, settings, specs, out, single, book, book_settings,
                      work, notes, listing)


def _narrator(settings, registry):
    """The narrator tag of a book in a language: the voice that will read it."""
    def narrator(language: str | None) -> str:
        from voxline.errors import VoxlineError
        from voxline.prepare import route

        try:
            backend, voice = route(language or "en", None, settings, registry)
        except VoxlineError:
            return ""
        return f"{voice} ({backend})" if voice else backend

    return narrator


def _looks_like_extension(suffix: str) -> bool:
    """`.xyz`, `.mp4`: what ends a file name, not a folder's `.d` or a version's `.2`."""
    import re

    return re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{1,4}", suffix) is not None


def check_lexicons(settings, specs) -> None:
    """Every lexicon the inputs use can be read: a bad entry fails before any work."""
    from voxline import lexicon

    for files in {tuple(lexicon.files_for(settings.lexicon, spec.source)) for spec in specs}:
        lexicon.load(files)


def check_backends(registry, settings) -> None:
    """Every backend the settings name exists: an unknown name fails before any work."""
    speakers = (voice.partition(":")[0] for voice in settings.speakers.values() if ":" in voice)
    degrade = (settings.degrade_to or "").partition(":")[0]
    for name in filter(None, (settings.backend, *settings.fallback, *speakers, degrade)):
        registry.backend(name)
    dialect = settings.dialect
    if not dialect:
        return
    from voxline.errors import BackendError

    registry.configure(settings.backends)
    if dialect in settings.routes:
        target = settings.routes[dialect].partition(":")[0]
        if target in registry.backends and not registry.speaks(target, dialect):
            raise BackendError(
                f"--dialect {dialect}: [routes] sends it to {target}, which does not list "
                f"{dialect!r} among its languages",
                hint=f"if that deployment serves it, add {dialect!r} to languages in "
                     f"[backends.{target}]")
    elif not any(registry.speaks(name, dialect) for name in registry.backends):
        spoken = sorted({lang for name in registry.backends
                         for lang in registry.capabilities(name).languages})
        raise BackendError(
            f"--dialect {dialect}: no installed backend speaks {dialect!r}",
            hint=f"installed backends speak {', '.join(spoken)}; a server that serves it can "
                 f"be routed with [routes] {dialect} = \"BACKEND:VOICE\"")


def metrics_export(pm, port, textfile, quiet: bool):
    """The `--metrics-*` options' export around a job, or nothing when neither is given."""
    import contextlib

    if port is None and textfile is None:
        return contextlib.nullcontext()
    from voxline.metrics import MetricsExport

    export = MetricsExport(pm, port, textfile)
    if export.server is not None and not quiet:
        click.echo(f"metrics: {export.server.url}", err=True)
    return export


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def plan_summary(data: dict) -> str:
    """What `synth --dry-run` prints."""
    lines = []
    for doc in data["documents"]:
        if doc["error"]:
            lines.append(f"  FAIL {doc['error']}")
            continue
        lines.append(f"  {doc['source']} → {doc['output']}: {doc['chunks']} chunks, "
                     f"~{_duration(doc['audio_s'])} audio, {doc['cached']} in cache"
                     + ("" if doc["status"] == InputStatus.NEW else f" ({doc['status']})"))
    lines.append(
        f"dry run: {data['files']} files, {data['chunks']} chunks, ~{_duration(data['audio_s'])}"
        f" of audio (estimated), {data['cached']} chunks in cache, {data['to_synthesize']} to "
        f"synthesize" + (f", {data['failed']} failed" if data["failed"] else "")
        + f" · planned in {data['wall_s']:.2f}s")
    return "\n".join(lines)


def summary(report) -> str:
    """The human summary printed at the end of a job."""
    data = report.to_dict()
    if data["up_to_date"] == data["files"] and not report.interrupted:
        return (f"nothing to do: {data['files']} files up to date "
                "(--force to redo them, from the cache)")
    rtf = "n/a" if report.rtf is None else f"{report.rtf:.3f}"
    lines = [
        f"{data['written']}/{data['files']} files written"
        + (f", {data['up_to_date']} up to date" if data["up_to_date"] else "")
        + (f", {data['failed']} failed" if data["failed"] else "")
        + (" (cancelled; run the same command again to resume)" if report.cancelled
           else " (interrupted)" if report.interrupted else ""),
        f"audio {report.audio_s:.1f}s · wall {report.wall_s:.2f}s · real-time factor {rtf}"
        f" · {report.workers} workers",
        "stage time (s): " + "  ".join(
            f"{stage} {seconds:.2f}" for stage, seconds in report.stage_s.items()),
    ]
    lines.extend(synthesis_summary(data))
    for doc in report.documents:
        if doc.ok and doc.loudness:
            lines.append(loudness_line(doc.output, doc.loudness))
        if doc.ok and doc.subtitles:
            lines.append(f"subtitles: {doc.subtitles} ({doc.cues} cues)")
        if not doc.ok:
            lines.append(f"failed: {doc.error}")
    return "\n".join(lines)


def loudness_line(output: str, loudness: dict) -> str:
    def lufs(value):
        return "silence" if value is None else f"{value:.1f} LUFS"

    if loudness["mode"] == "skipped":
        return f"loudness: {output}: silence, left as it is"
    peak = loudness["output_true_peak_dbtp"]
    return (f"loudness: {output}: {lufs(loudness['output_lufs'])}"
            + (f", true peak {peak:.1f} dBTP" if peak is not None else "")
            + f" (was {lufs(loudness['input_lufs'])}; {loudness['mode']})")


def synthesis_summary(data: dict) -> list[str]:
    """Which backends served the chunks, and the retries and fallbacks on the way."""
    lines = []
    executor = data.get("executor") or {}
    if executor.get("kind") == "ray":  # which node served what
        nodes = " · ".join(f"{node[:8]} {chunks} chunks"
                           for node, chunks in sorted(executor["nodes"].items()))
        lines.append(f"ray at {executor['address']}: {nodes or 'no chunks'}"
                     + (f" ({executor['lost']} lost with their actor, run again)"
                        if executor["lost"] else ""))
    served = {name: b for name, b in data.get("backends", {}).items() if b["requests"]}
    if served and (len(served) > 1 or data["retries"] or data["fallbacks"]
                   or any(b["failures"] for b in served.values())):
        lines.append("backends: " + " · ".join(
            f"{name} {b['chunks']} chunks" + (f" ({b['retries']} retries)" if b["retries"]
                                              else "")
            for name, b in served.items()))
        for name, b in served.items():
            if b["failures"]:
                lines.append(f"  {name} failed attempts: " + ", ".join(
                    f"{reason} {n}" for reason, n in sorted(b["failures"].items())))
    for name, router in data.get("routers", {}).items():
        lines.append(f"router {name}: {router['switches']} switches, last on {router['choice']}"
                     f" ({router['why']})")
    if data.get("fallbacks"):
        lines.append(f"fallbacks: {data['fallbacks']} chunks: " + ", ".join(
            f"{f['from']} → {f['to']} ({f['reason']}) {f['chunks']}"
            for f in data["fallback_reasons"]))
    cache = data.get("cache")
    if cache and cache.get("down"):
        lines.append(f"cache: {cache['store']} unreachable ({cache['down']}); "
                     f"{cache['hits']} chunks came from it before that")
    elif cache and (cache["hits"] or cache["corrupt"] or cache["errors"]):
        total = cache["hits"] + cache["misses"] - cache["corrupt"]
        lines.append(f"cache: {cache['hits']} of {total} chunks from {cache['store']}"
                     + (f", {cache['corrupt']} damaged entries redone" if cache["corrupt"]
                        else "")
                     + (f", {cache['errors']} could not be stored" if cache["errors"] else ""))
    for switch in data.get("adaptive", []):
        lines.append(f"adaptive: {switch['backend']} at real-time factor {switch['rtf']} > "
                     f"{switch['limit']} after chunk {switch['after_chunk']} of "
                     f"{switch['source']}: {switch['chunks']} chunks went to {switch['to']}")
    for terms in data.get("terms", []):
        if terms["non_commercial"]:  # said once a job, whatever the number of chunks
            lines.append(f"terms: {terms['voice']} ({terms['chunks']} chunks), not for "
                         f"commercial use: {terms['data'] or terms['licence']}")
    lines.extend(verify_summary(data))
    for q in data.get("quality_warnings", []):
        lines.append(f"quality: {q['source']}: chunk {q['chunk']} from {q['backend']}: "
                     f"{q['detail']}")
    return lines


def verify_summary(data: dict) -> list[str]:
    """--verify: error rates per backend, and each chunk redone after the recognizer turned
    its audio down."""
    lines = []
    if data.get("verify"):
        lines.append("verify: " + " · ".join(
            f"{name} {v['chunks']} chunks, error rate mean {v['mean_error_rate']:.2f} max "
            f"{v['max_error_rate']:.2f}" + (f", {v['rejected']} rejected" if v["rejected"]
                                             else "")
            for name, v in data["verify"].items()))
    for doc in data.get("documents", []):
        for entry in doc.get("verify", []):
            if entry["rejected"]:
                tried = ", ".join(f"{r['backend']} {r['error_rate']:.2f}"
                                  for r in entry["rejected"])
                lines.append(f"  {doc['source']}: chunk {entry['chunk']}: rejected {tried}; "
                             f"kept {entry['backend']} {entry['error_rate']:.2f}")
    return lines
