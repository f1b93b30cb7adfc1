"""`voxline serve`: the pipeline as an HTTP speech server (the `serve` extra)."""

from __future__ import annotations

import click

from .options import executor_option, ray_address_option, settings_overrides


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put a key on it).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-key", "api_keys", multiple=True, envvar="VOXLINE_API_KEY",
              help="Require `Authorization: Bearer KEY` (repeat for several keys) "
                   "[env: VOXLINE_API_KEY].")
@click.option("--api-key-file", type=click.Path(dir_okay=False, exists=True),
              help="A file of accepted keys, one a line.")
@click.option("--max-chars", default=10_000, show_default=True, type=click.IntRange(1),
              help="The most characters of text one request may send.")
@click.option("--max-body", default=1 << 20, show_default=True, type=click.IntRange(1),
              help="The largest request body in bytes.")
@click.option("--per-client", default=4, show_default=True, type=click.IntRange(1),
              help="Requests in progress per client (API key, else address) before 429.")
@click.option("--max-in-flight", default=64, show_default=True, type=click.IntRange(1),
              help="Requests in progress in all before 503.")
@click.option("--request-timeout", default=300.0, show_default=True,
              type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="End a speech request that has waited this long for its audio in all "
                   "(504 when no audio was sent yet; a client's own reading does not count); "
                   "long texts belong in POST /v1/jobs.")
@click.option("--jobs-dir", type=click.Path(file_okay=False),
              help="Where POST /v1/jobs keeps each job's inputs and outputs, a folder per "
                   "job [default: $VOXLINE_STATE_DIR/serve-jobs, else "
                   "~/.local/state/voxline/serve-jobs].")
@click.option("--max-upload", default=50 << 20, show_default=True, type=click.IntRange(1),
              help="The largest POST /v1/jobs body (its text or files) in bytes.")
@click.option("--max-jobs", default=100, show_default=True, type=click.IntRange(1),
              help="Jobs waiting to start before POST /v1/jobs answers 503.")
@click.option("--preload/--no-preload", default=True, show_default=True,
              help="Load the default voices' models before taking requests.")
@click.option("--backend", help="Use this backend for all text (see `voxline backends`).")
@click.option("--workers", "-w", type=int, help="Synthesis workers shared by all requests.")
@click.option("--sample-rate", type=int,
              help="Sample rate of /api/tts and /tts answers [default: 16000]; the OpenAI "
                   "API answers at 24000 as OpenAI does.")
@click.option("--cache", help="Chunk cache: a folder, redis://host:port/db, or off.")
@executor_option("Where POST /v1/jobs synthesizes: this machine's threads, or actors on a "
                 "Ray cluster (pip install 'voxline[ray]') [default: local]. Speech requests "
                 "always use this process's resident voices.")
@ray_address_option()
@click.option("--config", type=click.Path(dir_okay=False),
              help="TOML config file [default: $VOXLINE_CONFIG, else ./voxline.toml].")
def serve(host, port, api_keys, api_key_file, max_chars, max_body, per_client, max_in_flight,
          request_timeout, jobs_dir, max_upload, max_jobs, preload, config, **options):
    """Serve speech over HTTP: the OpenAI audio API (POST /v1/audio/speech, GET /v1/models),
    the ChatTTS deployments' POST /api/tts and GET /health, streaming GET /tts?text=…, long
    jobs (POST /v1/jobs) and /metrics. Models stay loaded; each answer streams as its
    sentences are made; jobs not finished when the server stopped go on when it starts."""
    from voxline.server import require_extra

    require_extra()
    import uvicorn

    from voxline.errors import UsageError
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.manifest import default_state_dir
    from voxline.server.app import create_app
    from voxline.server.jobs import JobQueue
    from voxline.server.limits import Limits
    from voxline.server.speech import SpeechService
    from voxline.settings import load_settings

    from .synth import check_backends

    keys = [k for k in api_keys if k]
    if api_key_file:
        with open(api_key_file, encoding="utf-8") as handle:
            keys.extend(line.strip() for line in handle if line.strip())
    settings = load_settings(config, settings_overrides(options))
    pm = get_plugin_manager()
    registry = build_registry(pm)
    registry.check_options(settings.backends)
    check_backends(registry, settings)
    if settings.executor == "ray":  # a bad address or no Ray: one line now, not per job
        from voxline.ray_executor import connect

        connect(settings.ray_address)
        click.echo(f"voxline serve: jobs run on the Ray cluster at "
                   f"{settings.ray_address or 'auto'}", err=True)
    service = SpeechService(pm, registry, settings)
    if preload:
        names = service.default_backends()
        click.echo(f"voxline serve: loading {', '.join(names) or 'nothing'}", err=True)
        service.preload(names)
    limits = Limits(tuple(keys), max_body, max_chars, per_client, max_in_flight,
                    max_upload_bytes=max_upload)
    folder = jobs_dir or default_state_dir() / "serve-jobs"
    try:
        jobs = JobQueue(service, folder, max_queued=max_jobs)
    except OSError as exc:
        service.close()
        raise UsageError(f"jobs folder {folder}: {exc.strerror or exc}") from None
    except BaseException:  # another server holds the folder
        service.close()
        raise
    if jobs.resumed:
        click.echo(f"voxline serve: resuming {len(jobs.resumed)} unfinished jobs", err=True)
    app = create_app(service, limits, jobs=jobs, request_timeout_s=request_timeout)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    click.echo(f"voxline serve: http://{host}:{port}"
               + (f" ({len(keys)} API keys)" if keys else "")
               + (" — listening beyond this machine" if host not in ("127.0.0.1", "localhost",
                                                                   "::1") else ""), err=True)
    import signal

    # uvicorn takes SIGINT and SIGTERM while it runs (it stops taking requests and lets those
    # in progress finish) and hands them on afterwards: to no one, since stopping is done
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: None)
    try:
        server.run()
        click.echo("voxline serve: stopped", err=True)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        jobs.close()
        service.close()
