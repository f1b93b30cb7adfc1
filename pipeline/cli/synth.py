"""`voxline synth`: text files in, speech files out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import settings_overrides, synthesis_options


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output folder, or an output file when there is one input.")
@click.option("-r", "--recursive", is_flag=True, help="Scan folders recursively.")
@synthesis_options
@click.option("--json", "as_json", is_flag=True, help="Print the job summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def synth(paths, output, recursive, backend, voice, lang, workers, sample_rate, fmt, config,
          as_json, quiet):
    """Synthesize PATHS (files; folders scanned for *.txt and *.ssml; - for stdin)."""
    from voxline.audio import FORMATS
    from voxline.errors import UsageError
    from voxline.job import Job, Pipeline, plan_outputs
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import load_settings
    from voxline.textio import find_inputs

    out = Path(output)
    suffix_format = next((f for f in FORMATS.values() if out.suffix.lower() == f.extension), None)
    if fmt is None and suffix_format is not None:
        fmt = suffix_format.name
    settings = load_settings(config, settings_overrides(backend, voice, lang, workers,
                                                        sample_rate, fmt))
    inputs = find_inputs(list(paths), recursive=recursive)
    if not inputs:
        raise UsageError(f"no .txt or .ssml files found in {', '.join(paths)}"
                         + ("" if recursive else " (use -r to scan subfolders)"))
    single = suffix_format is not None and not out.is_dir()
    if single and len(inputs) > 1:
        raise UsageError(f"{output} names one file but there are {len(inputs)} inputs; "
                         "give a folder")
    specs = plan_outputs(inputs, out, FORMATS[settings.format], single)

    pm = get_plugin_manager()
    registry = build_registry(pm)
    if settings.backend is not None:
        registry.backend(settings.backend)  # an unknown name fails before any work
    display = None
    if not quiet:
        from .progress import ProgressDisplay

        display = ProgressDisplay(len(specs))
        pm.register(display, name="voxline.cli.progress")
    try:
        report = Pipeline(pm, registry, settings).run(Job(specs, settings))
    finally:
        if display is not None:
            pm.unregister(display)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(summary(report))
    return report.exit_code


def summary(report) -> str:
    """The human summary printed at the end of a job."""
    data = report.to_dict()
    rtf = "n/a" if report.rtf is None else f"{report.rtf:.3f}"
    lines = [
        f"{data['written']}/{data['files']} files written"
        + (f", {data['failed']} failed" if data["failed"] else "")
        + (" (interrupted)" if report.interrupted else ""),
        f"audio {report.audio_s:.1f}s · wall {report.wall_s:.2f}s · real-time factor {rtf}"
        f" · {report.workers} workers",
        "stage time (s): " + "  ".join(
            f"{stage} {seconds:.2f}" for stage, seconds in report.stage_s.items()),
    ]
    for doc in report.documents:
        if not doc.ok:
            lines.append(f"failed: {doc.error}")
    return "\n".join(lines)
