"""Files from the Hugging Face hub over its plain HTTP endpoints.

Two endpoints, the ones `huggingface_hub` itself calls:

- `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`: the commit a revision
  names and, for every file, its size, its git blob id and, for files kept in Git LFS, the
  SHA-256 of its content (`lfs.sha256`);
- `GET {endpoint}/{repo}/resolve/{commit}/{path}`: the file's bytes (the hub redirects large
  files to its CDN), with `Range: bytes=N-` to continue a partial file.

A file is downloaded into `.partial/` inside the target folder, under a name made from the
hash it must have, so a later run continues only a partial file of the same content. The
partial file is created exclusively and never through a symlink; once its hash matches what
the hub lists (SHA-256 for LFS files, the git blob id otherwise) it is renamed into place, so
a final name never holds an unchecked file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from .errors import BackendError, OutputError, UsageError

DEFAULT_ENDPOINT = "https://huggingface.co"
PARTIAL_DIR = ".partial"
RETRIES = 3          # further attempts at one file after a dropped connection or a 5xx
RETRY_DELAY_S = 0.5  # before the first retry; doubles each time
_TRUE = {"1", "on", "yes", "true"}
_HEX = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass(frozen=True)
class HubConfig:
    """Where the hub is and whether voxline may contact it: `HF_ENDPOINT` and
    `HF_HUB_OFFLINE`, as huggingface_hub reads them."""

    endpoint: str = DEFAULT_ENDPOINT
    offline: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "HubConfig":
        endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        offline = any((env.get(key) or "").strip().lower() in _TRUE
                      for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
        return cls(endpoint, offline)


@dataclass(frozen=True)
class HubFile:
    """One file of a revision as the hub lists it. `sha256` is the hub's SHA-256 of the
    content (files in Git LFS); `git_oid` is the git blob id (every file)."""

    path: str
    size_bytes: int
    sha256: str | None
    git_oid: str | None

    @property
    def content_key(self) -> str:
        """A name for this exact content (its partial file is called this)."""
        return self.sha256 or f"git-{self.git_oid}"


@dataclass(frozen=True)
class Snapshot:
    """A repository at one commit: the revision asked for, the commit it named, its files."""

    repo: str
    revision: str
    commit: str
    files: Mapping[str, HubFile]


def safe_relative_path(name: str) -> PurePosixPath:
    """`name` as a path inside a folder, or ValueError: no absolute paths, drive letters,
    backslashes, `..`, `.` or empty parts, control characters."""
    if (not name or name.startswith("/") or "\\" in name or ":" in name
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        raise ValueError(name)
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(name)
    return PurePosixPath(*parts)


class Hub:
    """A client for one hub endpoint. Raises UsageError when offline mode is on (before any
    request), BackendError for what the hub or the network does, OutputError for what the
    target folder does."""

    def __init__(self, config: HubConfig, *, timeout_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        if config.offline:
            raise UsageError("HF_HUB_OFFLINE is set, so voxline will not contact the Hugging "
                             "Face hub",
                             hint="unset HF_HUB_OFFLINE to download, or copy the files into "
                                  "the folder yourself")
        import httpx

        from voxline import __version__

        self.config = config
        self._httpx = httpx
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=10.0), follow_redirects=True,
            headers={"User-Agent": f"voxline/{__version__}"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Hub":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- listing ------------------------------------------------------------------------

    def snapshot(self, repo: str, revision: str) -> Snapshot:
        """The files of `repo` at `revision`, with their sizes and hashes."""
        url = (f"{self.config.endpoint}/api/models/{repo}/revision/"
               f"{quote(revision, safe='')}")
        response = self._request("GET", url, what=f"{repo} at revision {revision!r}",
                                 params={"blobs": "true"})
        try:
            data = response.json()
            commit = data["sha"]
            siblings = data["siblings"]
            if not isinstance(commit, str) or not _HEX.fullmatch(commit):
                raise ValueError(f"commit {commit!r}")
            files = {}
            for sibling in siblings:
                name = sibling["rfilename"]
                try:
                    safe_relative_path(name)
                except ValueError:
                    raise BackendError(
                        f"the hub's file list for {repo}@{revision} names {name!r}, which is "
                        "not a plain relative path; nothing was downloaded",
                        hint=f"check HF_ENDPOINT ({self.config.endpoint})",
                        reason="bad listing") from None
                lfs = sibling.get("lfs") or {}
                sha256 = lfs.get("sha256") or lfs.get("oid")
                size = lfs.get("size", sibling.get("size"))
                if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
                    raise ValueError(f"sha256 {sha256!r}")
                if not isinstance(size, int) or size < 0:
                    raise ValueError(f"size {size!r}")
                files[name] = HubFile(name, size, sha256, sibling.get("blobId"))
        except BackendError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(f"the hub's answer for {repo}@{revision} is not a file list "
                               f"({type(exc).__name__}: {exc})",
                               hint=f"check HF_ENDPOINT ({self.config.endpoint})",
                               reason="bad listing") from None
        return Snapshot(repo, revision, commit, files)

    # -- downloading --------------------------------------------------------------------

    def download(self, repo: str, commit: str, file: HubFile, folder: Path,
                 on_bytes: Callable[[int], None] = lambda n: None) -> Path:
        """Fetch `file` of `repo` at `commit` into `folder`, continuing a partial download of
        the same content, check its hash and rename it into place; returns its path.
        `on_bytes(n)` is called as bytes arrive (and once for bytes a partial file already
        held)."""
        if file.sha256 is None and file.git_oid is None:
            raise BackendError(f"the hub lists no hash for {file.path} in {repo}; voxline "
                               "downloads only files it can check", reason="bad listing")
        target = destination(folder, file.path)
        url = (f"{self.config.endpoint}/{repo}/resolve/{commit}/"
               f"{quote(file.path, safe='/')}")
        with _Partial(folder, file) as partial:
            if partial.held:
                on_bytes(partial.held)
            failures = 0
            while partial.held < file.size_bytes:
                try:
                    self._fetch(url, repo, commit, partial, on_bytes)
                except _Transient as exc:
                    failures += 1
                    if failures > RETRIES:
                        raise BackendError(
                            f"the download of {file.path} stopped at {partial.held} of "
                            f"{file.size_bytes} bytes ({exc})",
                            hint="run the same command again to continue from there",
                            reason="interrupted", retryable=True) from None
                    self._sleep(RETRY_DELAY_S * 2 ** (failures - 1))
            expected = file.sha256 or file.git_oid
            got = partial.digest.hexdigest()
            if got != expected:
                partial.discard()
                kind = "SHA-256" if file.sha256 else "git blob id"
                raise BackendError(
                    f"{file.path} from {self.config.endpoint} does not match the {kind} the "
                    f"hub lists for it ({expected[:12]}…, got {got[:12]}…); the damaged "
                    "download was deleted",
                    hint="run the same command again to download it afresh",
                    reason="hash mismatch")
            partial.move_to(target)
        return target

    def _fetch(self, url: str, repo: str, commit: str, partial: "_Partial", on_bytes
               ) -> None:
        """One GET from the partial file's end on, appended to it."""
        httpx = self._httpx
        have = partial.held
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 416 or (have and status == 200):
                    partial.restart()  # the server cannot continue from here: start again
                    if status == 416:
                        raise _Transient("the server refused to continue the partial file")
                elif status >= 500:
                    raise _Transient(f"HTTP {status}")
                elif status == 206:
                    start = _range_start(response.headers.get("content-range", ""))
                    if start != have:
                        raise _Transient(f"asked for bytes from {have}, got them from "
                                         f"{start}")
                else:
                    self._check(response, url, f"{partial.file.path} in {repo} at "
                                               f"{commit[:12]}")
                for block in response.iter_bytes():
                    partial.append(block)
                    on_bytes(len(block))
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Transient(_network_reason(exc)) from None
        if partial.held < partial.file.size_bytes:
            raise _Transient("the connection closed early")

    # -- requests -----------------------------------------------------------------------

    def _request(self, method: str, url: str, *, what: str, **kwargs):
        """One request, retried after a dropped connection or a 5xx; a refused connection
        fails at once."""
        httpx = self._httpx
        attempt = 0
        while True:
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == RETRIES or isinstance(exc, httpx.ConnectError):
                    raise BackendError(
                        f"cannot reach the Hugging Face hub at {self.config.endpoint} "
                        f"(asking for {what}): {_network_reason(exc)}",
                        hint="check the network, or HF_ENDPOINT for a mirror",
                        reason="unreachable", retryable=True) from None
            else:
                if response.status_code < 500 or attempt == RETRIES:
                    self._check(response, url, what)
                    return response
            self._sleep(RETRY_DELAY_S * 2 ** attempt)
            attempt += 1

    def _check(self, response, url: str, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403, 404):
            # the hub answers 401 for a repository or revision that does not exist
            raise BackendError(f"the Hugging Face hub at {self.config.endpoint} has no "
                               f"{what} (HTTP {status})",
                               hint="check the revision, or HF_ENDPOINT for a mirror",
                               reason=f"http {status}")
        raise BackendError(f"the Hugging Face hub answered HTTP {status} for {what}",
                           hint="try again later", reason=f"http {status}",
                           retryable=status >= 500)


class _Transient(Exception):
    """A download that stopped partway for a reason a retry may get past."""


def destination(folder: Path, name: str) -> Path:
    """Where file `name` goes in `folder`, its parent folders made; OutputError if that would
    be outside `folder` (a hostile name, or a symlink inside the folder pointing away)."""
    relative = safe_relative_path(name)
    root = folder.resolve()
    target = root.joinpath(relative)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {target.parent}: {exc.strerror or exc}") from None
    if not target.parent.resolve().is_relative_to(root):
        raise OutputError(f"{name} would be written outside {folder} (a symlink inside it "
                          "points elsewhere); refused")
    return target


class _Partial:
    """The partial file of one hub file in `folder/.partial/`, named by the content it must
    end up with, and the running hash of the bytes it holds. Created exclusively when new,
    never opened through a symlink, locked while open (two pulls into one folder do not
    write one file together)."""

    def __init__(self, folder: Path, file: HubFile):
        self.file = file
        self.folder = folder
        work = folder / PARTIAL_DIR
        self.path = work / file.content_key
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        try:
            work.mkdir(parents=True, exist_ok=True)
            if not stat.S_ISDIR(os.lstat(work).st_mode):
                raise OutputError(f"{work} is not a plain folder; refused")
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | nofollow, 0o644)
            except FileExistsError:
                fd = os.open(self.path, os.O_RDWR | nofollow)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise OutputError(f"{self.path} is not a plain file; refused") from None
        except OSError as exc:
            raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"another voxline is downloading {file.path} into {folder}; "
                              "wait for it to finish") from None
        self.out = os.fdopen(fd, "r+b")
        self.digest = self._new_digest()
        self.held = os.fstat(fd).st_size
        if self.held > file.size_bytes:
            self.restart()
        for block in iter(lambda: self.out.read(1 << 22), b""):
            self.digest.update(block)

    def _new_digest(self):
        """A running hash in the hub's terms: SHA-256, or the git blob id (SHA-1 over
        `blob SIZE\\0` and the content)."""
        if self.file.sha256:
            return hashlib.sha256()
        digest = hashlib.sha1()
        digest.update(f"blob {self.file.size_bytes}\0".encode())
        return digest

    def restart(self) -> None:
        self.out.seek(0)
        self.out.truncate()
        self.digest = self._new_digest()
        self.held = 0

    def append(self, block: bytes) -> None:
        if self.held + len(block) > self.file.size_bytes:
            raise BackendError(f"the hub sent more than the {self.file.size_bytes} bytes it "
                               f"lists for {self.file.path}", reason="bad size")
        try:
            self.out.write(block)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self.digest.update(block)
        self.held += len(block)

    def discard(self) -> None:
        self.out.close()
        self.path.unlink(missing_ok=True)

    def move_to(self, target: Path) -> None:
        try:
            self.out.flush()
            os.fsync(self.out.fileno())
            self.out.close()
            os.replace(self.path, target)
        except OSError as exc:
            raise OutputError(f"cannot move {self.file.path} into place in {self.folder}: "
                              f"{exc.strerror or exc}") from None

    def __enter__(self) -> "_Partial":
        return self

    def __exit__(self, *exc) -> None:
        self.out.close()


def _range_start(content_range: str) -> int | None:
    match = re.match(r"bytes (\d+)-", content_range)
    return int(match.group(1)) if match else None


def _network_reason(exc) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve"
    return text
