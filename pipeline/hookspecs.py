"""The hooks voxline calls. Plugins implement them with `@voxline.hookimpl`.

Discovery hooks take a `register` callback and return nothing; voxline owns naming,
collisions and the record of which plugin supplied what. Event hooks are notifications: their
return values are ignored, every implementation is called, and they must be quick (they run on
the pipeline's threads; chunk events come from its dispatch threads, in the driver process
whatever the executor, so implementations must be thread-safe).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("voxline")


@hookspec
def register_backends(register):
    """Called once when the plugin manager is built, to add speech backends.

    Call `register(backend_class)` for each `voxline.Backend` subclass the plugin provides;
    the class's `name` is how users select it (`--backend NAME`). A name already taken by
    another plugin is an error naming both plugins.
    """


@hookspec
def register_normalizers(register):
    """Called once when the plugin manager is built, to add text normalizers.

    Call `register(normalizer_class)` for each `voxline.Normalizer` subclass; its
    `languages` say which languages it handles. Registered later wins for a language, so a
    third-party plugin can replace a built-in normalizer.
    """


@hookspec
def register_readers(register):
    """Called once when the plugin manager is built, to add readers of input file types.

    Call `register(reader_class)` for each `voxline.Reader` subclass; its `suffixes`
    (`.epub`, `.html`, ...) say which files it reads. Registered later wins for a suffix, so
    a third-party plugin can replace a built-in reader.
    """


@hookspec
def register_commands(cli):
    """Called when the `voxline` command group is built; add click commands with
    `cli.add_command(...)` or the `@cli.command()` decorator."""


@hookspec
def job_started(job):
    """Called once when a job starts, before any document is read; `job` is the
    `voxline.job.Job` with its documents' sources and settings."""


@hookspec
def document_started(document, chunk_count):
    """Called when a document has been read, cleaned, normalized and segmented, just
    before its chunks are synthesized; `chunk_count` is how many chunks it has, or None for
    an input large enough to be read and segmented a block at a time while it is
    synthesized (its chunks are then known as `chunk_started` reports them)."""


@hookspec
def stage_finished(document, stage, duration_s, chunk):
    """Called when a stage has finished for a document (`chunk` is None: read, ssml,
    normalize, segment, concatenate) or for one chunk (`chunk` given: synthesize, resample).
    `duration_s` is wall time in seconds."""


@hookspec
def chunk_started(document, chunk):
    """Called on a driver dispatch thread just before `chunk` is sent to its backend."""


@hookspec
def chunk_finished(document, chunk, audio_duration_s, backend, cached):
    """Called on a driver dispatch thread when `chunk`'s audio is synthesized and resampled;
    `audio_duration_s` is the length of that audio in seconds, `backend` the name of the
    backend that produced it (after any fallback), `cached` whether it came from the chunk
    cache instead."""


@hookspec
def chunk_verified(document, chunk, backend, error_rate, limit, transcript):
    """Called on a driver dispatch thread, with `--verify`, each time the recognizer judged audio
    for `chunk` from `backend` (or found the score an earlier run stored for the same audio):
    `error_rate` is its character (zh, yue) or word error rate against the chunk's spoken
    text, `limit` the most its language allows, `transcript` what was heard. Over the limit,
    the audio is turned down like audio too short for its text (`attempt_failed` follows with
    the reason `verify`), unless no backend does better."""


@hookspec
def document_finished(document, result):
    """Called when a document's output is written or the document failed; `result` is a
    `voxline.job.DocumentResult` (output path or error, audio seconds, stage times)."""


@hookspec
def job_finished(job, report):
    """Called once when a job ends, also when it failed or was interrupted; `report` is
    the `voxline.job.JobReport` summary."""


@hookspec
def warning(document, message):
    """Called for each warning the pipeline raises about a document (an SSML tag dropped,
    a control a backend cannot apply, ...); `document` may be None."""


@hookspec
def attempt_failed(document, chunk, backend, reason, action):
    """Called on a driver dispatch thread when an attempt at `chunk` on `backend` failed.
    `reason` is a short label (`timeout`, `http 503`, `connection refused`, `too short`,
    `circuit open`, ...); `action` is what happens next: `retry` (same backend, after a
    backoff), `fallback` (the next backend in the chain) or `give up`."""


@hookspec
def backend_state(backend, state):
    """Called, from any thread, when something about a backend changes that a monitor would
    show: a router's choice (`state["choice"]`, `state["why"]`, and the health answer it was
    based on in `state["health"]`) or a circuit breaker's state (`state["breaker"]`: `open`,
    `half-open`, `closed`), or a local GPU backend's admission (`state["admission"]`:
    `waiting` while GPU memory is over its threshold, `admitted` again after; with
    `state["gpu_memory_fraction"]`). `state` is a plain dict."""
