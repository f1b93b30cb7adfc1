"""`voxline jobs`: the job manifests: what ran, how far it got, what is left."""

from __future__ import annotations

import json
import time

import click

from voxline.display import printable


class _Log:
    """The job manifests for a `voxline jobs` command: a damaged database moved aside is a
    warning; one that cannot be read is an error (exit 5), never an empty list."""

    def __init__(self):
        from voxline.manifest import Manifest

        self.warnings: list[str] = []
        self.manifest = Manifest(on_warning=self.warnings.append)

    def __enter__(self):
        return self.manifest

    def __exit__(self, *exc_info):
        self.manifest.close()
        if exc_info[0] is not None:
            return
        if self.manifest.broken is not None:
            from voxline.errors import OutputError

            raise OutputError(f"the job manifests in {self.manifest.folder} cannot be read "
                              f"({self.manifest.broken})")
        for message in self.warnings:
            click.echo(f"voxline: warning: {message}", err=True)


def _ago(when: float | None) -> str:
    if not when:
        return "-"
    seconds = max(0, time.time() - when)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def jobs(ctx, as_json):
    """List jobs and their state (`voxline jobs show ID` for one job's manifest).

    A job is the set of inputs and outputs of one `voxline synth` command; running the same
    command again continues it. A job shown as `stopped` was killed: run it again to resume.
    """
    if ctx.invoked_subcommand is not None:
        return None
    with _Log() as log:
        found = log.jobs()
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    if not found:
        click.echo(f"no jobs recorded in {log.folder}"
                   + (f" since its damaged database was moved aside to {log.repaired.name}"
                      if log.repaired else ""))
        return 0
    click.echo(f"{'ID':<13}{'STATE':<13}{'FILES':>9}{'CHUNKS':>15}{'AUDIO':>9}  "
               f"{'UPDATED':<10}  OUTPUT")
    for job in found:
        chunks = f"{job['chunks_done']}/{job['chunks_total'] or '?'}"
        click.echo(f"{job['id']:<13}{job['state']:<13}"
                   f"{job['done']:>4}/{job['documents']:<4}{chunks:>15}"
                   f"{job['audio_s'] / 60:>8.1f}m  {_ago(job['updated']):<10}  "
                   f"{printable(job['output'])}")
    return 0


@jobs.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def show(job_id, as_json):
    """One job's manifest: inputs with their hashes, settings, per-document and (with
    --json) per-chunk status, cache keys and timings."""
    from voxline.errors import UsageError

    with _Log() as log:
        manifest = log.show(job_id)
    if manifest is None:
        raise UsageError(f"no job {job_id!r} (or more than one starts so); see `voxline jobs`")
    if as_json:
        click.echo(json.dumps(manifest, ensure_ascii=False, indent=2))
        return 0
    click.echo(f"job {manifest['id']}: {manifest['state']}, updated {_ago(manifest['updated'])}")
    click.echo(printable("command: " + " ".join(manifest["command"])))
    for doc in manifest["documents"]:
        total = doc["chunks_total"] if doc["chunks_total"] is not None else "?"
        line = (f"  {doc['state']:<11} {doc['source']} → {doc['output']}  "
                f"{doc['chunks_done']}/{total} chunks ({doc['chunks_cached']} from cache), "
                f"{doc['audio_s']:.1f}s audio")
        if doc["sha256"]:
            line += f"  sha256 {doc['sha256'][:12]}"
        click.echo(printable(line))
        if doc["error"]:
            click.echo(printable(f"              {doc['error']}"))
    return 0


@jobs.command()
@click.option("--older-than", metavar="AGE", help="Only jobs not updated for AGE (e.g. 7d).")
def forget(older_than):
    """Remove finished jobs' manifests (a forgotten job's next run starts afresh; its
    chunks still come from the cache)."""
    from voxline.cache import parse_age

    with _Log() as log:
        removed = log.forget(parse_age(older_than) if older_than else None)
    click.echo(f"forgot {removed} jobs")
    return 0
