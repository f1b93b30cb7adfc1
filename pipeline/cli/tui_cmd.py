"""`voxline tui`: the terminal UI for long jobs."""

from __future__ import annotations

import click

from .options import metrics_options, synthesis_options


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-o", "--output", type=click.Path(),
              help="Output folder, or an output file when there is one input "
                   "(needed with PATHS; without PATHS the queue screen asks).")
@click.option("-r", "--recursive", is_flag=True, help="Scan folders recursively.")
@synthesis_options
@metrics_options
@click.option("--force", is_flag=True,
              help="Redo inputs whose output is up to date (chunks still come from the cache).")
@click.option("--exit-when-done", is_flag=True,
              help="Quit when the job ends, with its exit code (for scripts and benchmarks).")
def tui(paths, output, recursive, config, force, metrics_port, metrics_textfile,
        exit_when_done, **options):
    """Run a job in a full-screen terminal app: progress per document, per-stage timing,
    GPU use, backends and warnings, with keys to pause, cancel and inspect.

    \b
    voxline tui book/ -o out/          start on the job at once
    voxline tui                        choose files and settings on the queue screen

    Keys: p pause/resume · c cancel (resumable) · d a document's chunks · g GPU panel ·
    a add files · 1-4 panels on small terminals · q quit.
    """
    from voxline.errors import UsageError
    from voxline.tui.app import run_app

    from .synth import plan_job

    planned = None
    if paths:
        if not output:
            raise UsageError("give -o/--output for the audio (a folder, or a file for one "
                             "input)")
        planned = plan_job(paths, output, recursive, config, options)
    try:
        return run_app(planned, force=force, metrics_port=metrics_port,
                       metrics_textfile=metrics_textfile, exit_when_done=exit_when_done,
                       config=config)
    finally:
        if planned is not None:  # the text of books and documents read for the job
            from voxline.books import remove_work

            remove_work(planned.work)
