"""The `voxline` command group and the edge where errors become exit codes."""

from __future__ import annotations

import signal
import sys

import click

from voxline import __version__
from voxline.display import printable
from voxline.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, VoxlineError

from . import (cache_cmd, chapters_cmd, info, jobs_cmd, models_cmd, normalize_cmd, serve_cmd,
               synth, tui_cmd, verify_cmd)
from . import signals


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voxline")
@click.option("-v", "--verbose", count=True,
              help="Log to stderr: -v one line per server request, -vv debug.")
@click.option("--strict-plugins", is_flag=True,
              help="A broken third-party plugin is an error (exit 6) instead of a warning and "
                   "a skipped plugin [env: VOXLINE_STRICT_PLUGINS=1].")
def cli(verbose: int, strict_plugins: bool) -> None:
    """Turn long-form text into speech files.

    \b
    voxline synth samples/ -o out/     every .txt/.ssml in samples/ → out/<name>.wav
    voxline normalize --lang zh        print what will be spoken
    voxline backends                   speech backends, capabilities and health
    voxline doctor                     check FFmpeg, backends and GPU
    voxline cache stats|clear|verify   look after the chunk cache
    voxline jobs [show ID]             jobs, their state and manifests
    voxline models pull chattts        download ChatTTS's weights (list|path|remove)
    voxline tui book/ -o out/          the same job in a terminal UI
    voxline verify out/a.wav --text a.txt   does the audio say its text?
    voxline chapters book.epub         a book's chapters, words, estimated duration
    voxline serve --port 8000          speech over HTTP (OpenAI audio API, /api/tts)

    Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 4 backend, 5 output,
    6 plugin, 7 verify: audio over the error limit, 8 job running in another process,
    130 interrupted (Ctrl-C), 143 stopped by SIGTERM.
    """
    if verbose:
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        handler.addFilter(_redacting)
        root = logging.getLogger("voxline")
        root.addHandler(handler)
        root.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


def _redacting(record) -> bool:
    """A log record with any credential in it masked (URLs with passwords, tokens)."""
    from voxline.redact import redact

    record.msg, record.args = redact(record.getMessage()), ()
    return True


cli.add_command(synth.synth)
cli.add_command(normalize_cmd.normalize)
cli.add_command(info.backends)
cli.add_command(info.plugins)
cli.add_command(info.doctor)
cli.add_command(cache_cmd.cache)
cli.add_command(jobs_cmd.jobs)
cli.add_command(models_cmd.models)
cli.add_command(tui_cmd.tui)
cli.add_command(verify_cmd.verify)
cli.add_command(chapters_cmd.chapters)
cli.add_command(serve_cmd.serve)


def _add_plugin_commands() -> None:
    """The commands plugins add, and the flags their backends declare (on synth and tui)."""
    from voxline.pluginmanager import build_registry, get_plugin_manager

    from .options import add_backend_flags

    pm = get_plugin_manager()
    pm.hook.register_commands(cli=cli)
    add_backend_flags((synth.synth, tui_cmd.tui), pm, build_registry(pm))


def add_builtin_backend_flags() -> None:
    """The flags the built-in backends declare (chattts-local's `--model-dir`, `--speaker`),
    without loading any third-party plugin: what the CLI reference documents."""
    from voxline.pluginmanager import build_registry, new_plugin_manager

    from .options import add_backend_flags

    pm = new_plugin_manager(load_env="")
    add_backend_flags((synth.synth, tui_cmd.tui), pm, build_registry(pm))


def _report_plugin_problems(argv: list[str]) -> None:
    """Broken plugins are warnings, each once per run; `--strict-plugins` (read here, before
    the plugins that add commands are loaded) makes them errors."""
    import os

    from voxline.pluginmanager import on_plugin_problem

    if "--strict-plugins" in argv:
        os.environ["VOXLINE_STRICT_PLUGINS"] = "1"
    seen: set[str] = set()

    def warn(message: str) -> None:
        if message not in seen:
            seen.add(message)
            click.echo(f"voxline: warning: {printable(message)} (plugin skipped; --strict-plugins makes "
                       "this an error)", err=True)

    on_plugin_problem(warn)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning voxline errors into one-line messages and
    documented exit codes."""
    if hasattr(signal, "SIGXFSZ"):
        # a file-size limit (ulimit -f) makes a write fail with "File too large", reported
        # like a full disk, instead of killing the process mid-file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signals.handle_sigterm()
    try:
        _report_plugin_problems(sys.argv[1:] if argv is None else list(argv))
        _add_plugin_commands()
        code = cli.main(args=argv, prog_name="voxline", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("voxline: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("voxline: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except VoxlineError as exc:
        click.echo(f"voxline: error: {printable(exc)}", err=True)
        code = exc.exit_code
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence keeps a useful message
        from voxline.redact import redact

        click.echo(f"voxline: internal error: {type(exc).__name__}: {printable(redact(str(exc)))} "
                   "(please report this with the command you ran)", err=True)
        code = EXIT_INTERNAL
    if signals.terminated():
        click.echo("voxline: stopped by SIGTERM (the same command resumes the job)", err=True)
    sys.exit(signals.exit_code(code or 0))


if __name__ == "__main__":
    main()
