"""A stand-in Hugging Face hub on 127.0.0.1 that serves one repository's files.

It answers the endpoints huggingface_hub itself uses, as the hub does:

- `GET /api/models/{repo}/revision/{rev}[?blobs=true]`: `sha` (the commit) and `siblings`
  with `rfilename`, `size`, `blobId` (git blob id) and, for LFS files, `lfs` (`sha256`,
  `size`, `pointerSize`);
- `GET /api/models/{repo}/tree/{rev}`: entries with `path`, `size`, `oid`, `lfs.oid`;
- `GET|HEAD /{repo}/resolve/{rev}/{path}`: `ETag`, `X-Repo-Commit`, and for LFS files a 302
  to `/cdn/{sha256}` with `X-Linked-Etag` and `X-Linked-Size`, the CDN honouring `Range`
  (206 with `Content-Range`, 416 past the end);
- 401 `RepoNotFound` for another repository, 404 `RevisionNotFound` / `EntryNotFound`.

Files are bytes or paths (served from disk, for big ones). It logs every request with the
body bytes it sent, and can misbehave: serve damaged bytes for a file (`corrupt`), drop the
connection partway through a file's body (`drop`), answer 404 for a listed file (`missing`),
list extra (hostile) names (`extra_names`), send slowly (`delay_per_block_s`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

BLOCK = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    status: int = 0
    sent_bytes: int = 0  # body bytes written to the socket
    file: str | None = None


@dataclass
class _File:
    path: str
    source: bytes | Path
    size: int
    sha256: str
    git_oid: str
    lfs: bool

    def open(self):
        return io.BytesIO(self.source) if isinstance(self.source, bytes) else \
            self.source.open("rb")


def _hashes(source: bytes | Path) -> tuple[int, str, str]:
    """Size, SHA-256 and git blob id of `source`, read once."""
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    sha256, git = hashlib.sha256(), hashlib.sha1(f"blob {size}\0".encode())
    with io.BytesIO(source) if isinstance(source, bytes) else source.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            sha256.update(block)
            git.update(block)
    return size, sha256.hexdigest(), git.hexdigest()


@dataclass
class HubSim:
    """`files`: path in the repository → bytes or a file to serve. Files named `*.safetensors`
    are LFS files (listed with their SHA-256, served through the CDN redirect)."""

    repo: str
    files: dict
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    revisions: tuple[str, ...] = ("main",)
    corrupt: set = field(default_factory=set)
    drop: dict = field(default_factory=dict)     # path -> times to drop halfway through
    missing: set = field(default_factory=set)
    extra_names: tuple[str, ...] = ()
    delay_per_block_s: float = 0.0

    def __post_init__(self):
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        for name, source in self.files.items():
            size, sha256, git_oid = _hashes(source)
            self._files[name] = _File(name, source, size, sha256, git_oid,
                                      name.endswith(".safetensors"))
        self._by_sha = {f.sha256: f for f in self._files.values()}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "HubSim":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sha256(self, name: str) -> str:
        return self._files[name].sha256

    def requests(self, method: str | None = None, file: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method)
                    and (file is None or r.file == file)]

    def sent_bytes(self, file: str) -> int:
        """Body bytes of `file` written to the network over all requests."""
        return sum(r.sent_bytes for r in self.requests("GET", file))

    # -- answers --------------------------------------------------------------------------

    def handle(self, handler: "_Handler", method: str) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        request = Request(method, handler.path, {k.lower(): v for k, v in handler.headers.items()})
        with self._lock:
            self.log.append(request)
        prefix = f"/api/models/{self.repo}/"
        match = re.fullmatch(r"/api/models/(.+?)/(revision|tree)/([^/]+)", path)
        if match:
            repo, kind, revision = match.groups()
            if repo != self.repo:
                return handler.answer(request, 401, b'{"error":"Repository not found"}',
                                      {"X-Error-Code": "RepoNotFound"})
            if revision not in (*self.revisions, self.commit):
                return handler.answer(request, 404, b'{"error":"Invalid rev id"}',
                                      {"X-Error-Code": "RevisionNotFound"})
            return handler.answer(request, 200, json.dumps(
                self._revision() if kind == "revision" else self._tree()).encode(),
                {"Content-Type": "application/json"})
        if path.startswith(prefix):
            return handler.answer(request, 404, b"{}")
        match = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
        if match and match.group(1) in self._by_sha:
            return self._send_file(handler, request, self._by_sha[match.group(1)], method)
        repo_prefix = f"/{self.repo}/resolve/"
        if not path.startswith(repo_prefix):
            return handler.answer(request, 401, b"", {"X-Error-Code": "RepoNotFound"})
        revision, _, name = path[len(repo_prefix):].partition("/")
        if revision not in (*self.revisions, self.commit):
            return handler.answer(request, 404, b"", {"X-Error-Code": "RevisionNotFound"})
        file = self._files.get(name)
        request.file = name
        if file is None or name in self.missing:
            return handler.answer(request, 404, b"", {"X-Error-Code": "EntryNotFound"})
        headers = {"X-Repo-Commit": self.commit}
        if file.lfs:
            headers.update({"Location": f"/cdn/{file.sha256}", "X-Linked-Etag": f'"{file.sha256}"',
                            "X-Linked-Size": str(file.size), "ETag": f'"{file.git_oid}"'})
            return handler.answer(request, 302, b"", headers)
        return self._send_file(handler, request, file, method, headers)

    def _revision(self) -> dict:
        siblings = []
        for f in self._files.values():
            entry = {"rfilename": f.path, "size": f.size, "blobId": f.git_oid}
            if f.lfs:
                entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(entry)
        siblings += [{"rfilename": name, "size": 1, "blobId": "0" * 40}
                     for name in self.extra_names]
        return {"_id": "0" * 24, "id": self.repo, "modelId": self.repo, "sha": self.commit,
                "private": False, "siblings": siblings}

    def _tree(self) -> list:
        return [{"type": "file", "path": f.path, "size": f.size, "oid": f.git_oid,
                 **({"lfs": {"oid": f.sha256, "size": f.size, "pointerSize": 134}}
                    if f.lfs else {})} for f in self._files.values()]

    def _send_file(self, handler, request: Request, file: _File, method: str,
                   headers: dict | None = None) -> None:
        request.file = file.path
        etag = file.sha256 if file.lfs else file.git_oid
        headers = {**(headers or {}), "ETag": f'"{etag}"',
                   "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("range", ""))
        if match:
            start = int(match.group(1))
            if start >= file.size:
                headers["Content-Range"] = f"bytes */{file.size}"
                return handler.answer(request, 416, b"", headers)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{file.size - 1}/{file.size}"
        length = file.size - start
        request.status = status
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(length)}.items():
            handler.send_header(key, value)
        handler.end_headers()
        if method == "HEAD":
            return
        with self._lock:
            dropping = self.drop.get(file.path, 0) > 0
            if dropping:
                self.drop[file.path] -= 1
        stop = start + length // 2 if dropping else file.size
        position = start
        try:
            with file.open() as source:
                source.seek(start)
                while position < stop:
                    block = source.read(min(BLOCK, stop - position))
                    if file.path in self.corrupt:  # one flipped byte per block
                        block = bytes([block[0] ^ 0xFF]) + block[1:]
                    handler.wfile.write(block)
                    handler.wfile.flush()
                    position += len(block)
                    with self._lock:
                        request.sent_bytes += len(block)
                    if self.delay_per_block_s:
                        time.sleep(self.delay_per_block_s)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
            return
        if dropping:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.server.owner.handle(self, "GET")

    def do_HEAD(self):
        self.server.owner.handle(self, "HEAD")

    def answer(self, request: Request, status: int, body: bytes, headers: dict | None = None):
        request.status = status
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if request.method != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
