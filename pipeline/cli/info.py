"""`voxline backends`, `voxline plugins`, `voxline doctor`."""

from __future__ import annotations

import json
import subprocess
import time

import click


def _registry():
    from voxline.pluginmanager import build_registry, get_plugin_manager

    pm = get_plugin_manager()
    return pm, build_registry(pm)


def _health(cls, options) -> dict:
    from voxline.errors import VoxlineError

    started = time.perf_counter()
    try:
        health = cls(options).health()
        ok, detail = health.ok, health.detail
    except VoxlineError as exc:
        ok, detail = False, str(exc)
    except Exception as exc:  # a plugin's broken health check is itself a finding
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return {"ok": ok, "detail": detail, "checked_in_s": round(time.perf_counter() - started, 3)}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML config file.")
def backends(as_json, config):
    """List speech backends with their capabilities and health."""
    from voxline.settings import load_settings

    settings = load_settings(config)
    _, registry = _registry()
    rows = []
    for name in sorted(registry.backends):
        cls = registry.backends[name]
        row = cls.describe()
        row["plugin"] = registry.provided_by[f"backend:{name}"]
        row["health"] = _health(cls, settings.backend_options(name))
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        state = click.style("ok", fg="green") if row["health"]["ok"] else click.style(
            "unavailable", fg="red")
        click.echo(f"{row['name']}  [{state}] {row['health']['detail']}")
        click.echo(f"  {row['sample_rate_hz']} Hz · budget {row['budget_chars']} chars · "
                   f"controls: {', '.join(row['controls']) or 'none'} · "
                   f"SSML: {', '.join(row['ssml_tags']) or 'none (translated)'}"
                   + (" · needs GPU" if row["needs_gpu"] else ""))
        click.echo(f"  languages: {', '.join(row['languages'])}")
        defaults = ", ".join(f"{v['language']}={v['name']}" for v in row["voices"][:6])
        click.echo(f"  voices: {defaults}{' ...' if len(row['voices']) > 6 else ''}")
    click.echo("routes: " + ", ".join(f"{k}→{v}" for k, v in sorted(settings.routes.items())))
    return 0


@click.command()
def plugins():
    """Print the loaded plugins and their hooks as JSON."""
    from voxline.pluginmanager import describe_plugins, get_plugin_manager

    click.echo(json.dumps(describe_plugins(get_plugin_manager()), indent=2))
    return 0


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(as_json):
    """Check that FFmpeg, the backends and the GPU are usable."""
    from voxline import SynthesisRequest, gpu
    from voxline.audio import ffmpeg_exe
    from voxline.errors import EXIT_BACKEND
    from voxline.settings import load_settings

    checks = []
    try:
        exe = ffmpeg_exe()
        first = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20
                               ).stdout.splitlines()[0]
        checks.append({"check": "ffmpeg", "ok": True, "detail": f"{first} ({exe})"})
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
        checks.append({"check": "ffmpeg", "ok": False, "detail": str(exc)})

    settings = load_settings()
    _, registry = _registry()
    samples = {"en": "Testing one two three.", "zh": "你好，世界。", "yue": "你好。"}
    for name in sorted(registry.backends):
        cls = registry.backends[name]
        health = _health(cls, settings.backend_options(name))
        detail = health["detail"]
        if health["ok"] and not cls.capabilities.needs_gpu:
            language = next((lang for lang in cls.capabilities.languages if lang in samples),
                            cls.capabilities.languages[0])
            try:
                started = time.perf_counter()
                audio = cls(settings.backend_options(name)).synthesize(
                    SynthesisRequest(samples.get(language, "test"), language))
                detail = (f"spoke {audio.duration_s:.2f}s of {language} in "
                          f"{time.perf_counter() - started:.2f}s")
            except Exception as exc:  # noqa: BLE001
                health["ok"], detail = False, f"synthesis failed: {exc}"
        checks.append({"check": f"backend {name}", "ok": health["ok"], "detail": detail})

    report = gpu.sample()
    detail = report.reason if not report.available else "; ".join(
        f"#{d.index} {d.name} {d.memory_used_bytes / 2**30:.1f}/"
        f"{d.memory_total_bytes / 2**30:.1f} GiB" if d.memory_total_bytes else f"#{d.index} {d.name}"
        for d in report.devices)
    # no GPU is information, not a failure: the default backends run on the CPU
    checks.append({"check": "gpu", "ok": True, "detail": detail, "gpu_available": report.available})

    if as_json:
        click.echo(json.dumps(checks, ensure_ascii=False, indent=2))
    else:
        for check in checks:
            mark = click.style("ok  ", fg="green") if check["ok"] else click.style("FAIL", fg="red")
            click.echo(f"{mark} {check['check']}: {check['detail']}")
    essential = [c for c in checks if c["check"] in ("ffmpeg", "backend piper", "backend espeak")]
    return 0 if all(c["ok"] for c in essential) else EXIT_BACKEND
