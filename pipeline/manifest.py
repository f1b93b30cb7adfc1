"""Job manifests: what each job was asked to do and how far it got.

A job is identified by what it reads and writes (its inputs and their output paths), so
running the same command again continues the same job. Its manifest records the inputs with
their content hashes, the settings that shape the sound, every chunk's cache key, status and
timings, and each output as written. It lives in one SQLite database
(`$VOXLINE_STATE_DIR`, else `$XDG_STATE_HOME/voxline`, else `~/.local/state/voxline`), written
a chunk at a time, each write a transaction: a killed process leaves the manifest as it was
after its last finished chunk, never half-written.

What a re-run does with it: an input whose content, settings and output are all as the
manifest recorded is up to date and skipped without being read again; a changed input is
prepared again, and only the chunks whose key the cache does not hold are synthesized (the
manifest tells how many of its chunks changed).

The manifest is bookkeeping: if its database cannot be written the job goes on without it,
with one warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import safefiles
from .cache import open_sqlite
from .errors import JobBusy
from .models import InputStatus
from .redact import redact

SETTINGS_THAT_DO_NOT_CHANGE_THE_SOUND = (
    "workers", "retries", "retry_backoff_s", "retry_backoff_max_s", "breaker_failures",
    "breaker_cooldown_s", "cache", "cache_max", "cache_ttl", "verify_threads", "config_file",
    "executor", "ray_address", "ray_gpus", "ray_gpu_backends",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    command TEXT,
    settings TEXT,
    fingerprint TEXT
);
CREATE TABLE IF NOT EXISTS documents (
    job TEXT NOT NULL,
    position INTEGER NOT NULL,
    source TEXT NOT NULL,
    output TEXT NOT NULL,
    sha256 TEXT,
    input_bytes INTEGER,
    state TEXT NOT NULL,
    chunks_total INTEGER,
    chunks_done INTEGER NOT NULL DEFAULT 0,
    chunks_cached INTEGER NOT NULL DEFAULT 0,
    audio_s REAL NOT NULL DEFAULT 0,
    output_bytes INTEGER,
    output_mtime_ns INTEGER,
    fingerprint TEXT,
    error TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (job, position)
);
CREATE TABLE IF NOT EXISTS chunks (
    job TEXT NOT NULL,
    position INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    key TEXT,
    chars INTEGER NOT NULL,
    backend TEXT,
    state TEXT NOT NULL,
    cached INTEGER NOT NULL DEFAULT 0,
    synthesize_s REAL,
    audio_s REAL,
    offset_s REAL,
    error_rate REAL,
    transcript TEXT,
    rejected TEXT,
    PRIMARY KEY (job, position, idx)
);
CREATE TABLE IF NOT EXISTS scores (
    digest TEXT NOT NULL,
    recognizer TEXT NOT NULL,
    error_rate REAL NOT NULL,
    transcript TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (digest, recognizer)
);
CREATE TABLE IF NOT EXISTS books (
    job TEXT PRIMARY KEY,
    output TEXT NOT NULL,
    chapters TEXT NOT NULL,
    audio_s REAL,
    updated REAL NOT NULL
);
"""


def _chunk_entry(row: tuple) -> dict:
    entry = dict(zip(_CHUNK_FIELDS, row))
    entry["cached"] = bool(entry["cached"])
    for name in ("offset_s", "error_rate", "transcript", "rejected"):
        if entry[name] is None:  # not recorded (an older manifest, or no --verify)
            del entry[name]
    if "rejected" in entry:
        entry["rejected"] = json.loads(entry["rejected"])
    return entry


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("VOXLINE_STATE_DIR"):
        return Path(env["VOXLINE_STATE_DIR"]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "voxline"


def job_id(pairs: Iterable[tuple[str, str]]) -> str:
    """The id of the job that reads and writes these (input, output) paths."""
    material = json.dumps([[str(Path(i).resolve()) if i != "-" else "-",
                            str(Path(o).resolve())] for i, o in pairs])
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def settings_fingerprint(settings: Any, versions: Mapping[str, str]) -> str:
    """A hash of every setting that changes the audio, and of the versions of voxline and of
    the plugins that make it."""
    values = {k: v for k, v in asdict(settings).items()
              if k not in SETTINGS_THAT_DO_NOT_CHANGE_THE_SOUND}
    blob = json.dumps({"settings": values, "versions": dict(versions)}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# chunk columns added after the first release: a manifest written before them gets them
_LATER_CHUNK_COLUMNS = {"offset_s": "REAL", "error_rate": "REAL", "transcript": "TEXT",
                        "rejected": "TEXT"}
_CHUNK_FIELDS = ("index", "key", "chars", "backend", "state", "cached", "synthesize_s",
                 "audio_s", "offset_s", "error_rate", "transcript", "rejected")


def _add_columns(db: sqlite3.Connection) -> None:
    present = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
    for column, kind in _LATER_CHUNK_COLUMNS.items():
        if column not in present:
            try:
                db.execute(f"ALTER TABLE chunks ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobLock:
    """One live process per job: an exclusive `flock` on `locks/JOB.lock` in the state
    folder, the file holding its owner's pid for the message another process gets. The
    kernel drops the lock when its process ends, however it ends (kill -9 included), so a
    lock left by a killed run never blocks the next one."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, job: str) -> JobLock | None:
        """The lock of `job`, or None where locking is not possible (no `fcntl`, a state
        folder that cannot be written: the manifest warns about that). Raises `JobBusy`
        when another live process holds it."""
        try:
            import fcntl
        except ImportError:
            return None
        path = Path(folder) / "locks" / f"{job}.lock"
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        while True:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, flags, 0o600)
            except OSError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _lock_owner(fd)
                os.close(fd)
                raise JobBusy(
                    f"job {job} is already running{owner}: two runs of one job would write "
                    "the same outputs",
                    hint="wait for it to end, or stop it, then run the same command again "
                         "to continue; `voxline jobs` lists it") from None
            except OSError:  # a file system without locks
                os.close(fd)
                return None
            # the holder before us removes the file as it lets go: hold the file that is
            # at the path now, not the one it removed
            try:
                mine, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
                if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                    break
            except OSError:
                pass
            os.close(fd)
        owner = json.dumps({"pid": os.getpid(), "host": platform.node(), "started": time.time()})
        os.ftruncate(fd, 0)
        os.write(fd, owner.encode())
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()  # while still held, so no one locks the old file after us
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _lock_owner(fd: int) -> str:
    """' (process PID on HOST, started HH:MM:SS)' from a held lock file, or ''."""
    try:
        owner = json.loads(os.pread(fd, 4096, 0) or b"{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["started"]))
        return f" (process {owner['pid']} on {owner['host']}, started {started})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


class Manifest:
    """The manifests database. Thread-safe; every method swallows database errors after the
    first (reported once through `on_warning`), so bookkeeping never costs a job."""

    def __init__(self, folder: Path | None = None,
                 on_warning: Callable[[str], None] | None = None):
        self.folder = Path(folder) if folder is not None else default_state_dir()
        self._on_warning = on_warning
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self.broken: str | None = None
        self.repaired: Path | None = None  # where a damaged database was moved aside
        try:
            safefiles.private_dir(self.folder)
            self._db = open_sqlite(self.folder / "jobs.sqlite3", _SCHEMA, self._damaged)
            _add_columns(self._db)
        except (OSError, sqlite3.Error) as exc:
            self._broke(exc)

    def _damaged(self, aside: Path, reason: str) -> None:
        self.repaired = aside
        if self._on_warning is not None:
            self._on_warning(f"job manifests {self.folder / 'jobs.sqlite3'} were damaged "
                             f"({reason}); moved aside to {aside.name} and started anew: jobs "
                             "run before are not listed (their outputs and cached chunks are "
                             "kept, and a rerun takes its chunks from the cache)")

    def _broke(self, exc: BaseException) -> None:
        if self.broken is None:
            self.broken = str(exc) or type(exc).__name__
            if self._on_warning is not None:
                self._on_warning(f"job manifest in {self.folder} cannot be written "
                                 f"({self.broken}); going on without it (the chunk cache "
                                 "still lets a rerun resume)")

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        if self._db is None or self.broken is not None:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except BaseException as exc:  # SIGTERM or Ctrl-C too: no transaction left open
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if not isinstance(exc, (OSError, sqlite3.Error)):
                    raise
                self._broke(exc)

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self._db is None:
            return []
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:  # said once, and never read as "nothing recorded"
                self._broke(exc)
                return []

    # -- a job's life ------------------------------------------------------------------

    def previous(self, job: str) -> dict[str, dict]:
        """What the manifest of `job` says of each output, by output path."""
        columns = ("source", "output", "sha256", "state", "chunks_total", "chunks_done",
                   "audio_s", "output_bytes", "output_mtime_ns", "fingerprint")
        rows = self._read(f"SELECT {', '.join(columns)}, position FROM documents "
                          "WHERE job = ?", (job,))
        found = {}
        for row in rows:
            entry = dict(zip(columns, row))
            entry["keys"] = [k for (k,) in self._read(
                "SELECT key FROM chunks WHERE job = ? AND position = ? ORDER BY idx",
                (job, row[-1]))]
            found[entry["output"]] = entry
        return found

    def begin(self, job: str, outputs: list[tuple[str, str]], settings: Mapping[str, Any],
              fingerprint: str) -> None:
        now = time.time()
        statements = [(
            "INSERT INTO jobs (id, created, updated, state, pid, host, command, settings, "
            "fingerprint) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
            "SET updated = excluded.updated, state = 'running', pid = excluded.pid, "
            "host = excluded.host, command = excluded.command, settings = excluded.settings, "
            "fingerprint = excluded.fingerprint",
            (job, now, now, os.getpid(), platform.node(), json.dumps(redact(sys.argv)),
             json.dumps(redact(dict(settings)), default=str), fingerprint))]
        for position, (source, output) in enumerate(outputs):
            statements.append((
                "INSERT INTO documents (job, position, source, output, state, updated) "
                "VALUES (?, ?, ?, ?, 'queued', ?) ON CONFLICT(job, position) DO UPDATE SET "
                "source = excluded.source, output = excluded.output, updated = excluded.updated, "
                "state = CASE WHEN documents.state = 'done' THEN 'done' ELSE 'queued' END",
                (job, position, source, output, now)))
        statements.append(("DELETE FROM documents WHERE job = ? AND position >= ?",
                           (job, len(outputs))))
        self._write(statements)

    def document_started(self, job: str, position: int, sha256: str | None,
                         input_bytes: int | None, fingerprint: str,
                         total: int | None) -> None:
        self._write([
            ("UPDATE documents SET state = 'running', sha256 = ?, input_bytes = ?, "
             "fingerprint = ?, chunks_total = ?, chunks_done = 0, chunks_cached = 0, "
             "audio_s = 0, error = NULL, updated = ? WHERE job = ? AND position = ?",
             (sha256, input_bytes, fingerprint, total, time.time(), job, position)),
            ("DELETE FROM chunks WHERE job = ? AND position = ?", (job, position)),
        ])

    def chunk_done(self, job: str, position: int, index: int, key: str | None, chars: int,
                   backend: str, cached: bool, synthesize_s: float, audio_s: float,
                   offset_s: float | None = None, verified: Mapping[str, Any] | None = None
                   ) -> None:
        """A chunk written to its output: where it starts there (`offset_s`), and with
        --verify its error rate, what the recognizer heard and the attempts rejected before
        it (`verified`: `error_rate`, `transcript`, `rejected` as a list of dicts)."""
        verified = verified or {}
        rejected = verified.get("rejected")
        self._write([
            ("INSERT OR REPLACE INTO chunks (job, position, idx, key, chars, backend, state, "
             "cached, synthesize_s, audio_s, offset_s, error_rate, transcript, rejected) "
             "VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?)",
             (job, position, index, key, chars, backend, int(cached), round(synthesize_s, 4),
              round(audio_s, 4), None if offset_s is None else round(offset_s, 4),
              verified.get("error_rate"), verified.get("transcript"),
              json.dumps(rejected, ensure_ascii=False) if rejected else None)),
            ("UPDATE documents SET chunks_done = chunks_done + 1, "
             "chunks_cached = chunks_cached + ?, audio_s = audio_s + ?, updated = ? "
             "WHERE job = ? AND position = ?",
             (int(cached), audio_s, time.time(), job, position)),
        ])

    def document_finished(self, job: str, position: int, state: str, *,
                          total: int | None = None, output: Path | None = None,
                          error: str | None = None, audio_s: float | None = None) -> None:
        size = mtime = None
        if output is not None:
            try:
                stat = output.stat()
                size, mtime = stat.st_size, stat.st_mtime_ns
            except OSError:
                pass
        self._write([(
            "UPDATE documents SET state = ?, error = ?, output_bytes = ?, "
            "output_mtime_ns = ?, chunks_total = COALESCE(?, chunks_total), "
            "audio_s = COALESCE(?, audio_s), updated = ? WHERE job = ? AND position = ?",
            (state, redact(error), size, mtime, total, audio_s, time.time(), job, position))])

    def book_written(self, job: str, output: str, chapters: list[dict],
                     audio_s: float) -> None:
        """A --chapters job's book and its table of contents (title, source, start_s,
        end_s per chapter)."""
        self._write([(
            "INSERT OR REPLACE INTO books VALUES (?, ?, ?, ?, ?)",
            (job, output, json.dumps(chapters, ensure_ascii=False), audio_s, time.time()))])

    def finish(self, job: str, state: str) -> None:
        self._write([("UPDATE jobs SET state = ?, updated = ?, pid = NULL WHERE id = ?",
                      (state, time.time(), job))])

    # -- for `voxline jobs` --------------------------------------------------------------

    def jobs(self) -> list[dict]:
        out = []
        for job, created, updated, state, pid in self._read(
                "SELECT id, created, updated, state, pid FROM jobs ORDER BY updated DESC"):
            if state == "running" and not _pid_alive(pid):
                state = "stopped"  # killed, or the machine went down: run it again to resume
            docs = self._read(
                "SELECT state, chunks_total, chunks_done, chunks_cached, audio_s, output "
                "FROM documents WHERE job = ? ORDER BY position", (job,))
            out.append({
                "id": job, "state": state, "created": created, "updated": updated,
                "pid": pid if state == "running" else None,
                "documents": len(docs),
                "done": sum(1 for d in docs if d[0] in ("done", InputStatus.UP_TO_DATE)),
                "failed": sum(1 for d in docs if d[0] == "failed"),
                "chunks_done": sum(d[2] for d in docs),
                "chunks_total": sum(d[1] or 0 for d in docs),
                "audio_s": round(sum(d[4] for d in docs), 1),
                "output": str(Path(docs[0][5]).parent) if docs else None,
            })
        return out

    def show(self, job: str) -> dict | None:
        """The whole manifest of a job (`job` may be a unique prefix of its id)."""
        matches = [j for (j,) in self._read("SELECT id FROM jobs WHERE id LIKE ?",
                                             (job + "%",))]
        if len(matches) != 1:
            return None
        job = matches[0]
        summary = next(j for j in self.jobs() if j["id"] == job)
        command, settings = self._read("SELECT command, settings FROM jobs WHERE id = ?",
                                       (job,))[0]
        columns = ("position", "source", "output", "sha256", "input_bytes", "state",
                   "chunks_total", "chunks_done", "chunks_cached", "audio_s", "output_bytes",
                   "error")
        documents = []
        for row in self._read(f"SELECT {', '.join(columns)} FROM documents WHERE job = ? "
                              "ORDER BY position", (job,)):
            doc = dict(zip(columns, row))
            doc["chunks"] = [
                _chunk_entry(r) for r in self._read(
                    "SELECT idx, key, chars, backend, state, cached, synthesize_s, audio_s, "
                    "offset_s, error_rate, transcript, rejected "
                    "FROM chunks WHERE job = ? AND position = ? ORDER BY idx",
                    (job, doc["position"]))]
            documents.append(doc)
        book = self._read("SELECT output, chapters, audio_s FROM books WHERE job = ?", (job,))
        # redacted again on the way out: manifests written before voxline redacted them
        return {**summary, "command": redact(json.loads(command or "[]")),
                "settings": redact(json.loads(settings or "{}")), "documents": documents,
                **({"book": {"output": book[0][0], "chapters": json.loads(book[0][1]),
                             "audio_s": book[0][2]}} if book else {})}

    def find_output(self, output: Path, sha256: str) -> dict | None:
        """The latest finished record of a file named like `output`, made from an input
        whose content hash is `sha256`, and as big as `output` is now (for `voxline
        verify`): its job, settings and chunks; None when there is none."""
        try:
            size = Path(output).stat().st_size
        except OSError:
            return None
        rows = self._read(
            "SELECT d.job, d.position, d.output, j.settings FROM documents d "
            "JOIN jobs j ON j.id = d.job WHERE d.sha256 = ? AND d.state = 'done' "
            "AND d.output_bytes = ? ORDER BY d.updated DESC", (sha256, size))
        for job, position, written, settings in rows:
            if Path(written).name != Path(output).name:
                continue
            chunks = [_chunk_entry(r) for r in self._read(
                "SELECT idx, key, chars, backend, state, cached, synthesize_s, audio_s, "
                "offset_s, error_rate, transcript, rejected FROM chunks WHERE job = ? AND "
                "position = ? ORDER BY idx", (job, position))]
            return {"job": job, "settings": json.loads(settings or "{}"), "chunks": chunks}
        return None

    def score(self, digest: str, recognizer: str) -> tuple[float, str] | None:
        """A verification score recorded for this audio and text (`digest`) by this
        recognizer: (error rate, transcript), or None."""
        rows = self._read("SELECT error_rate, transcript FROM scores WHERE digest = ? AND "
                          "recognizer = ?", (digest, recognizer))
        return (rows[0][0], rows[0][1]) if rows else None

    def record_score(self, digest: str, recognizer: str, error_rate: float,
                     transcript: str) -> None:
        self._write([("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?)",
                      (digest, recognizer, error_rate, transcript, time.time()))])

    def forget(self, older_than_s: float | None = None) -> int:
        """Remove finished jobs' manifests (those not updated for `older_than_s`)."""
        cutoff = time.time() - (older_than_s or 0)
        victims = [j["id"] for j in self.jobs()
                   if j["state"] != "running" and j["updated"] <= cutoff]
        statements = []
        for job in victims:
            for table, column in (("chunks", "job"), ("documents", "job"), ("books", "job"),
                                  ("jobs", "id")):
                statements.append((f"DELETE FROM {table} WHERE {column} = ?", (job,)))
        self._write(statements)
        return len(victims)

    def close(self) -> None:
        if self._db is not None:
            with self._lock:
                try:
                    self._db.close()
                except sqlite3.Error:
                    pass
