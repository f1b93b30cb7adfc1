"""`python -m benchmarks ray`: what `--executor ray` costs and how far one driver goes.

- overhead: the same Piper job with `--executor local -w 2` and on a local Ray cluster of two
  nodes with one CPU each (`--executor ray -w 2`), alternating, same run;
- driver capacity: chunks a second one driver dispatches, receives, caches and assembles with
  a zero-cost backend (`tone`, no delay, almost no audio) on the cluster;
- simulated scale: `tone` with a fixed delay (zero CPU: it sleeps) on 1, 4, 16, 64 actors;
  besides the job's wall time, the rate once the actors are up (`steady chunks/s`: chunks
  over the job's time less `executor.placement_s`, the time spent starting actors and
  loading their engines), which is what shows where one driver bends.

The cluster's nodes are started here, on 127.0.0.1, and stopped by their own processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EN = ("The city council approved a new transit budget on Tuesday after a long debate. "
      "Critics argued that the plan ignores the needs of rural neighborhoods. ")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A head and `len(cpus) - 1` more nodes on 127.0.0.1, each a `ray start --block`
    process in its own session."""

    def __init__(self, cpus: list[int], env: dict):
        ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
        self.temp = tempfile.mkdtemp(prefix="vxbench", dir="/tmp")
        self.address = f"127.0.0.1:{_port()}"
        self.processes = []
        for i, n in enumerate(cpus):
            where = (["--head", "--port", self.address.rpartition(":")[2],
                      "--include-dashboard", "false", "--temp-dir", self.temp] if i == 0
                     else ["--address", self.address])
            self.processes.append(subprocess.Popen(
                [ray, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus",
                 str(n), "--num-gpus", "0", "--dashboard-agent-listen-port", str(_port()),
                 "--resources", json.dumps({f"node{i}": 1}), *where],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
            time.sleep(3 if i == 0 else 0)
        script = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False);"
                  "print(sum(n['Alive'] for n in ray.nodes()))")
        for _ in range(60):
            out = subprocess.run([sys.executable, "-c", script, self.address], env=env,
                                 capture_output=True, text=True)
            if out.stdout.strip().splitlines()[-1:] == [str(len(cpus))]:
                return
            time.sleep(2)
        self.stop()
        raise SystemExit("the local Ray cluster did not start")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(60)
        shutil.rmtree(self.temp, ignore_errors=True)


def _synth(source: Path, out: Path, env: dict, *extra: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "voxline.cli.main", "synth", str(source),
                           "-o", str(out), "--json", "-q", "--cache", "off", *extra],
                          env=env, capture_output=True, text=True)
    if done.returncode or not done.stdout.strip():
        raise SystemExit(f"voxline synth exited {done.returncode}: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    chunks = sum(b["chunks"] for b in report["backends"].values())
    row = {"process_wall_s": round(time.perf_counter() - started, 3),
           "job_wall_s": report["wall_s"], "chunks": chunks,
           "chunks_per_s": round(chunks / report["wall_s"], 1) if report["wall_s"] else None,
           "nodes": len((report.get("executor") or {}).get("nodes") or {}) or None}
    placement = (report.get("executor") or {}).get("placement_s")
    if placement is not None:
        row["placement_s"] = placement
        steady = report["wall_s"] - placement
        row["steady_chunks_per_s"] = round(chunks / steady, 1) if steady > 0 else None
    print(json.dumps(row), file=sys.stderr, flush=True)  # a long run shows its progress
    return row


def _tone_env(tmp: Path) -> dict:
    site = tmp / "site"
    info = site / "voxline_tone-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voxline-tone\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[voxline]\ntone = voxline.testing.tone\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0",
            "VOXLINE_STATE_DIR": str(tmp / "state")}


def bench_ray(chars: int = 3000, rounds: int = 2, chunks: int = 400,
              actors: tuple[int, ...] = (1, 4, 16, 64), delay_s: float = 0.1) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = _tone_env(tmp)
        text = tmp / "piper.txt"
        text.write_text("\n\n".join(EN for _ in range(max(1, chars // len(EN)))),
                        encoding="utf-8")
        many = tmp / "many.txt"
        many.write_text("\n\n".join(f"Line {i}." for i in range(chunks)), encoding="utf-8")
        rows: list[dict] = []
        cluster = LocalCluster([1, 1], env)
        try:
            ray = ["--executor", "ray", "--ray-address", cluster.address]
            for round_ in range(rounds):
                for mode in ("local", "ray"):
                    extra = ray if mode == "ray" else ["--executor", "local"]
                    rows.append({"part": "overhead", "executor": mode, "round": round_,
                                 **_synth(text, tmp / f"p-{mode}-{round_}.wav", env,
                                          "--backend", "piper", "-w", "2", *extra)})
            zero = tmp / "zero.toml"
            zero.write_text("[backends.tone]\nseconds_per_char = 0.002\n")
            for mode in ("local", "ray"):
                extra = ray if mode == "ray" else ["--executor", "local"]
                rows.append({"part": "capacity", "executor": mode, "workers": 2,
                             **_synth(many, tmp / f"z-{mode}.wav", env, "--backend", "tone",
                                      "-w", "2", "--config", str(zero), *extra)})
        finally:
            cluster.stop()
        # simulated scale: actors that sleep, on one node with as many logical CPUs
        cluster = LocalCluster([max(actors)], env)
        try:
            slow = tmp / "slow.toml"
            slow.write_text(f"[backends.tone]\nseconds_per_char = 0.002\ndelay_s = {delay_s}\n")
            for n in actors:
                rows.append({"part": "scale", "executor": "ray", "workers": n,
                             "ideal_chunks_per_s": round(n / delay_s, 1),
                             **_synth(many, tmp / f"s-{n}.wav", env, "--backend", "tone",
                                      "-w", str(n), "--config", str(slow), "--executor",
                                      "ray", "--ray-address", cluster.address)})
        finally:
            cluster.stop()
    overhead = [r for r in rows if r["part"] == "overhead"]
    local = min(r["job_wall_s"] for r in overhead if r["executor"] == "local")
    remote = min(r["job_wall_s"] for r in overhead if r["executor"] == "ray")
    return {"benchmark": "ray", "chars": chars, "chunks": chunks, "delay_s": delay_s,
            "rows": rows, "ray_vs_local": round(remote / local, 3)}


def print_ray(result: dict) -> None:
    print(f"{'part':>9} {'executor':>8} {'workers':>7} {'chunks':>6} {'job s':>7} "
          f"{'process s':>9} {'place s':>7} {'chunks/s':>8} {'steady/s':>8} {'ideal/s':>7}")
    for row in result["rows"]:
        print(f"{row['part']:>9} {row['executor']:>8} {row.get('workers', 2):>7} "
              f"{row['chunks']:>6} {row['job_wall_s']:>7} {row['process_wall_s']:>9} "
              f"{row.get('placement_s', '')!s:>7} {row['chunks_per_s']!s:>8} "
              f"{row.get('steady_chunks_per_s', '')!s:>8} "
              f"{row.get('ideal_chunks_per_s', '')!s:>7}")
    print(f"Piper job, best of each: ray (2 nodes x 1 CPU) / local -w 2: "
          f"{result['ray_vs_local']}")
