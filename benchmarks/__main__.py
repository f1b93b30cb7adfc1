"""Run voxline benchmarks and print a table of figures (and JSON with --json).

    python -m benchmarks [suite]      every issue-8 comparison in one run, one table of
                                      figures against targets (BENCHMARKS.md); --smoke for
                                      tiny inputs (CI)
    python -m benchmarks workers      50 mixed zh/en files, --workers 1 vs 2, same run
    python -m benchmarks server       80 chunks against a ChatTTS test server that takes
                                      200 ms a request: --workers 1 vs 8, same run
    python -m benchmarks cache        50 files: cold run, the same command again (inputs up
                                      to date), and --force (every output re-assembled from
                                      the cache), same run
    python -m benchmarks memory       peak memory: --dry-run on 20 MB and 200 MB inputs, and
                                      a real 10-minute and 2-hour synthesis (eSpeak NG)
    python -m benchmarks tui          50 files: `voxline synth -q` vs `voxline tui` in a real
                                      terminal (tmux, 120x40), alternating, same run
    python -m benchmarks chattts      chattts-local (needs the chattts extra): 16 chunks at
                                      batch sizes 1, 4, 8, 16 on a full-size random-weight
                                      model, chunks/s and RTF, same run
    python -m benchmarks vs-piper     Piper's own CLI against `voxline synth --backend piper`:
                                      a ~20 000-character text (-w 1, -w 2) and 200 short
                                      files (Piper once per file), same run
    python -m benchmarks first-audio  `synth FILE -o -`: seconds to the first audio byte for
                                      a short and a long text (--sizes-chars), piper and
                                      espeak, same run
    python -m benchmarks assembly     resample + join + encode an hour of 22.05 kHz chunks:
                                      voxline (one stream) vs FFmpeg per chunk, same run
    python -m benchmarks tn PATH...   text normalization against public suites (NeMo's English,
                                      WeTextProcessing's Chinese test cases): exact-match
                                      accuracy per file; --misses lists what did not match
    python -m benchmarks serve        `voxline serve` with Piper resident: first audio byte
                                      p50/p99 and requests/s at 1, 8, 32 concurrent clients,
                                      cold and cached (a bounded async httpx client)
    python -m benchmarks ray          --executor ray on a local 2-node cluster: overhead vs
                                      local on a Piper job, one driver's chunks/s with a
                                      zero-cost backend, and a sleeping backend on 1, 4, 16,
                                      64 actors (--actors)
    python -m benchmarks intelligibility  every offline voice speaks Harvard sentences (en)
                                      or 20 plain Mandarin sentences (zh); the recognizer's
                                      WER/CER, RTF, load time, peak memory, licence
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EN = [
    "The city council approved a new transit budget on Tuesday after a long debate.",
    "Ridership grew 12.5% last year, and officials expect 1,200 more riders a day.",
    "Dr. Park said the first buses would run on March 5, 2025 at 6:30 am.",
    "Fares will stay at $2.50 for adults and $1.25 for seniors.",
    "Critics argued that the plan ignores the needs of rural neighborhoods.",
    "The light rail extension adds 8.5 km of track and four new stations.",
]
ZH = [
    "国家统计局发布数据显示，今年前两个月工业增加值同比增长7.0%。",
    "一季度国内生产总值达到29.63万亿元，同比增长5.3%。",
    "您好，欢迎致电客服中心，请问有什么可以帮您？",
    "您的包裹预计明天下午3点前送达，请注意查收。",
    "全国平均气温为-3℃到5℃，较常年同期偏高1.5℃。",
]


def make_corpus(folder: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(files):
        if i % 2:
            lines = [rng.choice(ZH) for _ in range(4)] + [rng.choice(EN)]
        else:
            lines = [rng.choice(EN) for _ in range(4)] + [rng.choice(ZH)]
        (folder / f"doc{i:03d}.txt").write_text("\n".join(lines), encoding="utf-8")


def synth(folder: Path, out: Path, workers: int) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "voxline.cli.main", "synth", str(folder), "-o", str(out),
         "--workers", str(workers), "--json", "-q"],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"voxline synth failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    return {"workers": workers, "process_wall_s": round(wall, 2), "job_wall_s": report["wall_s"],
            "audio_s": report["audio_s"], "rtf": report["rtf"], "files": report["written"]}


def bench_workers(files: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_corpus(folder, files)
        # warm the OS file cache and Python bytecode so the first measured run is not penalized
        synth(folder, Path(tmp) / "warm", 2)
        rows = [synth(folder, Path(tmp) / f"out{w}", w) for w in (1, 2)]
    ratio = rows[1]["process_wall_s"] / rows[0]["process_wall_s"]
    return {"benchmark": "workers", "files": files, "rows": rows,
            "ratio_2_vs_1": round(ratio, 3)}


def bench_server(chunks: int, delay_s: float) -> dict:
    """Concurrency against a server: the job's wall time should be about
    chunks × delay ÷ workers, plus voxline's own work."""
    from voxline.testing.servers import ChatTTSSim

    text = "".join(f"这是第{i}号测试句子。" for i in range(1, chunks + 1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ChatTTSSim(16000, ssml=True) as server:
        source = Path(tmp) / "book.txt"
        source.write_text(text, encoding="utf-8")
        config = Path(tmp) / "voxline.toml"
        config.write_text(f'[backends.chattts-v1]\nurl = "{server.url}"\nbudget_chars = 14\n',
                          encoding="utf-8")
        def run(workers: int) -> dict:
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o",
                 str(Path(tmp) / f"out{workers}.wav"), "--backend", "chattts-v1",
                 "--workers", str(workers), "--config", str(config), "--json", "-q"],
                capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"voxline synth failed: {proc.stderr[-2000:]}")
            report = json.loads(proc.stdout)
            return {"workers": workers, "chunks": report["documents"][0]["chunks"],
                    "process_wall_s": round(time.perf_counter() - started, 2),
                    "job_wall_s": report["wall_s"], "audio_s": report["audio_s"],
                    "max_in_flight": server.max_in_flight}
        run(8)  # the server's speech cache and the OS caches warm up; not measured
        server.delay_s = delay_s
        for workers in (1, 8):
            server.max_in_flight = 0
            rows.append(run(workers))
    ideal = [r["chunks"] * delay_s / r["workers"] for r in rows]
    return {"benchmark": "server", "delay_s": delay_s, "rows": rows,
            "ideal_s": [round(i, 2) for i in ideal],
            "ratio_8_vs_1": round(rows[1]["job_wall_s"] / rows[0]["job_wall_s"], 3)}


def _run(args: list[str], env: dict | None = None) -> tuple[dict, float, int]:
    """Run `voxline ARGS --json -q` in a child that reports its peak memory: (report, wall
    seconds, peak RSS in KiB of voxline or its FFmpeg, whichever was larger)."""
    import os

    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
             "sys.stderr.write('\\nPEAK_RSS_KIB %d\\n' % "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "voxline.cli.main", *args,
         "--json", "-q"], capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"voxline {' '.join(args)} failed: {proc.stderr[-2000:]}")
    peak = int(proc.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])
    return json.loads(proc.stdout), wall, peak


def bench_cache(files: int) -> dict:
    """The same job three times against one cache: cold, rerun (nothing to do), --force."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_corpus(folder, files)
        env = {"VOXLINE_CACHE_DIR": str(Path(tmp) / "cache"),
               "VOXLINE_STATE_DIR": str(Path(tmp) / "state")}
        _run(["synth", str(folder), "-o", str(Path(tmp) / "warmup"), "--no-cache"], env)
        rows = []
        for label, extra in (("cold", []), ("rerun", []), ("--force", ["--force"])):
            report, wall, peak = _run(["synth", str(folder), "-o", str(Path(tmp) / "out"),
                                       *extra], env)
            synthesized = sum(b["chunks"] for b in report["backends"].values())
            rows.append({"run": label, "process_wall_s": round(wall, 2),
                         "job_wall_s": report["wall_s"], "written": report["written"],
                         "up_to_date": report["up_to_date"], "synthesized": synthesized,
                         "from_cache": (report["cache"] or {}).get("hits", 0),
                         "stage_s": report["stage_s"]})
    cold = rows[0]["process_wall_s"]
    return {"benchmark": "cache", "files": files, "rows": rows,
            "rerun_vs_cold": round(rows[1]["process_wall_s"] / cold, 4),
            "force_vs_cold": round(rows[2]["process_wall_s"] / cold, 4)}


def _big_text(path: Path, size: int, unique: bool = False) -> None:
    """`size` bytes of English paragraphs; `unique`: each paragraph numbered, so no chunk
    repeats another and a cold run synthesizes every one (no cache hits within the job)."""
    rng = random.Random(3)
    with open(path, "w", encoding="utf-8") as handle:
        written = 0
        number = 0
        while written < size:
            number += 1
            paragraph = " ".join(rng.choice(EN) for _ in range(3)) + "\n\n"
            if unique:
                paragraph = f"Report {number}. {paragraph}"
            handle.write(paragraph)
            written += len(paragraph.encode())


def bench_memory(sizes_mb: list[int], hours: list[float]) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"VOXLINE_CACHE_DIR": str(Path(tmp) / "cache"),
               "VOXLINE_STATE_DIR": str(Path(tmp) / "state")}
        for mb in sizes_mb:
            source = Path(tmp) / f"input{mb}mb.txt"
            _big_text(source, mb * 1_000_000)
            report, wall, peak = _run(["synth", str(source), "-o", str(Path(tmp) / "x.wav"),
                                       "--backend", "espeak", "--dry-run"], env)
            rows.append({"run": f"--dry-run {mb} MB", "wall_s": round(wall, 1),
                         "peak_rss_mib": round(peak / 1024, 1), "chunks": report["chunks"],
                         "audio_h": round(report["audio_s"] / 3600, 1)})
            source.unlink()
        for h in hours:
            # eSpeak NG reads these sentences at about 14 characters a second
            source = Path(tmp) / f"book{h}h.txt"
            _big_text(source, int(h * 3600 * 13.5))
            out = Path(tmp) / f"book{h}h.wav"
            report, wall, peak = _run(["synth", str(source), "-o", str(out), "--backend",
                                       "espeak", "--no-cache"], env)
            rows.append({"run": f"synth {report['audio_s'] / 3600:.2f} h", "wall_s": round(wall, 1),
                         "peak_rss_mib": round(peak / 1024, 1),
                         "chunks": report["documents"][0]["chunks"],
                         "audio_h": round(report["audio_s"] / 3600, 2),
                         "output_mb": round(out.stat().st_size / 1e6, 1)})
            out.unlink()
    return {"benchmark": "memory", "rows": rows}


def bench_tui(files: int, rounds: int) -> dict:
    """The TUI's cost: the same job (default backends, no cache) as `synth -q` and as
    `tui --exit-when-done` in a tmux terminal, alternating so both see the same machine."""
    import os
    import shlex
    import shutil
    import statistics

    if shutil.which("tmux") is None:
        raise SystemExit("the tui benchmark needs tmux (apt-get install tmux)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_corpus(folder, files)
        env = {**os.environ, "VOXLINE_STATE_DIR": str(Path(tmp) / "state")}
        voxline = [sys.executable, "-m", "voxline.cli.main"]
        for round_ in range(rounds):
            for mode in ("synth", "tui"):
                out = Path(tmp) / f"out-{mode}-{round_}"
                common = [str(folder), "-o", str(out), "--no-cache"]
                started = time.perf_counter()
                if mode == "synth":
                    subprocess.run([*voxline, "synth", *common, "-q"], env=env, check=True,
                                   capture_output=True)
                else:
                    session = f"voxline-bench-{os.getpid()}-{round_}"
                    command = shlex.join([*voxline, "tui", *common, "--exit-when-done"])
                    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                                       if k.startswith(("VOXLINE_", "PATH", "HOME")))
                    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120",
                                    "-y", "40", f"env {exports} TERM=xterm-256color "
                                    f"{command}; tmux wait-for -S {session}"], check=True)
                    subprocess.run(["tmux", "wait-for", session], check=True, timeout=3600)
                wall = time.perf_counter() - started
                written = len(list(out.glob("*.wav")))
                if written != files:
                    raise SystemExit(f"{mode} wrote {written} of {files} files")
                rows.append({"mode": mode, "round": round_, "wall_s": round(wall, 3)})
    median = {mode: statistics.median(r["wall_s"] for r in rows if r["mode"] == mode)
              for mode in ("synth", "tui")}
    return {"benchmark": "tui", "files": files, "rows": rows,
            "median_wall_s": median, "tui_vs_synth": round(median["tui"] / median["synth"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("name", choices=["suite", "workers", "server", "cache", "memory",
                                         "tui", "chattts", "first-audio", "vs-piper",
                                         "assembly", "intelligibility", "tn", "serve",
                                         "ray"],
                        nargs="?",
                        default="suite")
    parser.add_argument("paths", nargs="*", help="tn: test-case files or folders")
    parser.add_argument("--lang", help="tn: language of every file [default: from its format]")
    parser.add_argument("--misses", action="store_true", help="tn: list the cases missed")
    parser.add_argument("--smoke", action="store_true",
                        help="suite: tiny inputs, targets not judged (CI)")
    parser.add_argument("--audio-s", type=float, default=3600.0,
                        help="assembly: seconds of audio for the voxline way")
    parser.add_argument("--sizes", default="20,200", help="memory: input sizes in MB")
    parser.add_argument("--hours", default="0.17,2", help="memory: hours of speech")
    parser.add_argument("--files", type=int, help="input files [default: 50; vs-piper: 200]")
    parser.add_argument("--chunks", type=int, help="server: 80, chattts: 16")
    parser.add_argument("--delay", type=float, default=0.2, help="server seconds per request")
    parser.add_argument("--rounds", type=int, help="runs of each side (tui: 3, chattts: 1, vs-piper long text: 2)")
    parser.add_argument("--actors", default="1,4,16,64", help="ray: actor counts to scale over")
    parser.add_argument("--batch-sizes", default="1,4,8,16", help="chattts: batch sizes")
    parser.add_argument("--tokens", type=int, default=200,
                        help="chattts: audio tokens per chunk (46.875 a second)")
    parser.add_argument("--layers", type=int, default=20, help="chattts: GPT layers")
    parser.add_argument("--device", default="auto", help="chattts: auto, cpu, cuda:N")
    parser.add_argument("--chars", type=int, default=20000, help="vs-piper: long text size")
    parser.add_argument("--sizes-chars", default="200,20000",
                        help="first-audio: text lengths in characters")
    parser.add_argument("--clients", default="1,8,32", help="serve: requests in progress")
    parser.add_argument("--per-client", type=int, default=4,
                        help="serve: prompts per client at each level")
    parser.add_argument("--json", dest="json_path", help="also write the figures here")
    args = parser.parse_args()
    if args.name == "serve":
        from .serve import bench_serve, print_table

        result = bench_serve([int(x) for x in args.clients.split(",")], args.per_client)
        print_table(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "suite":
        from .suite import main as suite

        suite(args.smoke, args.json_path)
        return
    if args.name == "tn":
        from .tn import print_table, score

        if not args.paths:
            parser.error("tn needs the test-case files (see python -m benchmarks --help)")
        results = score(args.paths, args.lang)
        print_table(results, args.misses)
        if args.json_path:
            Path(args.json_path).write_text(
                json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False),
                encoding="utf-8")
        return
    if args.name == "intelligibility":
        from .intelligibility import bench_intelligibility, print_table

        result = bench_intelligibility()
        print_table(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2, ensure_ascii=False),
                                            encoding="utf-8")
        return
    if args.name == "assembly":
        from .assembly import bench_assembly, print_table

        result = bench_assembly(args.audio_s, ["wav", "flac", "mp3"], min(300.0, args.audio_s))
        print_table(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "vs-piper":
        from .vs_piper import bench_vs_piper, print_table

        result = bench_vs_piper(args.chars, args.files or 200, args.rounds or 2)
        print_table(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "first-audio":
        from .first_audio import bench_first_audio, print_table

        result = bench_first_audio([int(x) for x in args.sizes_chars.split(",")])
        print_table(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "chattts":
        from .chattts import bench_chattts, print_table

        result = bench_chattts([int(x) for x in args.batch_sizes.split(",")],
                               args.chunks or 16, args.tokens, args.layers, args.device,
                               args.rounds or 1)
        print_table(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "cache":
        result = bench_cache(args.files or 50)
        print(f"{'run':>8} {'wall s':>8} {'job s':>7} {'written':>8} {'up to date':>11} "
              f"{'synthesized':>12} {'from cache':>11}")
        for row in result["rows"]:
            print(f"{row['run']:>8} {row['process_wall_s']:>8} {row['job_wall_s']:>7} "
                  f"{row['written']:>8} {row['up_to_date']:>11} {row['synthesized']:>12} "
                  f"{row['from_cache']:>11}")
        print(f"rerun / cold: {result['rerun_vs_cold']:.1%}   "
              f"--force / cold: {result['force_vs_cold']:.1%}")
        print("--force stage s: " + "  ".join(f"{k} {v:.2f}" for k, v in
                                               result["rows"][2]["stage_s"].items()))
    elif args.name == "memory":
        result = bench_memory([int(x) for x in args.sizes.split(",") if x],
                              [float(x) for x in args.hours.split(",") if x])
        print(f"{'run':>22} {'wall s':>8} {'peak MiB':>9} {'chunks':>8} {'audio h':>8}")
        for row in result["rows"]:
            print(f"{row['run']:>22} {row['wall_s']:>8} {row['peak_rss_mib']:>9} "
                  f"{row['chunks']:>8} {row['audio_h']:>8}")
    elif args.name == "tui":
        args.rounds = args.rounds or 3
        result = bench_tui(args.files or 50, args.rounds)
        print(f"{'round':>6} {'synth -q s':>11} {'tui s':>8}")
        for round_ in range(args.rounds):
            walls = {r["mode"]: r["wall_s"] for r in result["rows"] if r["round"] == round_}
            print(f"{round_ + 1:>6} {walls['synth']:>11} {walls['tui']:>8}")
        print(f"median: synth {result['median_wall_s']['synth']:.2f}s, tui "
              f"{result['median_wall_s']['tui']:.2f}s, tui / synth = {result['tui_vs_synth']}")
    if args.name in ("cache", "memory", "tui"):
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "ray":
        from .ray_cluster import bench_ray, print_ray

        result = bench_ray(chunks=args.chunks or 400, rounds=args.rounds or 2,
                           actors=tuple(int(n) for n in args.actors.split(",")))
        print_ray(result)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    if args.name == "server":
        result = bench_server(args.chunks or 80, args.delay)
        print(f"{'workers':>8} {'chunks':>7} {'job s':>7} {'ideal s':>8} {'process s':>10} "
              f"{'in flight':>10}")
        for row, ideal in zip(result["rows"], result["ideal_s"]):
            print(f"{row['workers']:>8} {row['chunks']:>7} {row['job_wall_s']:>7} {ideal:>8} "
                  f"{row['process_wall_s']:>10} {row['max_in_flight']:>10}")
        print(f"job wall time with 8 workers / with 1 worker: {result['ratio_8_vs_1']}")
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    result = bench_workers(args.files or 50)
    print(f"{'workers':>8} {'wall s':>8} {'job s':>8} {'audio s':>9} {'RTF':>7} {'files':>6}")
    for row in result["rows"]:
        print(f"{row['workers']:>8} {row['process_wall_s']:>8} {row['job_wall_s']:>8} "
              f"{row['audio_s']:>9} {row['rtf']:>7} {row['files']:>6}")
    print(f"wall time with 2 workers / with 1 worker: {result['ratio_2_vs_1']}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
