"""`voxline verify`: does a finished audio file say its text? The worst sentences, with times."""

from __future__ import annotations

import json

import click


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int(seconds * 10) % 10}"


@click.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--text", "text_path", required=True, type=click.Path(dir_okay=False),
              help="The text the audio was made from.")
@click.option("--lang", help="Language of the text (zh, yue, en, ...) instead of detecting it "
                             "per sentence.")
@click.option("--verify-model", metavar="NAME|DIR",
              help="The recognizer: a CTranslate2 Whisper model folder "
                   "[default: Whisper base, from the verify extra].")
@click.option("--verify-max-error", metavar="RATE|LANG=RATE,...",
              help="The limit: character error rate for zh/yue, word error rate otherwise "
                   "[default: zh=0.25,yue=0.25, others 0.4].")
@click.option("--top", type=int, default=10, show_default=True,
              help="How many of the worst sentences to list.")
@click.option("--config", type=click.Path(dir_okay=False),
              help="TOML config file [default: $VOXLINE_CONFIG, else ./voxline.toml].")
@click.option("--json", "as_json", is_flag=True, help="Print every sentence's result as JSON.")
def verify(output, text_path, lang, verify_model, verify_max_error, top, config, as_json):
    """Check that OUTPUT (any audio file) says the text of --text FILE.

    Each sentence is found in the audio (by the manifest of the job that made it, else by
    subtitles beside it, else by aligning a transcript of the whole file), heard by an
    offline recognizer and scored against its spoken form (CER for zh/yue, WER otherwise).
    Exit code 7 when any sentence is over the limit.
    """
    from pathlib import Path

    from voxline.manifest import Manifest
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import default_workers, load_settings
    from voxline.verify import Recognizer, check_available, check_file

    settings = load_settings(config, {"lang": lang, "verify_model": verify_model,
                                      "verify_max_error": verify_max_error})
    check_available(settings.verify_model)
    registry = build_registry(get_plugin_manager())
    registry.configure(settings.backends)
    recognizer = Recognizer(settings.verify_model,
                            cpu_threads=settings.verify_threads or default_workers())
    jobs = Manifest()
    try:
        result = check_file(Path(output), Path(text_path), settings, registry, recognizer, jobs)
    finally:
        jobs.close()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return result["exit_code"]
    click.echo(f"{output}: {result['sentences']} sentences checked (placed by the "
               f"{result['alignment']}); {result['over_limit']} over the limit")
    for check in result["worst"][:top]:
        mark = ">" if not check["ok"] else "≤"
        click.echo(f"  {_clock(check['start_s'])}–{_clock(check['end_s'])}  "
                   f"{check['metric']} {check['error_rate']:.2f} {mark} {check['limit']:g}  "
                   f"#{check['chunk']} {check['text'][:60]!r}  heard {check['transcript'][:60]!r}")
    return result["exit_code"]
