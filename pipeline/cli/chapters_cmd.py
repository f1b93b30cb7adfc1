"""`voxline chapters`: the chapters a book (or --chapters over text files) would make, with
words and estimated duration by backend, before any synthesis."""

from __future__ import annotations

import json

import click

from .options import read_options, reading_options


@click.command()
@click.argument("paths", nargs=-1, required=True)
@reading_options
@click.option("--backend", help="Estimate for this backend (default: as synth routes).")
@click.option("--voice", help="Estimate for this voice: NAME, or BACKEND:NAME.")
@click.option("--lang", help="Language of the text instead of detecting it per sentence.")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def chapters(paths, backend, voice, lang, config, as_json, **options):
    """List the chapters of PATHS as `synth --chapters` would make them: number (what
    --pick takes), title, words and estimated duration by backend; front and back matter
    shown as skipped."""
    from voxline.chapters import chapter_listing
    from voxline.errors import UsageError
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import load_settings
    from voxline.textio import find_inputs

    inputs = find_inputs(list(paths))
    if not inputs:
        raise UsageError(f"no .txt or .ssml files found in {', '.join(map(str, paths))}")
    if any(source == "-" for source, _ in inputs):
        raise UsageError("voxline chapters reads files, not standard input")
    settings = load_settings(config, {"backend": backend, "voice": voice, "lang": lang})
    registry = build_registry(get_plugin_manager())
    registry.configure(settings.backends)
    listing = chapter_listing(inputs, registry, settings, read_options(options),
                              options.get("pick"))
    click.echo(json.dumps(listing, ensure_ascii=False, indent=2) if as_json
               else chapters_summary(listing))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _by_backend(estimate: dict) -> str:
    return ", ".join(f"{name} ~{_duration(seconds)}" for name, seconds in
                     sorted(estimate.items(), key=lambda item: -item[1])) or "-"


def chapters_summary(listing: dict) -> str:
    """The listing as `voxline chapters` (and `synth --dry-run`) print it."""
    head = listing["title"] or "chapters"
    if listing["authors"]:
        head += f" — {', '.join(listing['authors'])}"
    extra = [x for x in (listing.get("language"), listing.get("date")[:4] if listing.get(
        "date") else "", "cover" if listing.get("cover") else "") if x]
    lines = [head + (f" ({', '.join(extra)})" if extra else "")]
    for entry in listing["chapters"]:
        if entry["number"] is None:
            lines.append(f"     -  {entry['title']}  (skipped: {entry['role']} matter"
                         + (f", {entry['kind']}" if entry["kind"] else "")
                         + "; --include-front-matter reads it)")
            continue
        lines.append(f"  {entry['number']:>4}  {entry['title']}  {entry['words']} words, "
                     f"{_by_backend(entry['estimated_s'])}"
                     + ("" if entry["read"] else "  (not picked)"))
    read = sum(1 for e in listing["chapters"] if e["read"])
    lines.append(f"{read} chapters to read, {listing['words']} words, "
                 f"{_by_backend(listing['estimated_s'])} (estimated)")
    for warning in listing.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
