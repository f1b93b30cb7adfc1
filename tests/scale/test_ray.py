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

import voxline
from conftest import install_entry_point, require, run_cli

require("ray", "pip install -e '.[ray]'")  # .ci/run installs the ray extra

# a real two-node cluster per module (its start, and a node lost mid-job, take most of a
# minute on two cores): the slow tier
pytestmark = pytest.mark.slow
# the `ray` command of the Python running the tests (the venv need not be on PATH)
RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")

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
            try:  # a head whose other node was lost can take long to stop: not waited for
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def wait_for_nodes(address: str, count: int, env: dict, timeout_s: float = 120) -> None:
    script = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False);"
              "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", script, address],
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
    # Ray's node processes start `python` by name: the tests' own, also when the virtualenv
    # that holds Ray is not activated
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
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


def node_chunks(exposition: str) -> dict[tuple[str, str], float]:
    """`voxline_node_chunks_total` samples: (node, backend) → chunks."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.labels["node"], sample.labels["backend"]): sample.value
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples if sample.name == "voxline_node_chunks_total"}


def install_plugin(site: Path, name: str, module: str, source: str | None = None) -> None:
    """A backend plugin installed the way pip installs an entry point."""
    if source is not None:
        (site / f"{module}.py").write_text(source, encoding="utf-8")
    install_entry_point(site, name, module)


@pytest.fixture(scope="module")
def doctor(cluster, tmp_path_factory):
    """`voxline doctor --executor ray --json` on the cluster, run once, with the `tone`
    backend and a `gputone` that needs a GPU installed."""
    site = tmp_path_factory.mktemp("doctor-site")
    install_plugin(site, "tone", "voxline.testing.tone")
    install_plugin(site, "gputone", "gpu_tone", GPU_TONE)
    config = site / "voxline.toml"  # chattts-local runs on a CPU too: put it on GPUs
    config.write_text('[synth]\nray_gpu_backends = ["chattts-local"]\n', encoding="utf-8")
    result = run_cli("doctor", "--executor", "ray", "--ray-address", cluster, "--json",
                     env={"RAY_USAGE_STATS_ENABLED": "0", "VOXLINE_CONFIG": str(config),
                          "PYTHONPATH": os.pathsep.join(
                         filter(None, [str(site), os.environ.get("PYTHONPATH")]))},
                     timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return {check["check"]: check for check in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def node_ids(doctor) -> dict[str, str]:
    """Each node's id → `head` or `worker`, told by the custom resource it was started with."""
    named = {}
    for check in doctor.values():
        if check["check"].startswith("ray node "):
            kind = {"head", "worker"} & set(check["resources"])
            assert len(kind) == 1, check
            named[check["node"]] = kind.pop()
    assert sorted(named.values()) == ["head", "worker"]
    return named


def test_doctor_shows_the_nodes_their_resources_and_what_can_be_placed(cluster, doctor,
                                                                       node_ids):
    assert doctor["ray"]["ok"] and doctor["ray"]["address"] == cluster
    assert doctor["ray"]["detail"].startswith(f"2 nodes at {cluster}")
    for node, kind in node_ids.items():
        check = doctor[f"ray node {node[:8]}"]
        assert check["resources"]["CPU"] == 2 and check["resources"][kind] == 1
        assert "GPU" not in check["resources"] and check["head"] == (kind == "head")
        assert f"{kind} 1" in check["detail"] and "CPU 2" in check["detail"]
    espeak = doctor["ray place espeak"]
    assert espeak["ok"] and espeak["needs"] == {"CPU": 1.0} and espeak["actors"] == 4
    assert "room for 4 now" in espeak["detail"]
    tone = doctor["ray place tone"]
    assert tone["ok"] and tone["needs"] == {"CPU": 1.0} and tone["actors"] == 4
    gpu = doctor["ray place gputone"]  # needs a GPU; the cluster has none
    assert not gpu["ok"] and gpu["needs"] == {"GPU": 1.0} and gpu["actors"] == 0
    assert gpu["detail"] == "no node has 1 GPU for one actor"
    chattts = doctor["ray place chattts-local"]  # named in [synth] ray_gpu_backends
    assert not chattts["ok"] and chattts["needs"] == {"GPU": 1.0}


def test_the_kuberay_example_in_the_docs_parses_with_a_gpu_group():
    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / "scale-out.md").read_text("utf-8")
    [block] = text.split("```yaml\n")[1:]
    cluster = yaml.safe_load(block.split("```")[0])
    assert cluster["kind"] == "RayCluster" and cluster["apiVersion"] == "ray.io/v1"
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    gpu = groups["gpu"]
    assert gpu["rayStartParams"]["num-gpus"] == "1"
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1
    assert 'ray_gpu_backends = ["chattts-local"]' in text  # what puts chattts-local there


@pytest.fixture
def web_server():
    """A real HTTP server on 127.0.0.1 (something that answers, but is no Ray cluster)."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:{port}", "no Ray cluster answers at 127.0.0.1:"),
    ("nowhere", "Ray address 'nowhere' is not HOST:PORT"),
    ("127.0.0.1:{web}", "answers, but not as a Ray cluster's head"),
])
def test_doctor_with_a_bad_address_is_a_one_line_error(address, message, web_server):
    started = time.monotonic()
    result = run_cli("doctor", "--executor", "ray", "--ray-address",
                     address.format(port=free_port(), web=web_server), timeout=120)
    assert time.monotonic() - started < 30  # not a minute of Ray retrying
    err = result.stderr.decode().strip()
    assert result.returncode == 2 and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert result.stdout == b""


def test_tone_output_is_byte_identical_to_local_threads(cluster, tmp_path, tone_env,
                                                         node_ids):
    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(EN), encoding="utf-8")
    local = synth(source, tmp_path / "local.wav", "--backend", "tone", "-w", "2",
                  "--executor", "local", env=tone_env)
    prom = tmp_path / "voxline.prom"
    ray = synth(source, tmp_path / "ray.wav", "--backend", "tone", "-w", "2",
                "--executor", "ray", "--ray-address", cluster, "--metrics-textfile", str(prom),
                env=tone_env)
    assert (tmp_path / "local.wav").read_bytes() == (tmp_path / "ray.wav").read_bytes()
    assert local["executor"] == {"kind": "local"}
    assert ray["executor"]["kind"] == "ray" and ray["executor"]["actors"] == {"tone": 2}
    served = ray["executor"]["nodes"]
    chunks = local["backends"]["tone"]["chunks"]
    assert ray["backends"]["tone"]["chunks"] == chunks >= 12
    assert sum(served.values()) == chunks and len(served) == 2  # actors on both nodes
    assert set(served) == set(node_ids)
    # metrics say which node served what, as the report does
    metrics = node_chunks(prom.read_text())
    assert metrics == {(node, "tone"): count for node, count in served.items()}


def test_a_mixed_chinese_and_english_job_runs_on_both_nodes(cluster, tmp_path, tone_env,
                                                            node_ids):
    source = tmp_path / "mixed.txt"
    source.write_text("\n\n".join(
        f"{en}\n\n今天的天气很好，我们一起去公园散步吧。" for en in EN[:4]), encoding="utf-8")
    config = tmp_path / "voxline.toml"
    config.write_text('[routes]\nzh = "espeak"\nen = "tone"\n', encoding="utf-8")
    report = synth(source, tmp_path / "mixed.wav", "--config", str(config), "-w", "2",
                   "--executor", "ray", "--ray-address", cluster, env=tone_env)
    assert report["exit_code"] == 0
    chunks = {name: b["chunks"] for name, b in report["backends"].items()}
    assert set(chunks) == {"espeak", "tone"} and chunks["espeak"] >= 4 and chunks["tone"] >= 4
    assert report["executor"]["actors"] == {"espeak": 2, "tone": 2}
    served = report["executor"]["nodes"]
    assert sum(served.values()) == sum(chunks.values())
    assert {node_ids[node] for node in served} == {"head", "worker"}


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
    install_plugin(site, "gputone", "gpu_tone", GPU_TONE)
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
    # a backend that also runs on a CPU, sent to GPUs by [synth] ray_gpu_backends
    config = tmp_path / "voxline.toml"
    config.write_text('[synth]\nray_gpu_backends = ["tone"]\n', encoding="utf-8")
    result = run_cli("synth", str(source), "-o", str(tmp_path / "b.wav"), "--json",
                     "--backend", "tone", "--config", str(config), "--executor", "ray",
                     "--ray-address", cluster,
                     env={**tone_env, "RAY_USAGE_STATS_ENABLED": "0"}, timeout=300)
    report = json.loads(result.stdout)
    assert result.returncode == 4 and report["failed"] == 1
    assert "the Ray cluster has no free GPU for backend 'tone'" in report["documents"][0]["error"]


class RealTonePlugin:
    """`voxline.testing.tone` registered in this process (Ray actors import it by name)."""

    @voxline.hookimpl
    def register_backends(self, register):
        from voxline.testing.tone import ToneBackend

        register(ToneBackend)


def test_the_tui_backends_panel_says_which_node_served_what(cluster, tmp_path, node_ids,
                                                           private_cache):
    import asyncio

    import ray
    from voxline.audio import FORMATS
    from voxline.cli.synth import JobSetup
    from voxline.job import output_specs
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import load_settings
    from voxline.tui.app import VoxlineApp
    from voxline.tui.runner import JobRunner
    from voxline.tui.widgets.backends_panel import BackendsPanel

    pm = get_plugin_manager(load_env="")
    pm.register(RealTonePlugin(), name="ray-tone")
    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(EN), encoding="utf-8")
    settings = load_settings(overrides={"backend": "tone", "workers": 2, "executor": "ray",
                                        "ray_address": str(cluster), "cache": "off"}, env={})
    specs = output_specs([(source, None)], tmp_path / "out", FORMATS["wav"], False)
    planned = JobSetup(pm, build_registry(pm), settings, specs, tmp_path / "out", False)

    async def run():
        app = VoxlineApp(JobRunner(planned))
        async with app.run_test(size=(180, 48)) as pilot:
            deadline = time.monotonic() + 300
            while app.state.phase != "done":
                assert time.monotonic() < deadline, "timed out waiting for the job"
                await pilot.pause(0.1)
            await pilot.pause(0.3)
            app.refresh_panels(force=True)
            row = app.state.backends["tone"]
            total = sum(d.chunks_total for d in app.state.documents.values())
            assert sum(row.nodes.values()) == row.chunks == total >= 12
            assert set(row.nodes) == set(node_ids)  # the tone actors on both nodes
            assert app.query_one(BackendsPanel).nodes
            text = app.query_one("#backends").row_text("tone")
            for node, count in row.nodes.items():
                assert f"{node[:8]}:{count}" in text
            await pilot.press("q")
        assert app.return_value == 0

    try:
        asyncio.run(run())
    finally:
        ray.shutdown()


def test_a_killed_driver_resumes_with_the_same_command(cluster, tmp_path, tone_env,
                                                       private_cache):
    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(EN * 2), encoding="utf-8")
    local = synth(source, tmp_path / "local.wav", "--backend", "tone", "-w", "2",
                  env=tone_env)
    chunks = local["backends"]["tone"]["chunks"]
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.25\n", encoding="utf-8")
    state = tmp_path / "state"  # the Ray runs' manifest alone
    command = [sys.executable, "-c", "from voxline.cli.main import main; main()", "synth",
               str(source), "-o", str(tmp_path / "ray.wav"), "--json", "-q",
               "--config", str(config), "--backend", "tone", "-w", "2", "--executor", "ray",
               "--ray-address", cluster]
    env = {**os.environ, **tone_env, "RAY_USAGE_STATS_ENABLED": "0",
           "VOXLINE_STATE_DIR": str(state)}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while chunks_done(state) < 6:
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
    done_before = chunks_done(state)
    assert 6 <= done_before < chunks and not (tmp_path / "ray.wav").exists()
    again = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr.decode()
    report = json.loads(again.stdout)
    assert report["documents"][0]["status"] == "resumed"
    assert report["cache"]["hits"] >= done_before  # what the killed driver finished
    assert sum(report["executor"]["nodes"].values()) == chunks - report["cache"]["hits"]
    assert (tmp_path / "local.wav").read_bytes() == (tmp_path / "ray.wav").read_bytes()


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


def test_serve_runs_jobs_on_the_cluster_and_answers_speech_itself(cluster, tmp_path):
    """`voxline serve --executor ray`: a job's chunks are made by the cluster's actors (the
    per-node metric counts them), a speech request by the server's own resident voice."""
    import httpx
    from test_serve import Served
    from test_serve_jobs import download, wait_for

    served = Served(tmp_path, "--backend", "tone", "--workers", "2", "--no-preload",
                    "--executor", "ray", "--ray-address", cluster,
                    config="[backends.tone]\ndelay_s = 0.05\n",
                    env={"RAY_USAGE_STATS_ENABLED": "0"})
    try:
        assert f"jobs run on the Ray cluster at {cluster}" in served.output()
        text = " ".join(f"Sentence {n} of the job." for n in range(1, 9))
        response = httpx.post(served.url + "/v1/jobs", json={"input": text, "name": "j"},
                              timeout=30)
        assert response.status_code == 201, response.text
        job = wait_for(served.url, response.json()["id"], timeout_s=240)
        assert job["state"] == "done", (job, served.output())
        (document,) = job["documents"]
        assert document["chunks_done"] == document["chunks"] >= 4
        wav = download(served.url, job, "j.wav")
        assert len(wav) > 44 + 16000  # more than half a second of 16-bit audio
        on_nodes = served.metric("voxline_node_chunks_total")
        assert on_nodes == document["chunks"], served.output()
        speech = httpx.post(served.url + "/v1/audio/speech", timeout=60, json={
            "model": "tone", "input": "Said by the server itself.",
            "response_format": "wav"})
        assert speech.status_code == 200, speech.text
        assert served.metric("voxline_node_chunks_total") == on_nodes
    finally:
        served.close()


def test_serve_with_a_bad_ray_address_is_a_one_line_error(tmp_path):
    result = run_cli("serve", "--executor", "ray", "--ray-address", f"127.0.0.1:{free_port()}",
                     "--no-preload", "--port", str(free_port()),
                     env={"RAY_USAGE_STATS_ENABLED": "0", "VOXLINE_STATE_DIR": str(tmp_path)},
                     timeout=60)
    assert result.returncode == 2, result.stderr.decode()
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("voxline: error: no Ray cluster answers at 127.0.0.1:"), lines
    assert "Traceback" not in result.stderr.decode()


def test_a_batching_backend_batches_inside_its_actor(cluster, tmp_path, tone_env):
    """One actor of a batching backend takes several chunks at once and answers them in one
    `synthesize_batch` call: 16 chunks at 1 s a call take a few calls, not 16."""
    source = tmp_path / "batch.txt"
    source.write_text("\n\n".join(f"Chunk {n} of the batch." for n in range(16)),
                      encoding="utf-8")
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.tone-batch]\ndelay_s = 1.0\n", encoding="utf-8")
    report = synth(source, tmp_path / "batch.wav", "--backend", "tone-batch", "-w", "1",
                   "--batch-size", "8", "--config", str(config), "--executor", "ray",
                   "--ray-address", cluster, env=tone_env)
    assert report["executor"]["actors"] == {"tone-batch": 1}
    assert report["backends"]["tone-batch"]["chunks"] == 16
    placement_s = report["executor"].get("placement_s", 0.0)
    # 16 one-at-a-time calls would take 16 s; batches of up to 8 take 2 to 4 calls
    assert report["wall_s"] - placement_s < 9, report  # (--batch-size 1: 17 s, fails)
