"""The chunk cache: finished chunk audio, content-addressed, so that a job run again (after a
crash, a kill, or just again) synthesizes only what it has not synthesized before.

What is stored is exactly what goes into the output: a chunk's PCM after tempo, gain and
resampling (mono signed 16-bit at the output rate). The key covers everything that changes
those samples (`chunk_key`). Assembly from cached chunks is therefore byte-identical to the
run that stored them.

The local store is a folder of raw PCM files plus an SQLite index (WAL mode, so several voxline
processes can share it), bounded in size with least-recently-used eviction; every entry
carries a checksum, and an entry whose file is missing, truncated or altered is dropped and
re-synthesized, never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import safefiles
from .errors import OutputError, UsageError
from .redact import redact

DEFAULT_REDIS_TTL_S = 7 * 86400
CACHE_FORMAT = 1  # bump when what is stored, or how the key is made, changes


def chunk_key(*, text: str, language: str, backend: str, backend_version: str,
              voice: str | None, options: Mapping[str, Any], prosody: tuple[float, ...],
              controls: frozenset[str], normalizer: str, sample_rate_hz: int,
              breaks: tuple[tuple[int, float], ...] = (),
              phonemes: tuple = ()) -> str:
    """The content address of one chunk's output audio.

    `text` is the normalized text the backend speaks; `options` the backend's configuration
    minus what cannot change the sound (timeouts, concurrency); `prosody` the chunk's rate,
    pitch and volume, and `controls` which of them the backend applies itself (the rest is
    applied by voxline); `normalizer` the name and version of the normalizer that produced
    the text; `sample_rate_hz` the output rate; `breaks` the pauses the backend speaks
    inside the text (left out of the key when there are none, so older keys still match);
    `phonemes` the `PhonemeSpan`s the backend reads (the lexicon's entries that touch the
    chunk, in its alphabets; left out when there are none, likewise).
    """
    material = {
        "format": CACHE_FORMAT, "text": text, "language": language, "backend": backend,
        "backend_version": backend_version, "voice": voice, "options": options,
        "prosody": list(prosody), "controls": sorted(controls), "normalizer": normalizer,
        "rate": sample_rate_hz,
    }
    if breaks:
        material["breaks"] = [list(b) for b in breaks]
    if phonemes:
        material["phonemes"] = [[p.start, p.end, p.alphabet, p.phonemes] for p in phonemes]
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def checksum(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6,
          "mib": 2**20, "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12,
          "tib": 2**40}


def parse_size(text: str | int) -> int:
    """`5GB`, `500 MiB`, `1e9`-free plain numbers of bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    unit = (match.group(2) or "").lower() if match else None
    if not match or unit not in _UNITS:
        raise UsageError(f"cannot read {text!r} as a size (examples: 500MB, 5GB, 2GiB)")
    return int(float(match.group(1)) * _UNITS[unit])


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)


def parse_age(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` in seconds."""
    match = _AGE.match(text)
    if not match:
        raise UsageError(f"cannot read {text!r} as an age (examples: 12h, 7d, 2w)")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400,
                                    "w": 604800}[match.group(2).lower()]


@dataclass
class CacheCounts:
    hits: int = 0
    misses: int = 0
    stored: int = 0
    corrupt: int = 0
    evicted: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **changes: int) -> None:
        with self.lock:
            for key, amount in changes.items():
                setattr(self, key, getattr(self, key) + amount)

    def to_dict(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "stored": self.stored,
                "corrupt": self.corrupt, "evicted": self.evicted, "errors": self.errors}


class ChunkStore(Protocol):
    """What a cache store offers the pipeline; `get` and `put` must be thread-safe."""

    counts: CacheCounts
    description: str

    def get(self, key: str) -> bytes | None: ...
    def size(self, key: str) -> int | None: ...
    def put(self, key: str, pcm: bytes, meta: Mapping[str, Any]) -> None: ...
    def close(self) -> None: ...


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("VOXLINE_CACHE_DIR"):
        return Path(env["VOXLINE_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "voxline"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    key TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    backend TEXT,
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_last_used ON chunks(last_used);
"""


class DamagedDatabase(sqlite3.DatabaseError):
    """SQLite's own check found a database damaged."""


def is_damaged(exc: BaseException) -> bool:
    """Whether `exc` says the database file itself is damaged (garbage, truncated), as
    opposed to busy, locked or unreadable."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, DamagedDatabase) or code in (11, 26)  # SQLITE_CORRUPT, _NOTADB


def open_sqlite(path: Path, schema: str,
                on_damaged: Callable[[Path, str], None] | None = None) -> sqlite3.Connection:
    """An SQLite database shared by threads and by several voxline processes: WAL mode,
    autocommit (explicit transactions where needed), a 30 s wait for locks. A new database
    is private to the user (0600; SQLite gives its WAL and shared-memory files the same
    mode), and it is never opened through a link.

    With `on_damaged`, the database is checked (`PRAGMA quick_check`) and a damaged one
    (garbage, truncated) is moved aside as `NAME.damaged-TIME` and a new one started, the
    move reported as `on_damaged(aside, reason)`; without it, damage raises."""
    try:
        return _open_sqlite(path, schema, check=on_damaged is not None)
    except sqlite3.DatabaseError as exc:
        if on_damaged is None or not is_damaged(exc):
            raise
    with _exclusive(path.with_name(path.name + ".lock")):
        try:  # another process may have moved it aside while this one waited
            return _open_sqlite(path, schema, check=True)
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                raise
            reason = str(exc) or type(exc).__name__
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):  # its journal belongs to it, not to the new one
            try:
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
            except FileNotFoundError:
                pass
        db = _open_sqlite(path, schema, check=False)
    on_damaged(aside, reason)
    return db


def _open_sqlite(path: Path, schema: str, *, check: bool) -> sqlite3.Connection:
    safefiles.private_file(path)
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    # switching a new database to WAL takes it exclusively and does not wait on the busy
    # timeout: two processes opening the same new cache at once can see "database is
    # locked" here, so the setup is retried for as long as the lock timeout
    deadline = time.monotonic() + 30
    delay = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(schema)
            if check:
                verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
                if verdict != "ok":
                    raise DamagedDatabase(f"database disk image is malformed ({verdict})")
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        except BaseException:
            db.close()
            raise


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on `path` (a small file beside a database), where the system
    has `flock`."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class LocalStore:
    """A folder of chunk PCM files with an SQLite index."""

    def __init__(self, root: Path, max_bytes: int | None = None,
                 on_warning: "Callable[[str], None] | None" = None):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.counts = CacheCounts()
        self.description = str(self.root)
        self.repaired: Path | None = None  # where a damaged index was moved aside
        self._on_warning = on_warning
        try:
            safefiles.private_dir(self.root)
            (self.root / "audio").mkdir(exist_ok=True)
            self._db = open_sqlite(self.root / "index.sqlite3", _SCHEMA, self._damaged)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cache folder {self.root} is not usable: {exc}",
                             hint="give another with --cache DIR, or --no-cache") from None
        self._lock = threading.Lock()
        self._puts_since_check = 0
        self.clean_temporary()
        if max_bytes is not None:  # a smaller bound than the last run's holds from now
            self._evict_quietly()

    def _damaged(self, aside: Path, reason: str) -> None:
        self.repaired = aside
        if self._on_warning is not None:
            self._on_warning(
                f"cache index {self.root / 'index.sqlite3'} was damaged ({reason}); moved "
                f"aside to {aside.name} and started a new one: chunks are synthesized again "
                f"as needed (`voxline cache verify --repair --cache {self.root}` takes back "
                "the chunk files already there)")

    def _evict_quietly(self) -> None:
        try:
            self.evict()
        except sqlite3.Error:  # a busy index costs only the bound, this time
            self.counts.add(errors=1)

    def path(self, key: str) -> Path:
        return self.root / "audio" / key[:2] / f"{key}.pcm"

    def clean_temporary(self, older_than_s: float = 3600) -> int:
        """Remove temporary files a killed process left behind (older than an hour, so a
        running process's files are never touched)."""
        removed = 0
        cutoff = time.time() - older_than_s
        for tmp in (self.root / "audio").glob("*/*.tmp*"):
            try:
                if tmp.lstat().st_mtime < cutoff:
                    tmp.unlink()  # a link is removed as a name, never followed
                    removed += 1
            except OSError:
                pass
        return removed

    def size(self, key: str) -> int | None:
        """The size of a stored chunk's PCM, if the index has it (its file is not read)."""
        try:
            with self._lock:
                row = self._db.execute("SELECT bytes FROM chunks WHERE key = ?",
                                       (key,)).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def get(self, key: str) -> bytes | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT bytes, checksum FROM chunks WHERE key = ?",
                                       (key,)).fetchone()
        except sqlite3.Error:  # an index that fails mid-job costs the cache, not the job
            self.counts.add(errors=1, misses=1)
            return None
        if row is None:
            self.counts.add(misses=1)
            return None
        try:
            data = self.path(key).read_bytes()
        except OSError:
            data = None
        if data is None or len(data) != row[0] or checksum(data) != row[1]:
            try:
                self._drop(key)
            except sqlite3.Error:
                pass
            self.counts.add(corrupt=1, misses=1)
            return None
        try:
            with self._lock:
                self._db.execute("UPDATE chunks SET last_used = ? WHERE key = ?",
                                 (time.time(), key))
        except sqlite3.Error:
            pass  # only its place in the eviction order is lost
        self.counts.add(hits=1)
        return data

    def put(self, key: str, pcm: bytes, meta: Mapping[str, Any]) -> None:
        target = self.path(key)
        tmp = None
        try:
            target.parent.mkdir(exist_ok=True)
            fd, tmp = safefiles.create_exclusive(target.parent, f"{target.name}.tmp",
                                                 mode=safefiles.PRIVATE_FILE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pcm)
            os.replace(tmp, target)
            now = time.time()
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, len(pcm), checksum(pcm), int(meta.get("sample_rate_hz", 0)),
                     meta.get("backend"), now, now))
                self._puts_since_check += 1
                check = self.max_bytes is not None and self._puts_since_check >= 32
            self.counts.add(stored=1)
            if check:
                self.evict()
        except (OSError, sqlite3.Error):
            # a full disk or a locked index costs only the cache, never the job
            self.counts.add(errors=1)
            try:
                if tmp is not None:
                    tmp.unlink()
            except OSError:
                pass

    def _drop(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM chunks WHERE key = ?", (key,))
        self._remove_files([key])

    def _remove_files(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.path(key).unlink()
            except OSError:
                pass

    def evict(self, max_bytes: int | None = None) -> int:
        """Remove least recently used entries until the store is within 90 % of its bound."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        if limit is None:
            return 0
        with self._lock:
            self._puts_since_check = 0
            total = self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM chunks").fetchone()[0]
            if total <= limit:
                return 0
            goal = int(limit * 0.9)
            victims = []
            for key, size in self._db.execute(
                    "SELECT key, bytes FROM chunks ORDER BY last_used"):
                if total <= goal:
                    break
                victims.append(key)
                total -= size
            self._db.executemany("DELETE FROM chunks WHERE key = ?", [(k,) for k in victims])
        self._remove_files(victims)
        self.counts.add(evicted=len(victims))
        return len(victims)

    # -- for `voxline cache` -------------------------------------------------------------

    def stats(self) -> dict:
        with self._lock:
            entries, total, oldest, newest = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(created), MAX(last_used) "
                "FROM chunks").fetchone()
            by_backend = dict(self._db.execute(
                "SELECT COALESCE(backend, '?'), COUNT(*) FROM chunks GROUP BY backend"
            ).fetchall())
            audio_s = self._db.execute(
                "SELECT COALESCE(SUM(bytes / 2.0 / sample_rate), 0) FROM chunks "
                "WHERE sample_rate > 0").fetchone()[0]
        return {"store": str(self.root), "entries": entries, "bytes": total,
                "audio_s": round(audio_s, 1), "max_bytes": self.max_bytes,
                "oldest": oldest, "last_used": newest, "backends": by_backend}

    def clear(self, older_than_s: float | None = None) -> int:
        """Remove every entry and every chunk file (those of a damaged index moved aside
        too), or the entries not used for `older_than_s` seconds."""
        with self._lock:
            if older_than_s is None:
                keys = [k for (k,) in self._db.execute("SELECT key FROM chunks")]
            else:
                keys = [k for (k,) in self._db.execute(
                    "SELECT key FROM chunks WHERE last_used < ?",
                    (time.time() - older_than_s,))]
            self._db.executemany("DELETE FROM chunks WHERE key = ?", [(k,) for k in keys])
        self._remove_files(keys)
        if older_than_s is None:
            stray = [file.stem for file in (self.root / "audio").glob("*/*.pcm")]
            self._remove_files(stray)
            keys = set(keys) | set(stray)
        return len(keys)

    def verify(self, repair: bool = False) -> dict:
        """Check every entry's file against its checksum; drop the bad ones, and files no
        entry refers to, or with `repair` index those again (after a damaged index was
        started afresh: a file is whole as written, renamed into place, so it is taken
        back with the checksum it has now)."""
        with self._lock:
            rows = self._db.execute("SELECT key, bytes, checksum FROM chunks").fetchall()
        bad = []
        for key, size, digest in rows:
            try:
                data = self.path(key).read_bytes()
            except OSError:
                bad.append(key)
                continue
            if len(data) != size or checksum(data) != digest:
                bad.append(key)
        for key in bad:
            self._drop(key)
        known = {key for key, _, _ in rows}
        orphans = adopted = 0
        for file in (self.root / "audio").glob("*/*.pcm"):
            if file.stem in known:
                continue
            if repair and self._adopt(file):
                adopted += 1
                continue
            try:
                file.unlink()
                orphans += 1
            except OSError:
                pass
        return {"checked": len(rows), "bad": len(bad), "orphans": orphans,
                "reindexed": adopted}

    def _adopt(self, file: Path) -> bool:
        """Index a chunk file the index does not know, if it is one (named by its key,
        in its key's folder, whole 16-bit samples)."""
        key = file.stem
        if not _KEY.fullmatch(key) or file.parent.name != key[:2]:
            return False
        try:
            data = file.read_bytes()
            used = file.stat().st_mtime
        except OSError:
            return False
        if not data or len(data) % 2:
            return False
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, 0, NULL, ?, ?)",
                             (key, len(data), checksum(data), used, used))
        return True

    def close(self) -> None:
        if self.max_bytes is not None:  # the bound holds when a job ends, however few it stored
            self._evict_quietly()
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass


_KEY = re.compile(r"[0-9a-f]{64}")


class RedisStore:
    """Chunk audio in Redis, shared by every machine pointed at it, each entry expiring after
    `ttl_s` without use (reading an entry renews it).

    One value per chunk: a header (magic, checksum, sample rate) then the PCM, so an entry is
    written and read in one command and a damaged one is detected. A Redis that cannot be
    reached, or goes away mid-job, turns the store off for the rest of the job with one
    warning: the job completes without the shared cache, never fails because of it.
    """

    PREFIX = "voxline:chunk:"
    _MAGIC = b"VXC1"
    _HEADER = len(_MAGIC) + 16 + 4

    def __init__(self, url: str, ttl_s: float | None = None,
                 on_warning: "Callable[[str], None] | None" = None, *, strict: bool = False):
        try:
            import redis
        except ImportError:
            raise UsageError("a Redis cache needs the redis client",
                             hint="pip install 'voxline[redis]'") from None
        self._errors = (redis.exceptions.RedisError, OSError)
        self.url = url
        self.ttl_s = ttl_s
        self.counts = CacheCounts()
        self.description = redact(url)
        self.down: str | None = None
        self._on_warning = on_warning
        self._lock = threading.Lock()
        try:
            self._redis = redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
            self._redis.ping()
        except (ValueError, *self._errors) as exc:
            if strict or isinstance(exc, ValueError):
                raise UsageError(f"cache {self.description}: {_reason(exc)}",
                                 hint="check the URL and that redis-server is running") from None
            self._went_down(exc)

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            if self.down is not None:
                return
            self.down = _reason(exc)
        self.counts.add(errors=1)
        if self._on_warning is not None:
            self._on_warning(f"cache {self.description} is unreachable ({self.down}); "
                             "going on without the shared cache")

    def _key(self, key: str) -> str:
        return self.PREFIX + key

    def get(self, key: str) -> bytes | None:
        if self.down is not None:
            return None
        try:
            value = self._redis.get(self._key(key))
            if value is not None and self.ttl_s:
                self._redis.expire(self._key(key), int(self.ttl_s))
        except self._errors as exc:
            self._went_down(exc)
            return None
        if value is None:
            self.counts.add(misses=1)
            return None
        pcm = self._unpack(value)
        if pcm is None:
            try:
                self._redis.delete(self._key(key))
            except self._errors:
                pass
            self.counts.add(corrupt=1, misses=1)
            return None
        self.counts.add(hits=1)
        return pcm

    def size(self, key: str) -> int | None:
        if self.down is not None:
            return None
        try:
            length = self._redis.strlen(self._key(key))
        except self._errors as exc:
            self._went_down(exc)
            return None
        return length - self._HEADER if length >= self._HEADER else None

    def _unpack(self, value: bytes) -> bytes | None:
        if len(value) < self._HEADER or not value.startswith(self._MAGIC):
            return None
        digest = value[len(self._MAGIC):len(self._MAGIC) + 16]
        pcm = value[self._HEADER:]
        return pcm if hashlib.blake2b(pcm, digest_size=16).digest() == digest else None

    def put(self, key: str, pcm: bytes, meta: Mapping[str, Any]) -> None:
        if self.down is not None:
            return
        value = (self._MAGIC + hashlib.blake2b(pcm, digest_size=16).digest()
                 + int(meta.get("sample_rate_hz", 0)).to_bytes(4, "little") + pcm)
        try:
            self._redis.set(self._key(key), value,
                            ex=int(self.ttl_s) if self.ttl_s else None)
        except self._errors as exc:
            self._went_down(exc)
            return
        self.counts.add(stored=1)

    # -- for `voxline cache` -------------------------------------------------------------

    def _keys(self):
        return self._redis.scan_iter(match=self.PREFIX + "*", count=1000)

    def _maintenance(method):  # noqa: N805 - a decorator for the methods below
        """`voxline cache` commands on a Redis that fails: one line, not a traceback."""

        def wrapper(self, *args, **kwargs):
            if self.down is not None:
                raise OutputError(f"cache {self.description}: {self.down}")
            try:
                return method(self, *args, **kwargs)
            except self._errors as exc:
                raise OutputError(f"cache {self.description}: {_reason(exc)}") from None

        wrapper.__doc__ = method.__doc__
        return wrapper

    @_maintenance
    def stats(self) -> dict:
        entries = total = 0
        audio_s = 0.0
        for name in self._keys():
            value = self._redis.getrange(name, 0, self._HEADER - 1)
            size = self._redis.strlen(name) - self._HEADER
            rate = int.from_bytes(value[-4:], "little") if len(value) == self._HEADER else 0
            entries += 1
            total += max(size, 0)
            audio_s += size / 2 / rate if rate else 0.0
        return {"store": self.description, "entries": entries, "bytes": total,
                "audio_s": round(audio_s, 1), "max_bytes": None, "ttl_s": self.ttl_s,
                "oldest": None, "last_used": None, "backends": {}}

    @_maintenance
    def clear(self, older_than_s: float | None = None) -> int:
        removed = 0
        for name in self._keys():
            if older_than_s is not None:
                idle = self._redis.object("idletime", name)
                if idle is None or idle < older_than_s:
                    continue
            removed += self._redis.delete(name)
        return removed

    @_maintenance
    def verify(self, repair: bool = False) -> dict:
        """Check every entry's checksum and delete the damaged ones (Redis has no index
        to repair: `repair` changes nothing)."""
        checked = bad = 0
        for name in self._keys():
            value = self._redis.get(name)
            if value is None:
                continue
            checked += 1
            if self._unpack(value) is None:
                bad += self._redis.delete(name)
        return {"checked": checked, "bad": bad, "orphans": 0, "reindexed": 0}

    def close(self) -> None:
        try:
            self._redis.close()
        except self._errors:
            pass


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def open_store(spec: str | None, max_size: str | None = None,
               env: Mapping[str, str] | None = None, *, ttl: str | None = None,
               on_warning: "Callable[[str], None] | None" = None,
               strict: bool = False) -> ChunkStore | None:
    """The store named by `--cache`: `off` for none; a Redis URL (entries expire after
    `ttl`, `7d` by default); a folder, by default `$VOXLINE_CACHE_DIR`, else
    `~/.cache/voxline`, bounded by `--cache-max` (`5GB`). An unreachable Redis is a warning
    (through `on_warning`) and a store that does nothing, or an error with `strict`."""
    if spec is not None and spec.lower() in ("off", "none", "no", "false"):
        return None
    if spec and spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec, parse_age(ttl) if ttl else DEFAULT_REDIS_TTL_S, on_warning,
                          strict=strict)
    return LocalStore(Path(spec).expanduser() if spec else default_cache_dir(env),
                      parse_size(max_size) if max_size else None, on_warning)
