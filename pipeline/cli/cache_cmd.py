"""`voxline cache stats|clear|verify`: look after the chunk cache."""

from __future__ import annotations

import json

import click


def _store(cache: str | None, config: str | None):
    from voxline.cache import open_store
    from voxline.errors import UsageError
    from voxline.settings import load_settings

    settings = load_settings(config, {"cache": cache})
    store = open_store(settings.cache, settings.cache_max, ttl=settings.cache_ttl, strict=True,
                       on_warning=lambda message: click.echo(f"voxline: warning: {message}",
                                                             err=True))
    if store is None:
        raise UsageError("the cache is off (--cache off or VOXLINE_CACHE=off)")
    return store


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


@click.group()
def cache() -> None:
    """Look after the chunk cache (default: $VOXLINE_CACHE_DIR, else ~/.cache/voxline)."""


_options = [
    click.option("--cache", "cache_spec", metavar="DIR|redis://…",
                 help="The cache to act on [default: as synth would use]."),
    click.option("--config", type=click.Path(dir_okay=False), help="TOML config file."),
]


def _with_options(fn):
    for option in reversed(_options):
        fn = option(fn)
    return fn


@cache.command()
@_with_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(cache_spec, config, as_json):
    """Entries, size and audio held, by backend."""
    store = _store(cache_spec, config)
    try:
        data = store.stats()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    bound = f" of {_bytes(data['max_bytes'])}" if data.get("max_bytes") else ""
    click.echo(f"{data['store']}: {data['entries']} chunks, {_bytes(data['bytes'])}{bound}, "
               f"{data.get('audio_s', 0) / 60:.1f} min of audio")
    for backend, count in sorted(data.get("backends", {}).items()):
        click.echo(f"  {backend}: {count} chunks")
    return 0


@cache.command()
@_with_options
@click.option("--older-than", metavar="AGE",
              help="Only entries not used for AGE (e.g. 12h, 7d, 2w).")
def clear(cache_spec, config, older_than):
    """Remove entries (all of them, or those not used for a while)."""
    from voxline.cache import parse_age

    age = parse_age(older_than) if older_than else None
    store = _store(cache_spec, config)
    try:
        removed = store.clear(age)
    finally:
        store.close()
    click.echo(f"removed {removed} chunks from {store.description}")
    return 0


@cache.command()
@_with_options
@click.option("--repair", is_flag=True,
              help="Index chunk files the index does not know (after a damaged index was "
                   "moved aside) instead of removing them.")
def verify(cache_spec, config, repair):
    """Check every entry against its checksum; drop damaged entries and stray files."""
    store = _store(cache_spec, config)
    try:
        result = store.verify(repair=repair)
    finally:
        store.close()
    click.echo(f"{store.description}: checked {result['checked']} chunks, "
               f"{result['bad']} damaged (removed), {result['orphans']} stray files removed"
               + (f", {result['reindexed']} chunk files indexed again" if repair else ""))
    return 0
