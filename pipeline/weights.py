"""Model weights voxline can fetch (`voxline models`): what each model is, where it lives,
whether it is there, pulling it from the Hugging Face hub and removing it.

A model's folder is `--dir`, else `$VOXLINE_MODELS_DIR/NAME`, else
`$XDG_DATA_HOME/voxline/models/NAME` (`~/.local/share/voxline/models/NAME`). A pull writes
`.voxline-model.json` there last: which repository, revision and commit the files came from
and their hashes, so `list` can tell a finished pull from an interrupted one without reading
gigabytes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BackendError, OutputError, UsageError
from .hub import PARTIAL_DIR, Hub, HubConfig, HubFile, destination
from .redact import redact

RECORD = ".voxline-model.json"


@dataclass(frozen=True)
class ModelSpec:
    """A model voxline knows how to fetch: the hub repository, the files its backend loads
    (relative to the model folder), and the terms its code and weights come under."""

    name: str
    repo: str
    backend: str
    files: tuple[str, ...]
    code_licence: str
    weights_licence: str
    description: str = ""
    revision: str = "main"
    # the files' SHA-256 as the backend's library expects them, by file: None when that
    # library is not installed (see `release_hashes`)
    release_hashes: Callable[[], "ReleaseHashes | None"] = field(
        default=lambda: None, repr=False, compare=False)


@dataclass(frozen=True)
class ReleaseHashes:
    """The SHA-256 a library release checks a model's files against."""

    library: str             # "ChatTTS 0.2.5"
    sha256: Mapping[str, str]  # file -> hex digest


def _chattts_release_hashes() -> ReleaseHashes | None:
    """ChatTTS's own map (`ChatTTS/res/sha256_map.json`), read from the installed package
    without importing it (importing ChatTTS imports torch)."""
    try:
        found = importlib.util.find_spec("ChatTTS")
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / "res" / "sha256_map.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        version = importlib.metadata.version("chattts")
    except (OSError, ValueError, importlib.metadata.PackageNotFoundError):
        return None
    # ChatTTS's keys spell the path with _ for / and . ("sha256_asset_gpt_config_json")
    key = {"sha256_" + name.replace("/", "_").replace(".", "_"): name for name in CHATTTS_FILES}
    return ReleaseHashes(f"ChatTTS {version}",
                         {key[k]: v for k, v in table.items() if k in key})


# the files chattts-local loads (ChatTTS's `Chat.load(source="custom")`)
CHATTTS_FILES = (
    "asset/Decoder.safetensors",
    "asset/DVAE.safetensors",
    "asset/Embed.safetensors",
    "asset/Vocos.safetensors",
    "asset/gpt/config.json",
    "asset/gpt/model.safetensors",
    "asset/tokenizer/special_tokens_map.json",
    "asset/tokenizer/tokenizer_config.json",
    "asset/tokenizer/tokenizer.json",
)

MODELS: dict[str, ModelSpec] = {
    "chattts": ModelSpec(
        name="chattts", repo="2Noise/ChatTTS", backend="chattts-local", files=CHATTTS_FILES,
        code_licence="AGPL-3.0-or-later (the ChatTTS library)",
        weights_licence="CC BY-NC 4.0 (non-commercial use only)",
        description="ChatTTS's released weights",
        release_hashes=_chattts_release_hashes),
}


def model_spec(name: str) -> ModelSpec:
    """The known model called `name`; UsageError naming the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})") \
            from None


def models_root(env: Mapping[str, str] | None = None) -> Path:
    """The folder that holds pulled models by default."""
    env = os.environ if env is None else env
    if env.get("VOXLINE_MODELS_DIR"):
        return Path(env["VOXLINE_MODELS_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "voxline" / "models"


def model_folder(name: str, env: Mapping[str, str] | None = None) -> Path:
    """Where `voxline models pull NAME` puts model `name` by default (a backend looks there
    when it is given no folder)."""
    return models_root(env) / name


# ---------------------------------------------------------------------------------------
# What is there


@dataclass(frozen=True)
class ModelState:
    """A model folder as found: `installed` (every file there, as the last pull recorded
    them, or copied in by hand), `partial` (some files or an interrupted download) or
    `missing`; the bytes it holds; the commit a pull recorded."""

    spec: ModelSpec
    folder: Path
    state: str
    size_bytes: int
    commit: str | None = None


def read_record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def inspect(spec: ModelSpec, folder: Path) -> ModelState:
    """What `folder` holds of `spec` (no hashing: sizes against the pull's record)."""
    size = 0
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                size += path.stat().st_size
    present = [name for name in spec.files if (folder / name).is_file()]
    record = read_record(folder)
    recorded = (record or {}).get("files", {})
    if len(present) == len(spec.files) and all(
            name not in recorded or (folder / name).stat().st_size
            == recorded[name].get("size_bytes") for name in spec.files):
        state = "installed"
    elif present or (folder / PARTIAL_DIR).is_dir():
        state = "partial"
    else:
        state = "missing"
    return ModelState(spec, folder, state, size, (record or {}).get("commit"))


# ---------------------------------------------------------------------------------------
# Pulling


class PullProgress:
    """What a pull reports as it goes; the CLI draws it. The default says nothing."""

    def started(self, files: list[HubFile], to_fetch_bytes: int) -> None:
        """Before any download: the files, and how many bytes are not yet here."""

    def file_started(self, file: HubFile) -> None:
        """A file's download starts (or continues)."""

    def advanced(self, n_bytes: int) -> None:
        """Bytes arrived (or found in a partial file being continued)."""

    def file_done(self, file: HubFile, how: str) -> None:
        """One file is in place: `how` is "downloaded" or "already here"."""


@dataclass(frozen=True)
class PullResult:
    """A finished pull: the commit, the files fetched now and those already there, and
    the files that differ from what the backend's library release checks against."""

    folder: Path
    commit: str
    downloaded: tuple[str, ...]
    kept: tuple[str, ...]
    release: ReleaseHashes | None
    differ_from_release: tuple[str, ...]


def pull(spec: ModelSpec, folder: Path, hub_config: HubConfig, revision: str | None = None,
         progress: PullProgress | None = None) -> PullResult:
    """Fetch `spec`'s files at `revision` into `folder`, each checked against the hash the
    hub lists; files already there with that hash are kept, partial downloads continue."""
    progress = progress or PullProgress()
    revision = revision or spec.revision
    with Hub(hub_config) as hub:  # offline mode fails here, before any request
        snapshot = hub.snapshot(spec.repo, revision)
        missing = [name for name in spec.files if name not in snapshot.files]
        if missing:
            raise BackendError(
                f"{spec.repo}@{revision} (commit {snapshot.commit[:12]}) has no "
                f"{', '.join(missing)}", hint="this revision does not hold the files "
                f"{spec.backend} loads; try another --revision", reason="missing files")
        files = [snapshot.files[name] for name in spec.files]
        _make_folder(folder)
        kept = [f for f in files if _already_here(folder, f)]
        to_fetch = [f for f in files if f not in kept]
        progress.started(files, sum(f.size_bytes for f in to_fetch))
        for file in kept:
            progress.file_done(file, "already here")
        for file in to_fetch:
            progress.file_started(file)
            hub.download(spec.repo, snapshot.commit, file, folder, progress.advanced)
            progress.file_done(file, "downloaded")
    _remove_empty(folder / PARTIAL_DIR)
    release = spec.release_hashes()
    differ = ()
    if release is not None:
        differ = tuple(f.path for f in files
                       if release.sha256.get(f.path) not in (None, _sha256_of(folder, f)))
    _write_record(folder, {
        "model": spec.name, "repo": spec.repo, "revision": revision,
        "commit": snapshot.commit, "endpoint": redact(hub_config.endpoint),
        "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {f.path: {"size_bytes": f.size_bytes, "sha256": f.sha256,
                           "git_oid": f.git_oid} for f in files}})
    return PullResult(folder, snapshot.commit, tuple(f.path for f in to_fetch),
                      tuple(f.path for f in kept), release, differ)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the model folder {folder}: "
                          f"{exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"the model folder {folder} is not writable")


def _file_hash(path: Path, file: HubFile) -> str:
    """`path`'s hash in the terms the hub lists `file` by."""
    if file.sha256:
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1()
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _already_here(folder: Path, file: HubFile) -> bool:
    path = destination(folder, file.path)
    return (path.is_file() and not path.is_symlink()
            and path.stat().st_size == file.size_bytes
            and _file_hash(path, file) == (file.sha256 or file.git_oid))


def _sha256_of(folder: Path, file: HubFile) -> str:
    if file.sha256:  # checked against it on the way in
        return file.sha256
    digest = hashlib.sha256()
    with (folder / file.path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_record(folder: Path, record: dict) -> None:
    """The pull's record, written to a new file created exclusively, then renamed."""
    from .safefiles import write_atomic

    try:
        write_atomic(folder / RECORD, json.dumps(record, indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {folder / RECORD}: {exc.strerror or exc}") from None


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


# ---------------------------------------------------------------------------------------
# Removing


def remove(spec: ModelSpec, folder: Path) -> list[Path]:
    """Delete what a pull puts in `folder` (the model's files, its record, partial
    downloads) and the folders left empty; returns what was left because voxline did not
    put it there."""
    if folder.is_symlink():
        raise UsageError(f"{folder} is a symlink; remove it yourself")
    if not folder.is_dir():
        return []
    try:
        for name in (*spec.files, RECORD):
            path = folder / name
            if path.is_file() or path.is_symlink():
                path.unlink()
        partial = folder / PARTIAL_DIR
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial)
        for path in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()),
                           key=lambda p: len(p.parts), reverse=True):
            _remove_empty(path)
        _remove_empty(folder)
    except OSError as exc:
        raise OutputError(f"cannot remove {folder}: {exc.strerror or exc}") from None
    return sorted(p for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []
