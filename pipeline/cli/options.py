"""Option groups shared by commands, as decorators."""

from __future__ import annotations

import click


def synthesis_options(fn):
    """The options that shape a synthesis job (synth, and later the TUI)."""
    decorators = [
        click.option("--backend", help="Use this backend for all text (see `voxline backends`)."),
        click.option("--voice", help="Use this voice for all text: NAME, or BACKEND:NAME."),
        click.option("--lang", help="Language of the text (zh, yue, en, ...) instead of "
                                    "detecting it per sentence."),
        click.option("--workers", "-w", type=int,
                     help="Synthesis workers running at once [default: CPU cores]."),
        click.option("--sample-rate", type=int, help="Output sample rate in Hz [default: 16000]."),
        click.option("--format", "fmt", type=click.Choice(
            ["wav", "flac", "mp3", "ogg", "opus", "m4a"]), help="Output format [default: wav]."),
        click.option("--config", type=click.Path(dir_okay=False),
                     help="TOML config file [default: $VOXLINE_CONFIG, else ./voxline.toml]."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def settings_overrides(backend, voice, lang, workers, sample_rate, fmt) -> dict:
    return {"backend": backend, "voice": voice, "lang": lang, "workers": workers,
            "sample_rate": sample_rate, "format": fmt}
