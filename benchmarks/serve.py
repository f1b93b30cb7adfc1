"""`voxline serve` under load: a bounded async httpx client on 127.0.0.1 sends one-sentence
English prompts to `POST /v1/audio/speech` (WAV, streamed) with 1, 8 and 32 requests in
progress; per level, time to the first audio byte (p50/p99), requests per second and errors,
cold (prompts never heard) and cached (the same prompts again), against one server with the
Piper voice resident."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = ["The council", "Our team", "The new library", "A quiet street", "The late train",
            "This morning's bulletin", "The harbour office", "A small bakery"]
PREDICATES = ["opened its doors at nine", "changed the timetable again",
              "answered every letter this week", "will close early on Friday",
              "asked for more volunteers", "reported a calm weekend"]


def prompts(count: int, salt: str) -> list[str]:
    """`count` different one-sentence prompts (50-70 characters), distinct for each salt."""
    out = []
    for n in range(count):
        subject = SUBJECTS[n % len(SUBJECTS)]
        predicate = PREDICATES[(n // len(SUBJECTS)) % len(PREDICATES)]
        out.append(f"{subject} {predicate}, notice {salt}{n}.")
    return out


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


async def _one(client, url: str, text: str) -> dict:
    started = time.perf_counter()
    first = None
    size = 0
    try:
        async with client.stream("POST", url, json={
                "model": "tts-1", "input": text, "voice": "alloy",
                "response_format": "wav"}) as response:
            if response.status_code != 200:
                await response.aread()
                return {"error": response.status_code}
            async for part in response.aiter_bytes():
                if first is None and part:
                    first = time.perf_counter() - started
                size += len(part)
    except Exception as exc:  # noqa: BLE001 - counted, not fatal to the run
        return {"error": type(exc).__name__}
    return {"first_s": first, "total_s": time.perf_counter() - started, "bytes": size}


async def _level(url: str, texts: list[str], clients: int) -> dict:
    import httpx

    gate = asyncio.Semaphore(clients)
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(
            max_connections=clients, max_keepalive_connections=clients)) as client:
        async def run(text: str) -> dict:
            async with gate:
                return await _one(client, url, text)

        started = time.perf_counter()
        results = await asyncio.gather(*(run(t) for t in texts))
        wall = time.perf_counter() - started
    firsts = [r["first_s"] for r in results if r.get("first_s") is not None]
    errors = [r["error"] for r in results if "error" in r]
    return {"clients": clients, "requests": len(texts), "errors": len(errors),
            "error_kinds": sorted({str(e) for e in errors}),
            "first_audio_p50_ms": _ms(percentile(firsts, 0.5)),
            "first_audio_p99_ms": _ms(percentile(firsts, 0.99)),
            "requests_per_s": round(len(texts) / wall, 2), "wall_s": round(wall, 2)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _start_server(folder: Path, workers: int | None) -> tuple[subprocess.Popen, str]:
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "VOXLINE_CACHE_DIR": str(folder / "cache"),
           "VOXLINE_STATE_DIR": str(folder / "state")}
    env.pop("VOXLINE_API_KEY", None)
    args = [sys.executable, "-m", "voxline.cli.main", "serve", "--port", str(port),
            "--per-client", "64", "--max-in-flight", "128"]
    if workers:
        args += ["--workers", str(workers)]
    proc = subprocess.Popen(args, env=env, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError("voxline serve exited before it answered")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("voxline serve did not start in 180 s")
        time.sleep(0.2)


def bench_serve(levels: list[int], per_client: int, workers: int | None = None) -> dict:
    """Each level: `per_client` × clients cold prompts (at least 8), then the same again."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc, url = _start_server(Path(tmp), workers)
        start_s = time.perf_counter() - started
        try:
            endpoint = url + "/v1/audio/speech"
            asyncio.run(_level(endpoint, prompts(2, "warm"), 1))  # first request's imports
            for clients in levels:
                texts = prompts(max(8, per_client * clients), f"c{clients}-")
                cold = asyncio.run(_level(endpoint, texts, clients))
                cached = asyncio.run(_level(endpoint, texts, clients))
                rows.append({**cold, "kind": "cold"})
                rows.append({**cached, "kind": "cached"})
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"server_start_s": round(start_s, 2), "cpus": os.cpu_count(),
            "workers": workers, "rows": rows}


def print_table(result: dict) -> None:
    print(f"voxline serve, Piper resident, one-sentence prompts (server up and preloaded in "
          f"{result['server_start_s']} s, {result['cpus']} CPUs)")
    print(f"{'clients':>7} {'kind':>6} {'requests':>8} {'errors':>6} {'first p50 ms':>12} "
          f"{'first p99 ms':>12} {'req/s':>7}")
    for row in result["rows"]:
        print(f"{row['clients']:>7} {row['kind']:>6} {row['requests']:>8} {row['errors']:>6} "
              f"{row['first_audio_p50_ms']!s:>12} {row['first_audio_p99_ms']!s:>12} "
              f"{row['requests_per_s']:>7}")
