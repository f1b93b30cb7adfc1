"""The issue-8 suite: every comparison in one run, one table of figures against targets.

    python -m benchmarks suite            full size (about 30 minutes on 2 cores)
    python -m benchmarks suite --smoke    tiny inputs, no targets judged (CI)

Rows:
- vs Piper's CLI: one ~20 000-character English text (-w 1, -w 2) and 200 short files;
- overhead share: non-synthesis stage time / all stage time in a 2-hour job, with Piper
  (-w 2, the neural engine long-form jobs use) and with eSpeak NG (-w 1: about a thousand
  times real time, so the hardest case for this ratio);
- warm cache: the same 2-hour jobs again with --force (every chunk from the cache, every
  output re-assembled) / the first run, and the plain second run (the output is up to date);
- memory: peak RSS of a 10-minute and a 2-hour job (eSpeak NG);
- assembly: resample + concatenate + encode, audio seconds per wall second;
- start-up: `voxline --help`, `voxline synth` on a one-line file;
- time to first audio: `voxline synth FILE -o -` on short and long English (Piper) and a
  ~10 000-character Chinese text (eSpeak NG).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL = {"chars": 20000, "zh_chars": 10000, "files": 200, "hours": (1 / 6, 2.0),
        "piper_hours": (2.0,),
        "assembly_s": 3600.0, "per_chunk_s": 300.0, "startup_rounds": 5, "piper_rounds": 2}
SMOKE = {"chars": 300, "zh_chars": 200, "files": 3, "hours": (0.005, 0.01),
         "piper_hours": (0.005,),
         "assembly_s": 30.0, "per_chunk_s": 13.0, "startup_rounds": 1, "piper_rounds": 1}


def voxline_exe() -> list[str]:
    """The installed console script when there is one (what users run), else the module."""
    script = Path(sys.executable).with_name("voxline")
    return [str(script)] if script.exists() else [sys.executable, "-m", "voxline.cli.main"]


def startup(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        line = Path(tmp) / "line.txt"
        line.write_text("Hello from voxline.\n", encoding="utf-8")
        env = {**os.environ, "VOXLINE_STATE_DIR": str(Path(tmp) / "state"),
               "VOXLINE_CACHE_DIR": str(Path(tmp) / "cache")}
        synth = [*voxline_exe(), "synth", str(line), "-o", str(Path(tmp) / "o.wav"),
                 "--no-cache", "--force", "-q"]
        commands = {"help": [*voxline_exe(), "--help"],
                    "synth_piper": [*synth, "--backend", "piper"],
                    "synth_espeak": [*synth, "--backend", "espeak"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for name, command in commands.items():  # once untimed: bytecode and OS caches
            subprocess.run(command, env=env, capture_output=True, check=True)
        for _ in range(rounds):
            for name, command in commands.items():
                started = time.perf_counter()
                subprocess.run(command, env=env, capture_output=True, check=True)
                times[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


# bytes of the benchmark's English text per second of speech, for sizing an N-hour job
CHARS_PER_S = {"espeak": 13.5, "piper": 13.0}


def long_jobs(hours: tuple[float, ...], backend: str, workers: int) -> dict:
    """N-hour jobs on one backend (the memory rows) plus a --force rerun of the longest from
    the cache (the warm-cache row); the longest job's stage times give the overhead share."""
    from . import __main__ as bench

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for h in hours:
            # one cache per job: the shorter job's text is the start of the longer one's
            env = {"VOXLINE_CACHE_DIR": str(Path(tmp) / f"cache{h}"),
                   "VOXLINE_STATE_DIR": str(Path(tmp) / f"state{h}")}
            source = Path(tmp) / f"book{h}h.txt"
            bench._big_text(source, max(200, int(h * 3600 * CHARS_PER_S[backend])),
                            unique=True)
            out = Path(tmp) / f"book{h}h.wav"
            runs = [("cold", [])] + ([("rerun", []), ("force", ["--force"])]
                                     if h == hours[-1] else [])
            for label, extra in runs:
                report, wall, peak = bench._run(["synth", str(source), "-o", str(out),
                                                 "--backend", backend, "-w", str(workers),
                                                 *extra], env)
                stages = report["stage_s"]
                synth = stages.get("synthesize", 0.0)
                other = sum(v for k, v in stages.items() if k != "synthesize")
                if label == "cold" and report["cache"] and report["cache"].get("hits"):
                    raise SystemExit("a cold long job found chunks in the cache")
                rows.append({"hours": round(report["audio_s"] / 3600, 3), "run": label,
                             "process_wall_s": round(wall, 2), "job_wall_s": report["wall_s"],
                             "peak_rss_mib": round(peak / 1024, 1),
                             "chunks": report["documents"][0]["chunks"],
                             "from_cache": (report["cache"] or {}).get("hits", 0),
                             "synthesize_s": round(synth, 2),
                             "other_stages_s": round(other, 2),
                             "stage_s": stages})
            out.unlink()
    cold = [r for r in rows if r["run"] == "cold"]
    longest = cold[-1]
    force = next(r for r in rows if r["run"] == "force")
    rerun = next(r for r in rows if r["run"] == "rerun")
    return {
        "backend": backend, "workers": workers, "rows": rows,
        "overhead_share": round(longest["other_stages_s"]
                                / (longest["other_stages_s"] + longest["synthesize_s"]), 4),
        "overhead_vs_wall": round(longest["other_stages_s"] / longest["job_wall_s"], 4),
        "warm_vs_cold": round(force["process_wall_s"] / longest["process_wall_s"], 4),
        "rerun_vs_cold": round(rerun["process_wall_s"] / longest["process_wall_s"], 4),
        "memory_growth": (round(longest["peak_rss_mib"] / cold[0]["peak_rss_mib"], 3)
                          if len(cold) > 1 else None),
    }


def first_audio_rows(chars: int, zh_chars: int) -> list[dict]:
    from .first_audio import EN, ZH, first_audio

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend, lang, sentence, sizes in (("piper", "en", EN, (200, chars)),
                                               ("espeak", "en", EN, (200, chars)),
                                               ("espeak", "zh", ZH, (zh_chars,))):
            for size in sizes:
                path = Path(tmp) / f"{backend}-{lang}-{size}.txt"
                repeats = max(1, size // len(sentence))
                path.write_text("\n\n".join([sentence] * repeats), encoding="utf-8")
                rows.append({"backend": backend, "lang": lang,
                             "chars": repeats * len(sentence),
                             **first_audio(path, backend, lang)})
    return rows


def run_suite(smoke: bool) -> dict:
    from .assembly import bench_assembly
    from .vs_piper import bench_vs_piper

    size = SMOKE if smoke else FULL
    started = time.perf_counter()
    result = {
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_name(), "python": platform.python_version(),
                    "system": f"{platform.system()} {platform.release()}"},
        "smoke": smoke,
    }
    steps = [
        ("vs_piper", lambda: bench_vs_piper(size["chars"], size["files"],
                                                size["piper_rounds"])),
        ("long_jobs_piper", lambda: long_jobs(size["piper_hours"], "piper", 2)),
        ("long_jobs", lambda: long_jobs(size["hours"], "espeak", 1)),
        ("assembly", lambda: bench_assembly(size["assembly_s"], ["wav", "flac", "mp3"],
                                            size["per_chunk_s"])),
        ("startup", lambda: startup(size["startup_rounds"])),
        ("first_audio", lambda: first_audio_rows(size["chars"], size["zh_chars"])),
    ]
    for name, step in steps:
        print(f"[{time.perf_counter() - started:7.1f}s] {name} ...", file=sys.stderr, flush=True)
        result[name] = step()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["table"] = table(result)
    return result


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(result: dict) -> list[dict]:
    """Rows of (measure, figure, target, met): `met` is None where there is no target."""
    vs, asm = result["vs_piper"], result["assembly"]
    rows = []

    def add(measure: str, figure: str, target: str = "", met: bool | None = None) -> None:
        rows.append({"measure": measure, "figure": figure, "target": target, "met": met})

    long, short = vs["long_text"], vs["short_files"]
    add(f"long text ({long['chars']} chars): voxline -w 1 / piper CLI",
        f"{long['w1_vs_piper']:.2f} ({long['voxline_w1_s']} s / {long['piper_cli_s']} s)",
        "<= 1.05", long["w1_vs_piper"] <= 1.05)
    add(f"long text ({long['chars']} chars): voxline -w 2 / piper CLI",
        f"{long['w2_vs_piper']:.2f} ({long['voxline_w2_s']} s)", "<= 0.60",
        long["w2_vs_piper"] <= 0.60)
    add(f"{short['files']} short files: voxline -w 2 / piper CLI per file",
        f"{short['w2_vs_piper']:.3f} ({short['voxline_w2_s']} s / {short['piper_cli_s']} s)",
        "<= 0.25", short["w2_vs_piper"] <= 0.25)
    names = {"piper": "Piper", "espeak": "eSpeak NG"}
    for jobs in (result["long_jobs_piper"], result["long_jobs"]):
        engine = f"{names[jobs['backend']]} -w {jobs['workers']}"
        longest = [r for r in jobs["rows"] if r["run"] == "cold"][-1]
        add(f"overhead share, {longest['hours']} h job, {engine} (non-synthesis / all stages)",
            f"{jobs['overhead_share']:.2%} ({longest['other_stages_s']} s of "
            f"{longest['other_stages_s'] + longest['synthesize_s']:.1f} s)", "< 3%",
            jobs["overhead_share"] < 0.03)
        force = next(r for r in jobs["rows"] if r["run"] == "force")
        add(f"warm cache, {longest['hours']} h job, {engine}: --force from cache / first run",
            f"{jobs['warm_vs_cold']:.2%} ({force['process_wall_s']} s / "
            f"{longest['process_wall_s']} s)", "<= 5%", jobs["warm_vs_cold"] <= 0.05)
        rerun = next(r for r in jobs["rows"] if r["run"] == "rerun")
        add(f"second run, {longest['hours']} h job, {engine}: output up to date / first run",
            f"{jobs['rerun_vs_cold']:.2%} ({rerun['process_wall_s']} s)", "<= 5%",
            jobs["rerun_vs_cold"] <= 0.05)
    jobs = result["long_jobs"]
    cold = [r for r in jobs["rows"] if r["run"] == "cold"]
    add("peak RSS, eSpeak NG: " + ", ".join(f"{r['hours']} h" for r in cold),
        ", ".join(f"{r['peak_rss_mib']} MiB" for r in cold), "flat (<= 1.10x)",
        jobs["memory_growth"] <= 1.10)
    for row in asm["rows"]:
        if row["way"] == "voxline":
            add(f"assembly {row['format']} (voxline: in-process resample, one stream)",
                f"{row['x_realtime']:.0f}x real time", ">= 1000x", row["x_realtime"] >= 1000)
        elif row["way"] == "per-chunk":
            add(f"assembly {row['format']} (FFmpeg per chunk + concat)",
                f"{row['x_realtime']:.0f}x real time")
        else:
            add(f"assembly {row['format']}: codec alone on the finished PCM (ceiling)",
                f"{row['x_realtime']:.0f}x real time")
    add("start-up: voxline --help", f"{result['startup']['help']:.2f} s")
    add("start-up: voxline synth, one line, Piper", f"{result['startup']['synth_piper']:.2f} s")
    add("start-up: voxline synth, one line, eSpeak NG",
        f"{result['startup']['synth_espeak']:.2f} s")
    for row in result["first_audio"]:
        add(f"first audio, -o -: {row['backend']} {row['lang']} {row['chars']} chars",
            f"{row['first_audio_s']:.2f} s", "< 1 s", row["first_audio_s"] < 1.0)
    if result["smoke"]:
        for row in rows:
            row["met"] = None
    return rows


def print_table(result: dict) -> None:
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cpus']} CPUs, {m['system']}, Python {m['python']}; "
          f"suite took {result['wall_s']} s" + (" (smoke: targets not judged)"
                                                 if result["smoke"] else ""))
    width = max(len(r["measure"]) for r in result["table"])
    print(f"{'measure':<{width}}  {'figure':<34} {'target':<16} met")
    for row in result["table"]:
        met = {True: "yes", False: "NO", None: ""}[row["met"]]
        print(f"{row['measure']:<{width}}  {row['figure']:<34} {row['target']:<16} {met}")


def main(smoke: bool, json_path: str | None) -> None:
    result = run_suite(smoke)
    print_table(result)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
