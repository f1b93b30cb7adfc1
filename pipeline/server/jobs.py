"""Long-form work over HTTP: `POST /v1/jobs` stores a job's inputs in a folder of its own,
one runner thread runs the jobs one at a time (in the order they came) on the server's
resident backends, shared workers and chunk cache, and the outputs are downloaded from the
same folder.

A job is an ordinary voxline job (`voxline.job.Pipeline.run` with its manifest kept), so a
server killed mid-job loses nothing that was finished: on the next start every job not done is
queued again, and the chunks already made come from the cache. Each job's folder holds
`job.json` (what was asked, its state and progress), `inputs/` and `outputs/`; nothing is
read or written outside it, names sent by clients are made safe, and links are never followed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import stat
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import voxline
from voxline import safefiles
from voxline.audio import FORMATS
from voxline.control import JobControl
from voxline.errors import JobBusy, VoxlineError
from voxline.job import Job, Pipeline, output_specs, safe_name
from voxline.settings import with_values

from .speech import RequestError

# the [synth] settings a job may choose, as `voxline synth` options do; the server's own
# (workers, cache, executor, lexicon files, config) are not a client's to change
JOB_SETTINGS = ("backend", "voice", "lang", "dialect", "sample_rate", "format", "subtitles",
                "subtitle_chars", "loudness", "peak", "fallback", "retries", "quality_guard",
                "verify", "verify_max_error", "max_rtf", "degrade_to", "voices",
                "sentence_pause", "paragraph_pause", "turn_pause", "first_chunk_chars")
UNFINISHED = ("queued", "running")
MAX_NAME_CHARS = 120
_ID = re.compile(r"[0-9a-f]{16}")
RECORD = "job.json"


class JobQueue:
    """The server's jobs: stored under `folder`, run one at a time by one thread."""

    def __init__(self, service, folder: Path, *, max_queued: int = 100):
        self.service = service
        self.folder = safefiles.private_dir(Path(folder))
        self._lock_fd = self._hold(self.folder)
        self.max_queued = max_queued
        self._lock = threading.RLock()
        self._records: dict[str, dict] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._running: tuple[str, JobControl] | None = None
        self._progress: dict[str, tuple[str, int]] = {}  # input path → (job id, position)
        self._stopping = False
        self.resumed: list[str] = []
        for record in sorted(self._stored(), key=lambda r: r["created"]):
            self._records[record["id"]] = record
            if record["state"] in UNFINISHED:  # stopped by a kill or a shutdown: go on
                record["state"] = "queued"
                record["resumed"] = record.get("resumed", 0) + 1
                self._save(record)
                self.resumed.append(record["id"])
                self._queue.put(record["id"])
        service.pm.register(self, name="voxline.server.jobs")
        self._thread = threading.Thread(target=self._run, name="voxline-jobs", daemon=True)
        self._thread.start()

    # -- storage ---------------------------------------------------------------------------

    @staticmethod
    def _hold(folder: Path) -> int:
        """The jobs folder's lock, held while this server runs (the kernel lets go of it
        when the process dies, even by kill -9): two servers on one folder would run the
        same jobs twice."""
        import fcntl

        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0), safefiles.PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise JobBusy(f"jobs folder {folder} is in use by another voxline serve "
                          f"(pid {owner})",
                          hint="give each server its own --jobs-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def _stored(self) -> list[dict]:
        found = []
        for entry in os.scandir(self.folder):
            if not _ID.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                record = json.loads(self._read_plain(Path(entry.path) / RECORD))
            except (OSError, ValueError):
                continue  # a job whose submission never completed
            if isinstance(record, dict) and record.get("id") == entry.name:
                found.append(record)
        return found

    @staticmethod
    def _read_plain(path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def _save(self, record: dict) -> None:
        safefiles.write_atomic(self.folder / record["id"] / RECORD,
                               json.dumps(record, ensure_ascii=False, indent=1),
                               safefiles.PRIVATE_FILE)

    def queued(self) -> int:
        """Jobs waiting to start (the running one not counted)."""
        with self._lock:
            return sum(1 for r in self._records.values() if r["state"] == "queued")

    # -- what clients ask --------------------------------------------------------------------

    def submit(self, documents: list[tuple[str, bytes]], values: Mapping[str, Any],
               owner: str | None = None) -> dict:
        """A new job of `documents` (name, content) with the settings `values`: stored, and
        queued behind the jobs before it. `owner` (a hash of the client's API key, when the
        server has keys) is the only client that sees, downloads or cancels it."""
        if not documents:
            raise RequestError(400, "a job needs text ('input') or at least one file ('file')",
                               param="input")
        unknown = sorted(set(values) - set(JOB_SETTINGS))
        if unknown:
            raise RequestError(400, f"unknown setting {unknown[0]!r} (a job takes: "
                                    f"{', '.join(JOB_SETTINGS)})", param=unknown[0])
        self.settings_of(dict(values))  # refused now, not when the job runs
        names: list[str] = []
        for name, content in documents:
            safe = safe_name(name)[-MAX_NAME_CHARS:].lstrip(".") or "input"
            twin = next((n for n in names if Path(n).stem == Path(safe).stem), None)
            if twin is not None:  # both would be written to the same output
                raise RequestError(400, f"two inputs are named {safe!r} and {twin!r}; their "
                                        "outputs would have the same name", param="file")
            if not content.strip():
                raise RequestError(400, f"{safe!r} is empty: nothing to speak", param="file")
            names.append(safe)
        with self._lock:
            if self._stopping:
                raise RequestError(503, "the server is stopping", kind="server_error",
                                   code="stopping", headers={"Retry-After": "5"})
            if self.queued() >= self.max_queued:
                raise RequestError(503, f"{self.max_queued} jobs are waiting already; try "
                                        "again later", kind="server_error", code="queue_full",
                                   headers={"Retry-After": "30"})
            job_id = secrets.token_hex(8)
            folder = self.folder / job_id
            os.mkdir(folder, safefiles.PRIVATE_DIR)
            os.mkdir(folder / "inputs", safefiles.PRIVATE_DIR)
            os.mkdir(folder / "outputs", safefiles.PRIVATE_DIR)
            for name, (_, content) in zip(names, documents):
                safefiles.write_atomic(folder / "inputs" / name, content, safefiles.PRIVATE_FILE)
            record = {"id": job_id, "object": "job", "created": round(time.time(), 3),
                      "state": "queued", "settings": dict(values), "inputs": names,
                      "documents": [{"input": n, "state": "queued"} for n in names],
                      "error": None, "resumed": 0, "owner": owner}
            self._save(record)
            self._records[job_id] = record
            self._queue.put(job_id)
        return self.describe(job_id, owner)

    def record(self, job_id: str, owner: str | None = None) -> dict:
        """The job `job_id`; one another client's key submitted is not found, as if it did
        not exist (`owner` None: the server has no keys, every client sees every job)."""
        with self._lock:
            record = self._records.get(job_id) if _ID.fullmatch(job_id) else None
            if record is None or not _visible(record, owner):
                raise RequestError(404, f"no job {job_id!r}", param="id", code="job_not_found")
            return record

    def describe(self, job_id: str, owner: str | None = None) -> dict:
        """What `GET /v1/jobs/{id}` answers: the job's state, each document's progress and
        the files to download."""
        with self._lock:
            record = json.loads(json.dumps(self.record(job_id, owner)))
        record.pop("owner", None)
        record["files"] = [{"name": name, "bytes": size,
                            "url": f"/v1/jobs/{job_id}/files/{quote(name)}"}
                           for name, size in self._files(job_id)]
        return record

    def list(self, owner: str | None = None) -> list[dict]:
        with self._lock:
            records = sorted((r for r in self._records.values() if _visible(r, owner)),
                             key=lambda r: r["created"])
            return [{k: r[k] for k in ("id", "object", "created", "state", "inputs")}
                    for r in records]

    def cancel(self, job_id: str, owner: str | None = None) -> dict:
        """An unfinished job is cancelled (its files kept: done documents stay
        downloadable); a finished one is removed with its files."""
        with self._lock:
            record = self.record(job_id, owner)
            if record["state"] in UNFINISHED:
                if self._running is not None and self._running[0] == job_id:
                    self._running[1].cancel()  # the runner records the end
                record["state"] = "cancelled"
                self._save(record)
                return self.describe(job_id, owner)
            del self._records[job_id]
        self._remove(self.folder / job_id)
        return {"id": job_id, "object": "job", "deleted": True}

    def _remove(self, folder: Path) -> None:
        for root, dirs, files in os.walk(folder, topdown=False):  # never follows links
            for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                if not os.path.islink(os.path.join(root, name)):
                    os.rmdir(os.path.join(root, name))
        os.rmdir(folder)

    def _files(self, job_id: str) -> list[tuple[str, int]]:
        outputs = self.folder / job_id / "outputs"
        found = []
        for root, dirs, files in os.walk(outputs):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in sorted(files):
                path = Path(root) / name
                info = os.lstat(path)
                if not name.startswith(".") and stat.S_ISREG(info.st_mode):
                    found.append((path.relative_to(outputs).as_posix(), info.st_size))
        return sorted(found)

    def file(self, job_id: str, name: str, owner: str | None = None) -> Path:
        """The output `name` of a job: a plain file inside its outputs folder, or a
        RequestError (400 for a name that climbs out, 404 for none)."""
        self.record(job_id, owner)
        parts = name.split("/")
        if (not name or name.startswith("/") or "\\" in name or "\x00" in name
                or any(p in ("", ".", "..") for p in parts)):
            raise RequestError(400, f"{name!r} is not a file name of this job", param="name",
                               code="invalid_file_name")
        outputs = self.folder / job_id / "outputs"
        if not any(found == name for found, _ in self._files(job_id)):
            raise RequestError(404, f"job {job_id} has no file {name!r}", param="name",
                               code="file_not_found")
        path = outputs.joinpath(*parts)
        if not os.path.realpath(path).startswith(os.path.realpath(outputs) + os.sep):
            raise RequestError(404, f"job {job_id} has no file {name!r}", param="name",
                               code="file_not_found")
        return path

    # -- running -----------------------------------------------------------------------------

    def settings_of(self, values: dict):
        try:
            settings = with_values(self.service.settings, values, "job")
        except VoxlineError as exc:
            raise RequestError(400, str(exc), code="invalid_setting") from None
        # a voice must be one a backend lists: some backends take a path as a voice (a
        # Piper .onnx file, a ChatTTS speaker file), which would read the server's files
        chosen = {"voice": settings.voice if "voice" in values else None,
                  "degrade_to": settings.degrade_to if "degrade_to" in values else None}
        if "voices" in values:
            chosen.update({f"voices.{label}": voice
                           for label, voice in settings.speakers.items()})
        for param, voice in chosen.items():
            if not voice:
                continue
            if param == "degrade_to" and ":" not in voice:
                if voice not in self.service.registry.backends:
                    raise RequestError(400, f"unknown backend {voice!r}", param=param,
                                       code="invalid_setting")
                continue
            try:
                resolved = self.service.resolve(None, voice)[1]
            except RequestError as exc:
                exc.param = param.partition(".")[0]
                raise
            if resolved is None:
                raise RequestError(400, f"{param}: name a voice GET /v1/models lists, "
                                        f"not {voice!r}", param=param.partition(".")[0],
                                   code="invalid_voice")
        if values.keys() & {"backend", "voice", "voices", "fallback", "degrade_to", "dialect"}:
            from voxline.cli.synth import check_backends

            try:
                check_backends(self.service.registry, settings)
            except VoxlineError as exc:
                raise RequestError(400, str(exc), code="invalid_setting") from None
        return settings

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                record = self._records.get(job_id)
                if record is None or record["state"] != "queued" or self._stopping:
                    continue
                control = JobControl()
                self._running = (job_id, control)
                record["state"] = "running"
                record["started"] = round(time.time(), 3)
                self._save(record)
            try:
                self._run_one(record, control)
            except Exception as exc:  # noqa: BLE001 - the job fails, the server goes on
                with self._lock:
                    record["state"] = "failed"
                    record["error"] = self._told(job_id, str(exc) or type(exc).__name__)
                    self._save(record)
            finally:
                with self._lock:
                    self._running = None
                    self._progress.clear()

    def _run_one(self, record: dict, control: JobControl) -> None:
        service = self.service
        settings = self.settings_of(dict(record["settings"]))
        folder = self.folder / record["id"]
        inputs = folder / "inputs"
        specs = output_specs([(inputs / name, inputs) for name in record["inputs"]],
                             folder / "outputs", FORMATS[settings.format], False)
        with self._lock:
            self._progress = {str(spec.source): (record["id"], n)
                              for n, spec in enumerate(specs)}
        # the job's chunks wait behind speech requests' for the shared workers
        pipeline = Pipeline(service.pm, service.registry, settings, pool=service.pool,
                            threads=service.executor.lane(1), store=service.store)
        report = pipeline.run(Job(specs, settings), control, record=True)
        with self._lock:
            for document, result in zip(record["documents"], report.documents):
                document.update({
                    "state": "done" if result.ok else
                    "cancelled" if report.cancelled else "failed",
                    "status": result.status, "chunks": result.chunks,
                    "chunks_done": result.chunks if result.ok else
                    document.get("chunks_done", 0),
                    "cached": result.cached, "audio_s": round(result.audio_s, 3),
                    "error": self._told(record["id"], result.error),
                    "output": _relative(result.output, folder / "outputs"),
                    "subtitles": _relative(result.subtitles, folder / "outputs")})
            if self._stopping and report.interrupted:
                record["state"] = "queued"  # the next start goes on from here
            elif record["state"] == "cancelled" or report.cancelled:
                record["state"] = "cancelled"
            else:
                record["state"] = "done" if all(d.ok for d in report.documents) else "failed"
                failed = next((d for d in report.documents if not d.ok), None)
                record["error"] = (self._told(record["id"], failed.error)
                                   if failed is not None else None)
            record["finished"] = round(time.time(), 3)
            record["manifest"] = report.job_id
            record["wall_s"] = round(report.wall_s, 3)
            self._save(record)

    def _told(self, job_id: str, message: str | None) -> str | None:
        """A message as a client may see it: the job's files by their names, not by where
        the server keeps them."""
        if message is None:
            return None
        for folder in (self.folder / job_id / "inputs", self.folder / job_id / "outputs"):
            for form in {str(folder), str(folder.resolve())}:
                message = message.replace(form + os.sep, "")
        return message

    @voxline.hookimpl
    def document_started(self, document, chunk_count):
        self._note(document, {"state": "running", "chunks": chunk_count, "chunks_done": 0,
                              "cached": 0, "audio_s": 0.0})

    @voxline.hookimpl
    def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
        self._note(document, None, audio_duration_s, cached)

    def _note(self, document, start: dict | None, audio_s: float = 0.0,
              cached: bool = False) -> None:
        with self._lock:
            where = self._progress.get(document.source) if document is not None else None
            if where is None:
                return
            record = self._records.get(where[0])
            if record is None:
                return
            entry = record["documents"][where[1]]
            if start is not None:
                entry.update(start)
            else:
                entry["chunks_done"] = entry.get("chunks_done", 0) + 1
                entry["cached"] = entry.get("cached", 0) + int(bool(cached))
                entry["audio_s"] = round(entry.get("audio_s", 0.0) + audio_s, 3)

    def close(self) -> None:
        """Stop taking jobs; the running one stops at its next chunk and is queued again
        for the next start (its finished chunks are in the cache and the manifest)."""
        with self._lock:
            self._stopping = True
            if self._running is not None:
                self._running[1].cancel()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.service.pm.unregister(self)
        os.close(self._lock_fd)


def _relative(path: str | None, folder: Path) -> str | None:
    if not path:
        return None
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def _visible(record: dict, owner: str | None) -> bool:
    """Whether a client (`owner`: its key's hash; None where the server has no keys) may see
    a job: its own, or any job submitted while the server had no keys."""
    return owner is None or record.get("owner") in (None, owner)
