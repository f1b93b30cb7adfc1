"""`voxline backends`, `voxline plugins`, `voxline doctor`."""

from __future__ import annotations

import json
import subprocess
import time

import click

from .options import executor_option, ray_address_option


def _registry():
    from voxline.pluginmanager import build_registry, get_plugin_manager

    pm = get_plugin_manager()
    return pm, build_registry(pm)


def _health(pool, name: str) -> dict:
    """One backend's health answer, checked through the job's own machinery (so a router
    reaches its targets); never raises."""
    from voxline.errors import VoxlineError

    started = time.perf_counter()
    info: dict = {}
    configured = True
    try:
        health = pool.get(name).health()
        ok, detail, info = health.ok, health.detail, dict(health.info)
    except VoxlineError as exc:
        ok, detail = False, str(exc)
        configured = getattr(exc, "reason", None) != "not configured"
    except Exception as exc:  # a plugin's broken health check is itself a finding
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return {"ok": ok, "configured": configured, "detail": detail, "info": info,
            "checked_in_s": round(time.perf_counter() - started, 3)}


def _health_all(registry, settings, names) -> dict[str, dict]:
    """Health of `names`, checked at once (servers may each take seconds to answer)."""
    from concurrent.futures import ThreadPoolExecutor

    from voxline.job import BackendPool

    pool = BackendPool(registry, settings)
    try:
        with ThreadPoolExecutor(max(1, min(8, len(names)))) as executor:
            return dict(zip(names, executor.map(lambda n: _health(pool, n), names)))
    finally:
        pool.close()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Ask each backend (and each configured server) for its health.")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML config file.")
def backends(as_json, check, config):
    """List speech backends with their capabilities and health.

    For a router (`chattts`) the health check is the router's own: it probes its primary
    server and says which server it would use now, and why."""
    from voxline.settings import load_settings

    settings = load_settings(config)
    _, registry = _registry()
    registry.check_options(settings.backends)
    registry.configure(settings.backends)
    names = sorted(registry.backends)
    health = _health_all(registry, settings, names) if check else {}
    rows = []
    for name in names:
        cls = registry.backends[name]
        row = cls.describe(registry.capabilities(name))
        row["plugin"] = registry.provided_by[f"backend:{name}"]
        if hasattr(cls, "resolve_url"):
            try:
                row["url"] = cls.resolve_url(settings.backend_options(name))
            except Exception:  # noqa: BLE001 - unconfigured: the health detail says so
                row["url"] = None
        row["health"] = health.get(name)
        rows.append(row)
    from voxline.redact import redact

    rows = redact(rows)  # a server URL or a health answer may carry a password or token
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        if row["health"] is None:
            state = "not checked"
        elif row["health"]["ok"]:
            state = click.style("ok", fg="green")
        elif not row["health"]["configured"]:
            state = "not configured"
        else:
            state = click.style("unavailable", fg="red")
        detail = row["health"]["detail"] if row["health"] else ""
        click.echo(f"{row['name']}  [{state}] {detail}".rstrip())
        if row.get("url"):
            click.echo(f"  server: {row['url']}")
        click.echo(f"  {row['sample_rate_hz']} Hz · budget {row['budget_chars']} chars · "
                   f"controls: {', '.join(row['controls']) or 'none'} · "
                   f"SSML: {', '.join(row['ssml_tags']) or 'none (translated)'}"
                   + (" · needs GPU" if row["needs_gpu"] else "")
                   + (f" · {row['max_workers']} at once" if row["max_workers"] else ""))
        click.echo(f"  languages: {', '.join(row['languages'])}")
        defaults = ", ".join(f"{v['language']}={v['name']}" for v in row["voices"][:6])
        click.echo(f"  voices: {defaults}{' ...' if len(row['voices']) > 6 else ''}")
        if row["options"]:
            click.echo(f"  options (--option {row['name']}.OPTION=VALUE, "
                       f"[backends.{row['name']}]):")
            for option in row["options"]:
                click.echo(f"    {_option_line(option)}")
        if row["terms"]:
            terms = row["terms"]
            click.echo(f"  licence: {terms['licence']}"
                       + (f" · data: {terms['data']}" if terms["data"] else "")
                       + (" · NON-COMMERCIAL" if terms["non_commercial"] else ""))
    click.echo("routes: " + ", ".join(f"{k}→{v}" for k, v in sorted(settings.routes.items())))
    click.echo(f"config: {settings.config_file or 'none (defaults and environment)'}")
    return 0


def _option_line(option: dict) -> str:
    """One declared backend option, for `voxline backends`: name, type, what it allows,
    its default, its own flag and its help."""
    facts = [option["type"]]
    low, high = option["minimum"], option["maximum"]
    if low is not None or high is not None:
        facts.append(f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}")
    if option["choices"]:
        facts.append("one of " + "|".join(map(str, option["choices"])))
    if option["default"] is not None:
        facts.append(f"default {json.dumps(option['default'], ensure_ascii=False)}")
    flag = f" {option['flag']}" if option["flag"] else ""
    return f"{option['name']} ({', '.join(facts)}){flag}: {option['help']}".rstrip(": ")


@click.command()
def plugins():
    """Print the loaded plugins and their hooks as JSON."""
    from voxline.pluginmanager import describe_plugins, get_plugin_manager

    click.echo(json.dumps(describe_plugins(get_plugin_manager()), indent=2))
    return 0


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@executor_option("With ray: also show the Ray cluster's nodes and their resources, and "
                 "which backends it can place [default: [synth] executor].")
@ray_address_option()
def doctor(as_json, executor, ray_address):
    """Check that FFmpeg, the backends and the GPU are usable (and a Ray cluster)."""
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

    settings = load_settings(overrides={"executor": executor, "ray_address": ray_address})
    _, registry = _registry()
    registry.check_options(settings.backends)
    registry.configure(settings.backends)
    cluster = None
    if settings.executor == "ray":  # first: a bad address is one line, before any work
        from voxline.ray_executor import cluster_report

        cluster = cluster_report(registry, settings)
    samples = {"en": "Testing one two three.", "zh": "你好，世界。", "yue": "你好。"}
    names = sorted(registry.backends)
    healths = _health_all(registry, settings, names)
    for name in names:
        cls = registry.backends[name]
        caps = registry.capabilities(name)
        health = healths[name]
        detail = health["detail"]
        if health["ok"] and not caps.needs_gpu and not caps.network:
            language = next((lang for lang in caps.languages if lang in samples),
                            caps.languages[0])
            try:
                started = time.perf_counter()
                audio = cls(settings.backend_options(name)).synthesize(
                    SynthesisRequest(samples.get(language, "test"), language))
                detail = (f"spoke {audio.duration_s:.2f}s of {language} in "
                          f"{time.perf_counter() - started:.2f}s")
            except Exception as exc:  # noqa: BLE001
                health["ok"], detail = False, f"synthesis failed: {exc}"
        checks.append({"check": f"backend {name}", "ok": health["ok"], "detail": detail,
                       "configured": health["configured"]})

    checks.append({"check": "config", "ok": True,
                   "detail": settings.config_file or "none (defaults and environment)"})
    report = gpu.sample()
    detail = report.reason if not report.available else "; ".join(
        f"#{d.index} {d.name} {d.memory_used_bytes / 2**30:.1f}/"
        f"{d.memory_total_bytes / 2**30:.1f} GiB" if d.memory_total_bytes else f"#{d.index} {d.name}"
        for d in report.devices)
    # no GPU is information, not a failure: the default backends run on the CPU
    checks.append({"check": "gpu", "ok": True, "detail": detail, "gpu_available": report.available})
    if cluster is not None:
        checks.extend(_ray_checks(cluster))
    from voxline.redact import redact

    checks = redact(checks)

    if as_json:
        click.echo(json.dumps(checks, ensure_ascii=False, indent=2))
    else:
        for check in checks:
            if check["ok"]:
                mark = click.style("ok  ", fg="green")
            elif not check.get("configured", True):
                mark = "skip"  # a server nobody pointed voxline at is not a failure
            else:
                mark = click.style("FAIL", fg="red")
            click.echo(f"{mark} {check['check']}: {check['detail']}")
    essential = {"ffmpeg", "ray", *(f"backend {name}" for name in _routed(settings, registry))}
    return 0 if all(c["ok"] for c in checks if c["check"] in essential) else EXIT_BACKEND


def _routed(settings, registry) -> set[str]:
    """The backends a plain `voxline synth` sends text to: `--backend`/[synth] backend, or
    each [routes] language's backend (with the fallback when a default voice is not
    installed). Doctor fails when one of them cannot speak; the others are reported."""
    from voxline.errors import VoxlineError
    from voxline.prepare import route

    names = set()
    for language in settings.routes:
        try:
            names.add(route(language, None, settings, registry)[0])
        except VoxlineError:
            continue  # a route to a backend that is not installed: synth says so itself
    return names


def _amounts(resources: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in resources.items()) or "none"


def _ray_checks(cluster: dict) -> list[dict]:
    """`doctor --executor ray`: the cluster, each node's resources, each backend's placement."""
    nodes = cluster["nodes"]
    checks = [{"check": "ray", "ok": bool(nodes),
               "detail": f"{len(nodes)} node{'s' * (len(nodes) != 1)} at {cluster['address']}; "
                         f"free: {_amounts(cluster['free'])}",
               "address": cluster["address"], "free": cluster["free"]}]
    for node in nodes:
        checks.append({"check": f"ray node {node['id'][:8]}", "ok": True,
                       "detail": f"{node['address']}{' (head)' if node['head'] else ''}: "
                                 f"{_amounts(node['resources'])}",
                       "node": node["id"], "head": node["head"],
                       "resources": node["resources"]})
    for backend in cluster["backends"]:
        checks.append({"check": f"ray place {backend['backend']}", "ok": backend["placeable"],
                       "detail": backend["detail"], "needs": backend["needs"],
                       "actors": backend["actors"]})
    return checks
