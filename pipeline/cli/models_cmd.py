"""`voxline models list|pull|path|remove`: model weights fetched from the Hugging Face hub."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _folder(name: str, folder: str | None) -> Path:
    from voxline.weights import model_folder

    return Path(folder).expanduser() if folder else model_folder(name)


_dir_option = click.option(
    "--dir", "folder", type=click.Path(file_okay=False),
    help="The model's folder [default: $VOXLINE_MODELS_DIR/NAME, else "
         "$XDG_DATA_HOME/voxline/models/NAME].")


@click.group()
def models() -> None:
    """Model weights voxline downloads for its local backends (ChatTTS for chattts-local).

    \b
    voxline models list                 known models, where they live, installed or not
    voxline models pull chattts         download, resume and check ChatTTS's weights
    voxline models path chattts         print the model's folder
    voxline models remove chattts       delete it (asks first; --yes does not)
    """


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_models(as_json):
    """Known models: folder, installed/partial/missing, size, licences."""
    from voxline.weights import MODELS, inspect, model_folder

    states = [inspect(spec, model_folder(name)) for name, spec in sorted(MODELS.items())]
    if as_json:
        click.echo(json.dumps([{
            "name": s.spec.name, "backend": s.spec.backend, "repo": s.spec.repo,
            "folder": str(s.folder), "state": s.state, "size_bytes": s.size_bytes,
            "commit": s.commit, "code_licence": s.spec.code_licence,
            "weights_licence": s.spec.weights_licence} for s in states], indent=2))
        return 0
    for s in states:
        click.echo(f"{s.spec.name:<10} {s.state:<10} {_size(s.size_bytes):>9}  {s.folder}")
        source = f"{s.spec.repo}" + (f" at {s.commit[:12]}" if s.commit else "")
        click.echo(f"{'':<10} {s.spec.description}; from {source}; for {s.spec.backend}")
        click.echo(f"{'':<10} code: {s.spec.code_licence}; weights: {s.spec.weights_licence}")
    return 0


class _Progress:
    """Bytes and percent on one line on a terminal (stderr); a line per file otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.total = self.done = 0
        self.current = ""
        self._drawn = 0.0

    def started(self, files, to_fetch_bytes):
        self.total = to_fetch_bytes

    def file_started(self, file):
        self.current = file.path

    def advanced(self, n_bytes):
        self.done += n_bytes
        now = time.monotonic()
        if self.live and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw()

    def _draw(self):
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        bar = "#" * int(fraction * 24)
        self.stream.write(f"\r[{bar:-<24}] {fraction:4.0%} {_size(self.done)} of "
                          f"{_size(self.total)}  {self.current}"[:110].ljust(110))
        self.stream.flush()

    def file_done(self, file, how):
        if self.live:
            self.stream.write("\r" + " " * 110 + "\r")
        self.stream.write(f"{file.path}: {_size(file.size_bytes)}, {how}, hash checked\n")
        self.stream.flush()


@models.command()
@click.argument("name")
@_dir_option
@click.option("--revision", metavar="REV",
              help="A branch, tag or commit of the model's hub repository [default: main].")
def pull(name, folder, revision):
    """Download a model's weights from the Hugging Face hub ($HF_ENDPOINT), continuing an
    interrupted download, each file checked against the hash the hub lists for it."""
    from voxline.hub import HubConfig
    from voxline.weights import model_spec, pull as pull_model

    spec = model_spec(name)
    target = _folder(name, folder)
    progress = _Progress()
    result = pull_model(spec, target, HubConfig.from_env(os.environ), revision, progress)
    if progress.live:
        sys.stderr.write("\r" + " " * 110 + "\r")
    differ = result.differ_from_release
    if differ:
        which = (", ".join(differ) if len(differ) <= 3
                 else f"{len(differ)} of the {len(spec.files)} files")
        click.echo(
            f"voxline: warning: {which} differ from the files "
            f"{result.release.library} checks against (its own SHA-256 map): they are "
            f"{spec.repo} at {result.commit[:12]} as the hub lists them, but not the "
            f"revision {result.release.library} was released for, so {spec.backend} will "
            f"refuse them unless check_hashes = false under [backends.{spec.backend}] (or "
            "pull the matching --revision)", err=True)
    elif result.release is None:
        click.echo(f"voxline: note: {spec.backend}'s library is not installed, so the files "
                   "were checked against the hub's hashes only", err=True)
    click.echo(f"{spec.name}: {len(spec.files)} files in {result.folder} ({spec.repo} at "
               f"{result.commit[:12]}; {len(result.downloaded)} downloaded, "
               f"{len(result.kept)} already here)")
    click.echo(f"licences: code {spec.code_licence}; weights {spec.weights_licence}")
    return 0


@models.command()
@click.argument("name")
def path(name):
    """Print the folder a model is pulled to (and where its backend looks)."""
    from voxline.weights import model_spec

    click.echo(_folder(model_spec(name).name, None))
    return 0


@models.command()
@click.argument("name")
@_dir_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
def remove(name, folder, yes):
    """Delete a model's files (asks first unless --yes)."""
    from voxline.errors import UsageError
    from voxline.weights import inspect, model_spec, remove as remove_model

    spec = model_spec(name)
    target = _folder(name, folder)
    state = inspect(spec, target)
    if state.state == "missing" and not target.exists():
        click.echo(f"{name}: nothing at {target}")
        return 0
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not removing {target} without --yes (there is no terminal "
                             "to ask on)")
        if not click.confirm(f"Delete {name} ({_size(state.size_bytes)}) in {target}?"):
            click.echo("nothing removed")
            return 0
    left = remove_model(spec, target)
    if left:
        click.echo(f"{name}: removed its files from {target}; kept {len(left)} other "
                   f"file(s) voxline did not put there, e.g. {left[0]}")
    else:
        click.echo(f"{name}: removed {target}")
    return 0
