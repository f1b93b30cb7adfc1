"""--executor ray on a real local Ray cluster: a head and a second node on 127.0.0.1, told
apart by custom resources, started and stopped by these tests (by their own processes: a
machine-wide `ray stop` would stop other people's clusters)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_cli

pytest.importorskip("ray")
RAY = shutil.which("ray")

EN = [f"Paragraph {i}. The council met on Tuesday to vote on the new library."
      for i in range(12)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` process in its own session: stopping it stops its node."""

    def __init__(self, args: list[str], env: dict):
        self.process = subprocess.Popen(
            [RAY, "start", "--block", "--node-ip-address", "127.0.0.1",
             "--dashboard-agent-listen-port", str(free_port()), *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def wait_for_nodes(address: str, count: int, env: dict, timeout_s: float = 120) -> None:
    script = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False);"
              "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([shutil.which("python") or "python3", "-c", script, address],
                             env=env, capture_output=True, text=True, timeout=120)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(2)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {count} nodes")


class Cluster(str):
    """The head's address, with its node processes (head first)."""

    def __new__(cls, address: str, nodes: list[Node]):
        self = super().__new__(cls, address)
        self.nodes = nodes
        return self


@pytest.fixture(scope="module")
def cluster():
    """A head (2 CPUs, resource `head`) and a worker node (2 CPUs, resource `worker`)."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tempfile.mkdtemp(prefix="vxray", dir="/tmp")  # short: Ray's socket paths
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = [Node(["--head", "--port", str(port), "--num-cpus", "2", "--num-gpus", "0",
                   "--include-dashboard", "false", "--temp-dir", temp,
                   "--resources", '{"head": 1}'], env)]
    try:
        time.sleep(3)
        nodes.append(Node(["--address", address, "--num-cpus", "2", "--num-gpus", "0",
                           "--resources", '{"worker": 1}'], env))
        wait_for_nodes(address, 2, env)
        yield Cluster(address, nodes)
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(temp, ignore_errors=True)


def synth(source: Path, out: Path, *extra: str, env: dict) -> dict:
    result = run_cli("synth", str(source), "-o", str(out), "--json", "-q", "--cache", "off",
                     *extra, env={**env, "RAY_USAGE_STATS_ENABLED": "0"}, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_tone_output_is_byte_identical_to_local_threads(cluster, tmp_path, tone_env):
    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(EN), encoding="utf-8")
    local = synth(source, tmp_path / "local.wav", "--backend", "tone", "-w", "2",
                  "--executor", "local", env=tone_env)
    ray = synth(source, tmp_path / "ray.wav", "--backend", "tone", "-w", "2",
                "--executor", "ray", "--ray-address", cluster, env=tone_env)
    assert (tmp_path / "local.wav").read_bytes() == (tmp_path / "ray.wav").read_bytes()
    assert local["executor"] == {"kind": "local"}
    assert ray["executor"]["kind"] == "ray" and ray["executor"]["actors"] == {"tone": 2}
    served = ray["executor"]["nodes"]
    chunks = local["backends"]["tone"]["chunks"]
    assert ray["backends"]["tone"]["chunks"] == chunks >= 12
    assert sum(served.values()) == chunks and len(served) == 2  # actors on both nodes


def test_a_mixed_chinese_and_english_job_runs_on_the_cluster(cluster, tmp_path, tone_env):
    source = tmp_path / "mixed.txt"
    source.write_text("\n\n".join(
        f"{en}\n\n今天的天气很好，我们一起去公园散步吧。" for en in EN[:4]), encoding="utf-8")
    config = tmp_path / "voxline.toml"
    config.write_text('[routes]\nzh = "espeak"\nen = "tone"\n', encoding="utf-8")
    report = synth(source, tmp_path / "mixed.wav", "--config", str(config), "-w", "1",
                   "--executor", "ray", "--ray-address", cluster, env=tone_env)
    assert report["exit_code"] == 0
    chunks = {name: b["chunks"] for name, b in report["backends"].items()}
    assert set(chunks) == {"espeak", "tone"} and chunks["espeak"] >= 4 and chunks["tone"] >= 4
    assert report["executor"]["actors"] == {"espeak": 1, "tone": 1}
    assert sum(report["executor"]["nodes"].values()) == sum(chunks.values())


def test_an_address_nothing_answers_on_is_a_one_line_error(tmp_path, tone_env):
    source = tmp_path / "a.txt"
    source.write_text("Hello there, this is a test.", encoding="utf-8")
    result = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend", "tone",
                     "--executor", "ray", "--ray-address", f"127.0.0.1:{free_port()}",
                     env=tone_env, timeout=120)
    message = result.stderr.decode().strip()
    assert result.returncode != 0 and "no Ray cluster answers at 127.0.0.1:" in message
    assert "Traceback" not in message and len(message.splitlines()) <= 2


GPU_TONE = """
import dataclasses
import voxline
from voxline.testing.tone import ToneBackend

class GpuTone(ToneBackend):
    name = "gputone"
    capabilities = dataclasses.replace(ToneBackend.capabilities, needs_gpu=True)

@voxline.hookimpl
def register_backends(register):
    register(GpuTone)
"""


def test_a_cluster_without_a_gpu_refuses_a_gpu_backend_in_one_line(cluster, tmp_path,
                                                                   tone_env):
    site = Path(tone_env["PYTHONPATH"].split(os.pathsep)[0])
    (site / "gpu_tone.py").write_text(GPU_TONE, encoding="utf-8")
    info = site / "voxline_gputone-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voxline-gputone\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[voxline]\ngputone = gpu_tone\n")
    source = tmp_path / "a.txt"
    source.write_text("Hello there, this is a test.", encoding="utf-8")
    result = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--json",
                     "--backend", "gputone", "--executor", "ray", "--ray-address", cluster,
                     env={**tone_env, "RAY_USAGE_STATS_ENABLED": "0"}, timeout=300)
    report = json.loads(result.stdout)
    assert result.returncode == 4 and report["failed"] == 1
    error = report["documents"][0]["error"]
    assert "the Ray cluster has no free GPU for backend 'gputone'" in error
    assert "\n" not in error and "Traceback" not in result.stderr.decode()


def chunks_done(state: Path) -> int:
    try:
        with sqlite3.connect(state / "jobs.sqlite3", timeout=5) as db:
            return db.execute("SELECT count(*) FROM chunks WHERE state = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_losing_a_node_mid_job_loses_no_chunk(cluster, tmp_path, tone_env):
    """Runs last: it stops the cluster's second node."""
    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(EN * 3), encoding="utf-8")
    synth(source, tmp_path / "local.wav", "--backend", "tone", "-w", "2", env=tone_env)
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.25\n", encoding="utf-8")
    state = tmp_path / "state"  # this run's manifest alone
    job = subprocess.Popen(
        [sys.executable, "-c", "from voxline.cli.main import main; main()", "synth",
         str(source), "-o", str(tmp_path / "ray.wav"), "--json", "-q", "--cache", "off",
         "--config", str(config), "--backend", "tone", "-w", "2", "--executor", "ray",
         "--ray-address", cluster],
        env={**os.environ, **tone_env, "RAY_USAGE_STATS_ENABLED": "0",
             "VOXLINE_STATE_DIR": str(state)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while chunks_done(state) < 8 and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        cluster.nodes[1].stop()  # the worker node, with the actor it held
        out, err = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, err.decode()
    report = json.loads(out)
    assert (tmp_path / "local.wav").read_bytes() == (tmp_path / "ray.wav").read_bytes()
    assert report["executor"]["lost"] >= 1
    assert sum(report["executor"]["nodes"].values()) == report["backends"]["tone"]["chunks"]
