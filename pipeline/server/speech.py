"""Requests become small jobs on one long-lived pipeline: backends stay loaded, worker
threads are shared by every request, and each response streams its audio as chunks finish.

A request's job runs on its own thread and writes the encoded stream into a pipe (the same
`StreamEncoder` that `synth -o -` uses, so FFmpeg can write encoded formats to it directly);
the event loop reads the pipe only as fast as the client takes the audio, so a slow client
holds a pipe's worth of audio, not the whole of it. A client that goes away closes its pipe and
cancels its job: chunks not yet started are never synthesized.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from xml.sax.saxutils import escape

import voxline
from voxline import audio as audio_mod
from voxline import cache as cache_mod
from voxline.control import JobControl
from voxline.errors import EXIT_INTERRUPTED, InputError, UsageError
from voxline.job import MAX_AUTO_BATCH, BackendPool, InputSpec, Job, JobReport, Pipeline
from voxline.settings import STREAM_FIRST_CHUNK_CHARS, Settings
from voxline.textio import GivenText

# what the OpenAI audio API names its formats, and what voxline streams for each
RESPONSE_FORMATS = {
    "wav": (audio_mod.FORMATS["wav"], "audio/wav"),
    "mp3": (audio_mod.FORMATS["mp3"], "audio/mpeg"),
    "opus": (audio_mod.FORMATS["opus"], "audio/ogg"),  # Ogg Opus, as OpenAI sends it
    "aac": (audio_mod.OutputFormat("aac", ".aac", "adts", ("-c:a", "aac", "-b:a", "64k")),
            "audio/aac"),
    "flac": (audio_mod.FORMATS["flac"], "audio/flac"),
    # headerless 16-bit little-endian mono at the response's sample rate (24 kHz)
    "pcm": (audio_mod.OutputFormat("pcm", ".pcm", "s16le", ()), "audio/pcm"),
}
OPENAI_SAMPLE_RATE_HZ = 24000  # what OpenAI's speech endpoint answers, pcm included
# OpenAI's model and voice names: clients send them whatever server they talk to; here they
# mean voxline's own choice (the [routes] voice for each sentence's language)
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova",
                           "sage", "shimmer", "verse"})


class RequestError(Exception):
    """A request the server turns down: its HTTP status and what to tell the client."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.kind = kind
        self.headers = headers or {}


@dataclass(frozen=True)
class SpeechRequest:
    """One request's text and choices, checked: `backend` None routes each sentence by its
    language; `voice` is "backend:voice" or None."""

    text: str
    backend: str | None = None
    voice: str | None = None
    speed: float = 1.0
    response_format: str = "wav"
    sample_rate_hz: int | None = None  # None: the server's setting


class WorkerThreads:
    """The worker threads every request and job shares. Each request (and job) submits
    through a lane of its own; a waiting task's place is its lane's priority, then its
    number in its lane, then its arrival: speech requests (priority 0) go before a
    background job (`lane(1)`), so a long job does not hold up anyone waiting to hear the
    first sentence, and among requests every one's first chunk goes before anyone's second
    (the pipeline submits a request's chunks in order), so a long text does not hold up the
    first audio of the requests behind it. `waiting` is the number of tasks waiting for a
    thread (`/metrics`' queue depth)."""

    def __init__(self, threads: int, thread_name_prefix: str = "voxline-serve"):
        self.waiting = 0
        self._count = threading.Lock()
        self._tasks: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name=f"{thread_name_prefix}_{n}")
                         for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """A task outside any lane: ahead of every waiting one."""
        return self._submit((0, 0), fn, args, kwargs)

    def lane(self, priority: int = 0) -> "_Lane":
        """An executor-like view for one request or job, whose tasks wait behind those of
        lower `priority` and take turns with other lanes' of the same."""
        return _Lane(self, priority)

    def _submit(self, priority: tuple[int, int], fn, args, kwargs) -> Future:
        future: Future = Future()
        taken = [False]

        def leave(_=None) -> bool:
            with self._count:
                if taken[0]:
                    return False
                taken[0] = True
                self.waiting -= 1
                return True

        with self._count:
            if self._closed:
                raise RuntimeError("the server's workers are shut down")
            self.waiting += 1
        future.add_done_callback(leave)  # cancelled while it waited
        self._tasks.put((priority, next(self._order), (future, leave, fn, args, kwargs)))
        return future

    def _work(self) -> None:
        while True:
            _, _, task = self._tasks.get()
            if task is None:
                return
            future, leave, fn, args, kwargs = task
            leave()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - the caller's to handle
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._count:
            self._closed = True
        if cancel_futures:
            while True:
                try:
                    _, _, task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if task is not None:
                    task[0].cancel()
        for _ in self._threads:  # after every task still queued
            self._tasks.put(((1 << 30, 0), next(self._order), None))
        if wait:
            for thread in self._threads:
                thread.join()


class _Lane:
    def __init__(self, threads: WorkerThreads, priority: int):
        self._threads, self._priority = threads, priority
        self._numbers = itertools.count(1)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._threads._submit((self._priority, next(self._numbers)), fn, args, kwargs)


class SpeechService:
    """The server's one pipeline: settings, plugins, resident backends and shared workers."""

    def __init__(self, pm, registry, settings: Settings, *,
                 on_state: Callable[[str, dict], None] | None = None):
        self.pm, self.registry, self.settings = pm, registry, settings

        def state(name, value):
            self.pm.hook.backend_state(backend=name, state=value)
            if on_state is not None:
                on_state(name, value)

        self.pool = BackendPool(registry, settings, on_state=state)
        # chunks waiting in a batching backend's queue hold a thread each (as in a job); a
        # request that picks one that the defaults do not use gets smaller batches
        batching = any(registry.capabilities(name).batches
                       for name in [*self.default_backends(), *settings.fallback]
                       if name in registry.backends)
        room = 2 * (settings.batch_size or MAX_AUTO_BATCH) if batching else 0
        self.workers = settings.workers
        self.executor = WorkerThreads(settings.workers + room,
                                      thread_name_prefix="voxline-serve")
        # one cache for every request: opening one per request costs more than a cache hit
        self._numbers = itertools.count(1)
        self._listeners: dict[str, Callable[[dict], None]] = {}
        pm.register(self, name="voxline.server.speech")
        self.store = cache_mod.open_store(
            settings.cache, settings.cache_max, ttl=settings.cache_ttl,
            on_warning=lambda message: pm.hook.warning(document=None, message=message))

    def preload(self, names: list[str]) -> None:
        """Load `names`' models now, on every worker thread that will use them (engines that
        are not thread-safe have one instance per worker), so no request waits for a load."""
        barrier = threading.Barrier(self.workers)

        def load() -> None:
            for name in names:
                self.pool.get(name)
            try:  # hold this thread until every worker has one: each gets its own
                barrier.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass

        for future in [self.executor.submit(load) for _ in range(self.workers)]:
            future.result()

    def default_backends(self) -> list[str]:
        """The backends the default routes use and that are installed (what to preload)."""
        names = [self.settings.backend] if self.settings.backend else [
            target.partition(":")[0] for target in self.settings.routes.values()]
        return [n for n in dict.fromkeys(names) if n in self.registry.backends
                and not self.registry.capabilities(n).network
                and any(self.registry.speaks(n, lang) for lang in ("en", "zh"))]

    @voxline.hookimpl
    def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
        """Each request's chunks, told to whoever started it (the WebSocket's events)."""
        listener = self._listeners.get(document.source) if document is not None else None
        if listener is not None:
            listener({"event": "chunk", "index": chunk.index, "text": chunk.source_text,
                      "language": chunk.language, "backend": backend, "cached": cached,
                      "audio_s": round(audio_duration_s, 3)})

    def close(self) -> None:
        self.pm.unregister(self)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.pool.close()
        if self.store is not None:
            self.store.close()

    # -- what a request may ask for ----------------------------------------------------

    def models(self) -> list[dict]:
        """`GET /v1/models`: OpenAI's names (voxline's routing) and each backend with its
        voices and languages."""
        listed = [{"id": name, "object": "model", "created": 0, "owned_by": "voxline",
                   "description": "voxline's routing: each sentence to the voice its "
                                  "language is routed to"} for name in OPENAI_MODELS]
        for name in sorted(self.registry.backends):
            caps = self.registry.capabilities(name)
            listed.append({"id": name, "object": "model", "created": 0,
                           "owned_by": self.registry.provided_by.get(name, "voxline"),
                           "languages": list(caps.languages),
                           "voices": sorted({v.name for v in caps.voices})})
        return listed

    def resolve(self, model: str | None, voice: str | None) -> tuple[str | None, str | None]:
        """The backend and "backend:voice" a request's model and voice name, or a
        RequestError (404 for an unknown model, 400 for an unknown voice)."""
        backend = None
        if model and model not in OPENAI_MODELS:
            if model not in self.registry.backends:
                raise RequestError(404, f"The model '{model}' does not exist (GET /v1/models "
                                        "lists them)", param="model", code="model_not_found")
            backend = model
        if not voice or voice in OPENAI_VOICES:
            return backend, None
        name, colon, wanted = voice.partition(":")
        if colon:
            candidates, voice = [name], wanted
            if name not in self.registry.backends or (backend and name != backend):
                candidates = []
        else:  # a voice name alone: the servers voxline could call are not searched (one
            # may be this very server, behind a voice name it shares with the seeds')
            candidates = [backend] if backend else sorted(
                n for n in self.registry.backends if not self.registry.capabilities(n).network)
        for name in candidates:
            if any(v.name == voice for v in self.registry.capabilities(name).voices):
                return backend or name, f"{name}:{voice}"
        raise RequestError(400, f"unknown voice {voice!r}" + (f" for model {backend!r}"
                                                              if backend else "")
                           + " (GET /v1/models lists each model's voices)", param="voice",
                           code="invalid_voice")

    # -- running one --------------------------------------------------------------------

    def settings_for(self, request: SpeechRequest) -> Settings:
        changes = {"first_chunk_chars": self.settings.first_chunk_chars
                   or STREAM_FIRST_CHUNK_CHARS,  # the first sentence plays soonest
                   "format": "wav", "subtitles": None, "loudness_lufs": None,
                   # a request is answered by this process's resident voices: placing
                   # actors on a cluster per request would cost seconds (jobs may use Ray)
                   "executor": "local"}
        if request.backend is not None:
            changes["backend"] = request.backend
        if request.voice is not None:
            changes["voice"] = request.voice
        if request.sample_rate_hz is not None:
            changes["sample_rate_hz"] = request.sample_rate_hz
        return dataclasses.replace(self.settings, **changes)

    def start(self, request: SpeechRequest,
              on_chunk: Callable[[dict], None] | None = None) -> "SpeechStream":
        """Start synthesizing `request` on a thread of its own; read it from the stream.
        `on_chunk` is called (on a worker thread) as each of its chunks is made."""
        settings = self.settings_for(request)
        fmt = RESPONSE_FORMATS[request.response_format][0]
        if fmt.name == "opus" and settings.sample_rate_hz not in audio_mod.OPUS_RATES:
            settings = dataclasses.replace(settings, sample_rate_hz=OPENAI_SAMPLE_RATE_HZ)
        text = request.text
        if request.speed != 1.0:
            if text.lstrip().startswith("<"):
                raise RequestError(400, "speed cannot be combined with SSML input; put "
                                        "<prosody rate> in the SSML", param="speed")
            text = (f'<speak><prosody rate="{request.speed * 100:.0f}%">{escape(text)}'
                    "</prosody></speak>")
        pipeline = Pipeline(self.pm, self.registry, settings, pool=self.pool,
                            threads=self.executor.lane(0), store=self.store)
        pipeline.format = fmt
        given = GivenText(text, f"request-{next(self._numbers)}")
        # by its source, "<request-N>", which no file a job reads can be called
        key = str(given)
        if on_chunk is not None:
            self._listeners[key] = on_chunk
        try:
            return SpeechStream(pipeline, given, lambda: self._listeners.pop(key, None))
        except BaseException:
            self._listeners.pop(key, None)
            raise


class SpeechStream:
    """One request's audio as it is made: `read()` on the event loop, the job on a thread."""

    READ_BYTES = 65536

    def __init__(self, pipeline: Pipeline, text: GivenText,
                 on_close: Callable[[], None] = lambda: None):
        self.loop = asyncio.get_running_loop()
        self.control = JobControl()
        self.report: JobReport | None = None
        self.error: BaseException | None = None
        self._done = asyncio.Event()
        self._label = f"{text}: "
        self._on_close = on_close
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self._read_fd: int | None = read_fd
        self._writer = os.fdopen(write_fd, "wb")
        job = Job([InputSpec(text, audio_mod.STDOUT, stream=self._writer)],
                  pipeline.settings)
        self._thread = threading.Thread(target=self._run, args=(pipeline, job),
                                        name="voxline-request", daemon=True)
        self._thread.start()

    def _run(self, pipeline: Pipeline, job: Job) -> None:
        try:
            self.report = pipeline.run(job, self.control, record=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the request's coroutine
            self.error = exc
        finally:
            try:
                self._writer.close()
            except OSError:  # the reader went away first
                pass
            self.loop.call_soon_threadsafe(self._done.set)

    async def read(self) -> bytes:
        """The next bytes of audio as soon as there are any; b"" at the end."""
        while True:
            try:
                return os.read(self._read_fd, self.READ_BYTES)
            except BlockingIOError:
                ready = self.loop.create_future()
                self.loop.add_reader(self._read_fd,
                                     lambda: ready.done() or ready.set_result(None))
                try:
                    await ready
                finally:
                    self.loop.remove_reader(self._read_fd)

    async def finished(self) -> None:
        await self._done.wait()

    def failure(self) -> RequestError | None:
        """After the end: why the job made no complete audio, as an HTTP error (None: it
        did)."""
        if self.error is not None:
            status = 400 if isinstance(self.error, (InputError, UsageError)) else 500
            return RequestError(status, str(self.error) or type(self.error).__name__,
                                kind="invalid_request_error" if status == 400 else
                                "server_error")
        documents = self.report.documents if self.report is not None else []
        failed = next((d for d in documents if not d.ok), None)
        if failed is None:
            return None
        message = failed.error.removeprefix(self._label)
        if failed.exit_code == InputError.exit_code:
            return RequestError(400, message, param="input")
        if failed.exit_code == EXIT_INTERRUPTED:  # cancelled: the server is stopping
            return RequestError(503, message, kind="server_error", code="cancelled")
        return RequestError(502, message, kind="server_error", code="backend_error")

    def close(self) -> None:
        """The client is gone or served: stop the job's chunks not yet started and let its
        writer fail rather than block."""
        self.control.cancel()
        self._on_close()
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None
