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

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import UsageError

CACHE_FORMAT = 1  # bump when what is stored, or how the key is made, changes


def chunk_key(*, text: str, language: str, backend: str, backend_version: str,
              voice: str | None, options: Mapping[str, Any], prosody: tuple[float, ...],
              controls: frozenset[str], normalizer: str, sample_rate_hz: int) -> str:
    """The content address of one chunk's output audio.

    `text` is the normalized text the backend speaks; `options` the backend's configuration
    minus what cannot change the sound (timeouts, concurrency); `prosody` the chunk's rate,
    pitch and volume, and `controls` which of them the backend applies itself (the rest is
    applied by voxline); `normalizer` the name and version of the normalizer that produced
    the text; `sample_rate_hz` the output rate.
    """
    material = {
        "format": CACHE_FORMAT, "text": text, "language": language, "backend": backend,
        "backend_version": backend_version, "voice": voice, "options": options,
        "prosody": list(prosody), "controls": sorted(controls), "normalizer": normalizer,
        "rate": sample_rate_hz,
    }
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


class LocalStore:
    """A folder of chunk PCM files with an SQLite index."""

    def __init__(self, root: Path, max_bytes: int | None = None):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.counts = CacheCounts()
        self.description = str(self.root)
        try:
            (self.root / "audio").mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.root / "index.sqlite3", timeout=30,
                                       check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cache folder {self.root} is not usable: {exc}",
                             hint="give another with --cache DIR, or --no-cache") from None
        self._lock = threading.Lock()
        self._puts_since_check = 0
        self.clean_temporary()

    def path(self, key: str) -> Path:
        return self.root / "audio" / key[:2] / f"{key}.pcm"

    def clean_temporary(self, older_than_s: float = 3600) -> int:
        """Remove temporary files a killed process left behind (older than an hour, so a
        running process's files are never touched)."""
        removed = 0
        cutoff = time.time() - older_than_s
        for tmp in (self.root / "audio").glob("*/*.tmp*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except OSError:
                pass
        return removed

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT bytes, checksum FROM chunks WHERE key = ?",
                                   (key,)).fetchone()
        if row is None:
            self.counts.add(misses=1)
            return None
        try:
            data = self.path(key).read_bytes()
        except OSError:
            data = None
        if data is None or len(data) != row[0] or checksum(data) != row[1]:
            self._drop(key)
            self.counts.add(corrupt=1, misses=1)
            return None
        with self._lock:
            self._db.execute("UPDATE chunks SET last_used = ? WHERE key = ?",
                             (time.time(), key))
        self.counts.add(hits=1)
        return data

    def put(self, key: str, pcm: bytes, meta: Mapping[str, Any]) -> None:
        target = self.path(key)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}.{threading.get_ident()}")
        try:
            target.parent.mkdir(exist_ok=True)
            with open(tmp, "wb") as handle:
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
        """Remove every entry, or those not used for `older_than_s` seconds."""
        with self._lock:
            if older_than_s is None:
                keys = [k for (k,) in self._db.execute("SELECT key FROM chunks")]
            else:
                keys = [k for (k,) in self._db.execute(
                    "SELECT key FROM chunks WHERE last_used < ?",
                    (time.time() - older_than_s,))]
            self._db.executemany("DELETE FROM chunks WHERE key = ?", [(k,) for k in keys])
        self._remove_files(keys)
        return len(keys)

    def verify(self) -> dict:
        """Check every entry's file against its checksum; drop the bad ones, and files no
        entry refers to."""
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
        orphans = 0
        for file in (self.root / "audio").glob("*/*.pcm"):
            if file.stem not in known:
                try:
                    file.unlink()
                    orphans += 1
                except OSError:
                    pass
        return {"checked": len(rows), "bad": len(bad), "orphans": orphans}

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass


def open_store(spec: str | None, max_size: str | None = None,
               env: Mapping[str, str] | None = None) -> ChunkStore | None:
    """The store named by `--cache` (`off` for none; a folder, by default
    `$VOXLINE_CACHE_DIR`, else `~/.cache/voxline`), bounded by `--cache-max` (`5GB`)."""
    if spec is not None and spec.lower() in ("off", "none", "no", "false"):
        return None
    if spec and spec.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"a Redis chunk cache ({spec}) is not supported yet",
                         hint="use a cache folder (--cache DIR) for now")
    return LocalStore(Path(spec).expanduser() if spec else default_cache_dir(env),
                      parse_size(max_size) if max_size else None)
