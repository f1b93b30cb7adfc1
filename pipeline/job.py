"""Jobs and the long-lived `Pipeline` that runs them.

A job is its inputs with their outputs (`InputSpec`, `Job`) and its settings. `Pipeline`
holds what outlives a job (the plugin manager, the registry, the backends' pool, lent worker
threads and cache) and starts one `voxline.run.JobRun` per job, which owns everything the job
decides and keeps (`JobState`: its manifest, cache, lock and what the last run recorded).
What a run reports is in `voxline.report`.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from . import audio as audio_mod
from . import cache as cache_mod
from . import lexicon as lexicon_mod
from . import manifest as manifest_mod
from . import textio
from .backend import Backend
from .batching import BatchingBackend
from .control import JobControl
from .errors import BackendError, VoxlineError
from .executor import Executor, LocalExecutor
from .models import Chunk, InputStatus
from .normalize import NormalizerSet
from .pluginmanager import Registry
# what a run reports, importable from here as before (`voxline.job.JobReport`)
from .report import STAGES, DocumentResult, JobReport  # noqa: F401
from .settings import Settings, default_workers

if TYPE_CHECKING:
    from . import run as run_mod

MAX_AUTO_BATCH = 16  # the most a backend's own batch size choice is given room for


@dataclass(frozen=True)
class InputSpec:
    """One input and where its audio goes; `metadata`: tags (and a cover) for its
    container (a chapter of a book read by a reader)."""

    source: Path | str | textio.GivenText
    output: Path
    metadata: "audio_mod.ContainerMetadata | None" = None
    # with output STDOUT: where the stream goes instead of standard output (a binary file
    # with a descriptor, as `voxline serve` gives each response)
    stream: Any = None


@dataclass
class Job:
    inputs: list[InputSpec]
    settings: Settings


class BackendPool:
    """Backend instances for the workers: one shared instance of a thread-safe backend, one
    per worker thread otherwise; each gets its share of the CPU cores."""

    def __init__(self, registry: Registry, settings: Settings,
                 on_state: Callable[[str, Mapping[str, Any]], None] | None = None):
        self._registry = registry.configure(settings.backends)
        self._settings = settings
        self._shared: dict[str, Backend] = {}
        self._local = threading.local()
        self._all: list[Backend] = []
        self._lock = threading.RLock()
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._cores = default_workers()
        self._on_state = on_state
        self._broken: dict[str, BackendError] = {}  # backends that failed to start

    # the BackendHost interface, offered to every instance
    def backend(self, name: str) -> Backend:
        return self.get(name)

    def emit(self, name: str, state: Mapping[str, Any]) -> None:
        if self._on_state is not None:
            self._on_state(name, dict(state))

    def get(self, name: str) -> Backend:
        if name in self._broken:  # loading a model again for every chunk would not help
            raise self._broken[name]
        cls = self._registry.backend(name)
        options = self._settings.backend_options(name)
        if self._registry.capabilities(name).thread_safe:
            with self._lock:
                if name not in self._shared:
                    self._shared[name] = self._make(cls, options, self._cores)
                return self._shared[name]
        instances = self._local.__dict__.setdefault("instances", {})
        if name not in instances:
            share = max(1, self._cores // self._settings.workers)
            with self._lock:
                instances[name] = self._make(cls, options, share)
        return instances[name]

    def _make(self, cls: type[Backend], options: dict, threads: int) -> Backend:
        try:
            instance = cls(options, threads=threads)
            instance.capabilities = self._registry.capabilities(cls.name)
            instance.attach(self)
        except BackendError as exc:
            self._broken[cls.name] = exc
            raise
        except VoxlineError:
            raise
        except Exception as exc:
            error = BackendError(f"backend {cls.name!r} could not start: {exc}")
            self._broken[cls.name] = error
            raise error from exc
        if instance.capabilities.batches:
            size = self._settings.batch_size or min(MAX_AUTO_BATCH,
                                                    instance.preferred_batch_size())
            instance = BatchingBackend(
                instance, size,
                on_batch=lambda n, name=cls.name: self.emit(name, {"batch": n}))
            self.emit(cls.name, {"batch_size": instance.batch_size})
        self._all.append(instance)
        return instance

    def limit(self, name: str) -> threading.BoundedSemaphore | None:
        cap = self._registry.capabilities(name).max_workers
        if cap is None:
            return None
        with self._lock:
            return self._limits.setdefault(name, threading.BoundedSemaphore(cap))

    def close(self) -> None:
        for instance in self._all:
            try:
                instance.close()
            except Exception:  # closing must not hide the job's own outcome
                pass


@dataclass
class JobState:
    """What one run of a job knows and decides. A Pipeline runs several jobs (the TUI's
    queue runs one after another on one Pipeline), so nothing here may outlive its job."""

    id: str | None = None
    fingerprint: str = ""
    previous: dict[str, dict] = field(default_factory=dict)  # the manifest's last record
    manifest: manifest_mod.Manifest | None = None
    lock: manifest_mod.JobLock | None = None
    store: cache_mod.ChunkStore | None = None
    verifier: "object | None" = None  # --verify: a voxline.verify.ChunkVerifier
    # adaptive quality: recent per-chunk real-time factors per backend, and the backends
    # switched away from (name → what happened)
    rtf: dict[str, deque[float]] = field(default_factory=dict)
    degraded: dict[str, dict] = field(default_factory=dict)
    adapting: threading.Lock = field(default_factory=threading.Lock)
    warned: set[tuple[str, str]] = field(default_factory=set)  # warnings given once a job

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.manifest is not None:
            self.manifest.close()
        if self.lock is not None:
            self.lock.release()


class Pipeline:
    """Runs jobs with one plugin manager and registry; a Pipeline can run several jobs."""

    def __init__(self, pm, registry: Registry, settings: Settings, *, force: bool = False,
                 pool: BackendPool | None = None, threads: ThreadPoolExecutor | None = None,
                 store: cache_mod.ChunkStore | None = None):
        """`force`: synthesize inputs the job manifest (`voxline.manifest`) says are up to
        date too (their chunks still come from the cache). `pool` and `threads`: backends
        and worker threads kept by the caller across jobs (`voxline serve` keeps models
        loaded and shares the workers between requests); a job then neither makes nor
        closes its own. `store`: the chunk cache, likewise kept open by the caller."""
        self.pm = pm
        self.registry = registry
        self.settings = settings
        self.format = audio_mod.FORMATS[settings.format]
        self.loudness = audio_mod.loudness_target(settings)
        registry.configure(settings.backends)
        self.force = force
        self._pool = pool
        # lent by the caller for every job (see above): a run neither makes nor closes them
        self.lent_threads = threads
        self.lent_store = store
        # --verify: the recognizer, loaded by the first job that needs it and kept for the
        # next ones (a model, not job state: each job has its own ChunkVerifier)
        self._recognizer = None
        self._lexicons: dict[tuple[str, ...], lexicon_mod.Lexicon] = {}

    def lexicon(self, source: Path | str) -> lexicon_mod.Lexicon:
        """The pronunciation lexicon of an input: the settings' files, then those beside it
        (`voxline.lexicon.files_for`). Raises `LexiconError` (exit 2) for a bad file."""
        beside = source if textio.is_file_source(source) else None
        files = tuple(lexicon_mod.files_for(self.settings.lexicon, beside))
        if files not in self._lexicons:
            self._lexicons[files] = lexicon_mod.load(files)
        return self._lexicons[files]

    def fingerprint_of(self, job: "JobState", spec: InputSpec) -> str:
        """The settings fingerprint of one input: its lexicon's entries are settings too."""
        lexicon = self.lexicon(spec.source)
        return f"{job.fingerprint}+{lexicon.digest}" if lexicon else job.fingerprint

    def executor(self, on_state: Callable[[str, Mapping[str, Any]], None] | None = None
                 ) -> "Executor":
        """Where one job's synthesis tasks run (`[synth] executor`): this process's threads,
        each with its own backend instances where a backend is not thread-safe, or Ray
        actors (`voxline.ray_executor`; routers still run here)."""
        pool = self._pool or BackendPool(self.registry, self.settings, on_state=on_state)
        # a pool the caller keeps (`voxline serve`) outlives the job: not closed with it
        close = pool.close if pool is not self._pool else (lambda: None)
        if self.settings.executor == "ray":
            from .ray_executor import RayExecutor

            try:
                return RayExecutor(self.registry, self.settings, on_state, local=pool.get,
                                   close_local=close)
            except BaseException:
                close()
                raise
        return LocalExecutor(pool.get, pool.limit, close)

    def open_verifier(self, log: manifest_mod.Manifest | None):
        """--verify: the job's verifier, its recognizer loaded now (a missing extra or model
        fails before any work), with scores kept in the job manifests' database (`log`)."""
        from .verify import ChunkVerifier, Recognizer, ScoreBook

        settings = self.settings
        if self._recognizer is None:
            threads = settings.verify_threads or max(1, default_workers() // 2)
            recognizer = Recognizer(settings.verify_model, cpu_threads=threads)
            recognizer.load()
            self._recognizer = recognizer

        class Scores(ScoreBook):  # in this job's manifest, when it has one
            def get(self, digest, recognizer):
                return log.score(digest, recognizer) if log is not None else None

            def put(self, digest, recognizer, error_rate, transcript):
                if log is not None:
                    log.record_score(digest, recognizer, error_rate, transcript)

        normalizers = NormalizerSet(self.registry.normalizers)
        lock = threading.Lock()

        def spoken(text: str, language: str) -> str:
            with lock:  # normalizers are used from one thread at a time
                return normalizers.normalize(text, language)

        return ChunkVerifier(self._recognizer, settings.verify_max_error, Scores(), spoken)

    def chunk_key(self, name: str, caps, chunk: Chunk, request) -> str:
        """The chunk cache key of `chunk` spoken by backend `name` as `request`."""
        cls = self.registry.backend(name)
        options = {k: v for k, v in self.settings.backend_options(name).items()
                   if k not in cls.cache_ignore}
        normalizer = self.registry.normalizers.get(chunk.language)
        key = cache_mod.chunk_key(
            text=request.text, language=request.language, backend=name,
            backend_version=cls.version, voice=request.voice, options=options,
            prosody=(chunk.prosody.rate, chunk.prosody.pitch, chunk.prosody.volume_db),
            controls=caps.controls,
            normalizer=f"{normalizer.name}:{normalizer.version}" if normalizer else "none",
            sample_rate_hz=self.settings.sample_rate_hz, breaks=request.breaks,
            phonemes=request.phonemes)
        return key

    def status(self, job: JobState, spec: InputSpec, digest: str | None) -> InputStatus:
        """What this run does with an input, from what the manifest recorded of it."""
        before = job.previous.get(str(spec.output))
        if before is None or digest is None:
            return InputStatus.NEW
        if before["sha256"] != digest:
            return InputStatus.CHANGED if before["sha256"] else InputStatus.NEW
        if self.force or before["fingerprint"] != self.fingerprint_of(job, spec):
            return InputStatus.REDONE
        if before["state"] != "done":
            return InputStatus.RESUMED
        if audio_mod.is_stdout(spec.output):  # a stream is never "already there"
            return InputStatus.REDONE
        try:
            stat = spec.output.stat()
        except OSError:
            return InputStatus.REDONE
        if (stat.st_size, stat.st_mtime_ns) != (before["output_bytes"],
                                                before["output_mtime_ns"]):
            return InputStatus.REDONE
        if self.settings.subtitles and not spec.output.with_suffix(
                f".{self.settings.subtitles}").is_file():
            return InputStatus.REDONE  # the audio is there but its subtitles were removed
        return InputStatus.UP_TO_DATE

    def open_store(self) -> cache_mod.ChunkStore | None:
        """The chunk cache these settings name (None: --cache off)."""
        settings = self.settings
        return cache_mod.open_store(
            settings.cache, settings.cache_max, ttl=settings.cache_ttl,
            on_warning=lambda message: self.pm.hook.warning(document=None, message=message))

    def open_job(self, job: Job, record: bool) -> JobState:
        """The job's state for this run: its id and settings fingerprint, what its manifest
        recorded last time, and (with `record`) the manifest opened for this run and the
        job's lock (`JobBusy` when another live process runs the same job)."""
        from . import __version__

        versions = {"voxline": __version__}
        for name, cls in self.registry.backends.items():
            versions[f"backend:{name}"] = cls.version
        for language, cls in self.registry.normalizers.items():
            versions[f"normalizer:{language}"] = f"{cls.name}:{cls.version}"
        state = JobState(
            id=manifest_mod.job_id((str(s.source), str(s.output)) for s in job.inputs),
            fingerprint=manifest_mod.settings_fingerprint(self.settings, versions))
        if not record and not any(textio.is_file_source(s.source) for s in job.inputs):
            return state  # text in memory: no manifest has anything about it
        log = manifest_mod.Manifest(
            on_warning=lambda message: self.pm.hook.warning(document=None, message=message))
        if not record:
            state.previous = log.previous(state.id)
            log.close()
            return state
        try:
            state.lock = manifest_mod.JobLock.acquire(log.folder, state.id)
        except BaseException:
            log.close()
            raise
        # read after the lock is held: a run that just ended has recorded all it did
        state.previous = log.previous(state.id)
        state.manifest = log
        log.begin(state.id, [(str(s.source), str(s.output)) for s in job.inputs],
                  dataclasses.asdict(self.settings), state.fingerprint)
        return state


    def start(self, job: Job, control: JobControl | None = None, *,
              record: bool = True) -> "run_mod.JobRun":
        """A run of `job` on this pipeline, not yet started: all it decides and keeps (the
        manifest, the cache, the executor, the window of chunks in flight, adaptive quality)
        belongs to the run and ends with it. See `run`."""
        from .run import JobRun  # the run module builds on this one

        return JobRun(self, job, control, record=record)

    def run(self, job: Job, control: JobControl | None = None, *,
            record: bool = True) -> JobReport:
        """Run `job`; `control` lets another thread pause, resume or cancel it. `record`:
        keep the job's manifest (resumable runs); a server's one-off requests, whose inputs
        are text in memory, neither keep nor read one."""
        return self.start(job, control, record=record).run()


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_name(name: str) -> str:
    """An input's name made safe as an output file name on any system: no path separators,
    no characters Windows refuses, no leading dot (nothing hidden, never `.` or `..`)."""
    name = _UNSAFE.sub("_", name).strip()
    if not name or name.startswith(".") or name.startswith("-"):
        name = "_" + name
    return name


def output_specs(inputs: list[tuple[Path | str, Path | None]], output: Path,
                 fmt: audio_mod.OutputFormat, single_file: bool) -> list[InputSpec]:
    """Where each input's audio goes: `output/<relative path>.<ext>`, or `output` itself when
    it names one file. Two inputs that would write the same file are a usage error."""
    from .errors import UsageError

    specs = []
    seen: dict[Path, Path | str] = {}
    for source, root in inputs:
        if single_file:
            target = output
        elif source == "-":
            target = output / f"stdin{fmt.extension}"
        else:
            relative = Path(source).relative_to(root) if root else Path(Path(source).name)
            parts = [safe_name(part) for part in relative.parent.parts]
            target = output.joinpath(*parts, safe_name(relative.stem) + fmt.extension)
        if not single_file and not target.resolve().is_relative_to(output.resolve()):
            raise UsageError(f"{source}: its output {target} would land outside {output}")
        if target in seen:
            raise UsageError(f"{seen[target]} and {source} would both be written to {target}")
        seen[target] = source
        specs.append(InputSpec(source, target))
    return specs
