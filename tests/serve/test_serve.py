"""`voxline serve`: a real server on a free 127.0.0.1 port (a `voxline serve` subprocess),
asked by real clients: the official `openai` package, httpx streaming, and voxline's own
`openai` and `chattts-v1` backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from voxline import audio as audio_mod

from conftest import _free_port, install_entry_point, require, run_cli, wav_info

require("starlette", "pip install -e '.[test]'")
require("uvicorn", "pip install -e '.[test]'")

SENTENCES = " ".join(f"Sentence number {n} is here." for n in range(1, 81))


def tone_site(folder: Path) -> str:
    """A site folder in which the `tone` test backend is installed as an entry point (again
    for a server restarted in the same folder)."""
    install_entry_point(folder, "tone", "voxline.testing.tone")
    return str(folder)


class Served:
    """`voxline serve ARGS` running on a free port until closed."""

    def __init__(self, folder: Path, *args: str, config: str = "", env: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "voxline.toml").write_text(config)
        self.log = open(folder / "server.log", "wb")
        inherited = {k: v for k, v in os.environ.items() if k != "VOXLINE_API_KEY"}
        full_env = {**inherited,
                    "PYTHONPATH": os.pathsep.join(filter(None, [tone_site(folder / "site"),
                                                                os.environ.get("PYTHONPATH")])),
                    "VOXLINE_CACHE_DIR": str(folder / "cache"),
                    "VOXLINE_STATE_DIR": str(folder / "state"), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from voxline.cli.main import main; main()", "serve",
             "--port", str(self.port), "--config", str(folder / "voxline.toml"), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=full_env, cwd=folder)
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "voxline serve did not start"
            time.sleep(0.1)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def metric(self, name: str, key: str = "env-key", **labels) -> float:
        text = httpx.get(self.url + "/metrics", headers={"Authorization": f"Bearer {key}"}).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The default routes (Piper for English) preloaded, and the slow-ish `tone` backend."""
    served = Served(tmp_path_factory.mktemp("serve"), "--workers", "2",
                    config="[backends.tone]\ndelay_s = 0.1\n")
    yield served
    served.close()


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"] and error["type"]
    return error


def test_official_openai_client_streams_piper_speech(server):
    openai = require("openai", "pip install -e '.[test]'")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    received = bytearray()
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", response_format="wav",
            input="The server is up. It speaks with the resident Piper voice.") as response:
        assert response.headers["content-type"] == "audio/wav"
        for part in response.iter_bytes():
            received.extend(part)
    audio = audio_mod.decode(bytes(received))
    assert audio.sample_rate_hz == 24000
    assert 2.0 < len(audio.samples) / 24000 < 10.0
    assert np.abs(audio.samples).max() > 1000  # speech, not silence


def test_first_sentence_arrives_before_the_rest_is_made(server):
    started = time.perf_counter()
    first = None
    received = 0
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=60, json={
            "model": "tone", "input": SENTENCES, "response_format": "pcm"}) as response:
        assert response.status_code == 200
        for part in response.iter_bytes():
            if first is None and part:
                first = time.perf_counter() - started
            received += len(part)
    total = time.perf_counter() - started
    assert received % 2 == 0 and received > 24000 * 2 * 80  # raw s16 at 24 kHz, all of it
    # dozens of chunks at 0.1 s each on 2 workers: the first arrives well before the last
    assert first < total / 3, (first, total)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_each_response_format_decodes(server, fmt):
    response = httpx.post(server.url + "/v1/audio/speech", timeout=60, json={
        "model": "tone", "input": "Two short sentences. Both in this answer.",
        "response_format": fmt})
    assert response.status_code == 200, response.text
    audio = audio_mod.decode(response.content)
    assert 2.0 < len(audio.samples) / audio.sample_rate_hz < 6.0


def test_speed_changes_the_length(server):
    def seconds(speed):
        response = httpx.post(server.url + "/v1/audio/speech", timeout=60, json={
            "model": "tone", "input": "Speed test sentence.", "response_format": "pcm",
            "speed": speed})
        assert response.status_code == 200, response.text
        return len(response.content) / 2 / 24000

    assert seconds(2.0) < 0.7 * seconds(1.0)


@pytest.mark.parametrize("body,status,param", [
    ({"model": "tts-1", "input": "", "voice": "alloy"}, 400, "input"),
    ({"model": "tts-1", "input": "   \n", "voice": "alloy"}, 400, "input"),
    ({"model": "tts-1", "voice": "alloy"}, 400, "input"),
    ({"model": "tts-1", "input": "x" * 10_001, "voice": "alloy"}, 413, "input"),
    ({"model": "tts-1", "input": "Hello.", "voice": "no-such-voice"}, 400, "voice"),
    ({"model": "no-such-model", "input": "Hello."}, 404, "model"),
    ({"model": "tts-1", "input": "Hello.", "response_format": "wma"}, 400, "response_format"),
    ({"model": "tts-1", "input": "Hello.", "speed": 9}, 400, "speed"),
    ({"model": "tts-1", "input": 42}, 400, "input"),
])
def test_bad_requests_get_openai_errors(server, body, status, param):
    error = openai_error(httpx.post(server.url + "/v1/audio/speech", json=body, timeout=30),
                         status)
    assert error["param"] == param


def test_malformed_json_and_huge_bodies(server):
    url = server.url + "/v1/audio/speech"
    error = openai_error(httpx.post(url, content=b'{"input": "Hel', timeout=30), 400)
    assert "JSON" in error["message"]
    openai_error(httpx.post(url, content=b'["a list"]', timeout=30), 400)
    openai_error(httpx.post(url, content=b'{"input": "' + b"a" * (2 << 20) + b'"}',
                            timeout=30), 413)
    openai_error(httpx.get(server.url + "/v1/nothing-here"), 404)


def test_a_repeated_prompt_comes_from_the_cache(server):
    body = {"model": "tone", "input": "Asked twice, made once.", "response_format": "pcm"}
    hits = server.metric("voxline_cache_hits_total")
    first = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=60)
    again = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=60)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert server.metric("voxline_cache_hits_total") == hits + 1


def test_models_list_backends_and_voices(server):
    data = httpx.get(server.url + "/v1/models").json()
    models = {m["id"]: m for m in data["data"]}
    assert data["object"] == "list"
    assert {"tts-1", "piper", "tone", "espeak"} <= set(models)
    assert "a4" in models["tone"]["voices"]


def test_voxline_openai_backend_uses_the_server(server, tmp_path):
    (tmp_path / "in.txt").write_text("Voxline talks to voxline. Over the OpenAI API.")
    (tmp_path / "voxline.toml").write_text(
        f'[backends.openai]\nurl = "{server.url}"\nvoices = ["alloy"]\n')
    done = run_cli("synth", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.wav"),
                   "--backend", "openai", "--config", str(tmp_path / "voxline.toml"),
                   "--json", "-q", env={"OPENAI_API_KEY": ""})
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["backends"]["openai"]["chunks"] >= 1
    assert wav_info(tmp_path / "out.wav")[3] > 2.0
    assert server.metric("voxline_http_requests_total", route="/v1/audio/speech",
                         status="200") >= 1


def test_missing_extra_is_one_clear_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['uvicorn'] = None; "
         "from voxline.cli.main import main; main()", "serve"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "pip install 'voxline[serve]'" in done.stderr
    assert "Traceback" not in done.stderr


# -- the seeds' shapes ------------------------------------------------------------------


def test_health_answers_as_the_seed_servers_do(server):
    data = httpx.get(server.url + "/health").json()
    assert data["status"] == "ok"
    assert 0.0 <= data["gpu_mem_percent"] <= 1.0  # 0 without a GPU


def test_voxline_chattts_v1_backend_uses_the_server(server, tmp_path):
    from voxline.plugins.chattts_server import ChatTTSV1

    health = ChatTTSV1({"url": server.url}).health()
    assert health.ok, health.detail
    assert health.info["gpu_mem_percent"] < 0.9
    (tmp_path / "in.txt").write_text("A router can send this to voxline. It answers.")
    done = run_cli("synth", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.wav"),
                   "--backend", "chattts-v1", "--json", "-q",
                   env={"CHATTTS_V1_URL": server.url})
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["backends"]["chattts-v1"]["chunks"] >= 1
    assert wav_info(tmp_path / "out.wav")[3] > 2.0


def test_api_tts_answers_one_complete_wav(server):
    response = httpx.post(server.url + "/api/tts", timeout=60,
                          json={"text": "Complete answer.", "voice": "zh_female_shanghai"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    body = response.content
    assert int.from_bytes(body[40:44], "little") == len(body) - 44  # real sizes, not ~0
    openai_error(httpx.post(server.url + "/api/tts", json={"text": ""}), 400)


def test_get_tts_streams_wav(server):
    with httpx.stream("GET", server.url + "/tts", params={"text": "Streamed to a browser."},
                      timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        assert "content-length" not in response.headers  # chunked: played as it comes
        body = response.read()
    assert body[:4] == b"RIFF"
    audio = audio_mod.decode(body)
    assert audio.sample_rate_hz == 16000 and len(audio.samples) > 16000
    openai_error(httpx.get(server.url + "/tts"), 400)


# -- limits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """Keys from the environment and from a file, one request at a time per client, and a
    tone backend slow enough to hang up on."""
    folder = tmp_path_factory.mktemp("guarded")
    (folder / "keys.txt").write_text("file-key\n\nthird-key\n")
    served = Served(folder, "--no-preload", "--workers", "2", "--backend", "tone",
                    "--per-client", "1", "--max-in-flight", "2",
                    "--api-key-file", str(folder / "keys.txt"),
                    config="[backends.tone]\ndelay_s = 0.2\n",
                    env={"VOXLINE_API_KEY": "env-key"})
    yield served
    served.close()


def speech(url: str, key: str | None, text: str = "Hello.", **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(url + "/v1/audio/speech", headers=headers, timeout=60,
                      json={"input": text, "response_format": "pcm"}, **kwargs)


def test_api_key_is_required_when_set(guarded):
    error = openai_error(speech(guarded.url, None), 401)
    assert error["code"] == "invalid_api_key"
    openai_error(speech(guarded.url, "wrong-key"), 401)
    assert speech(guarded.url, "env-key").status_code == 200
    assert speech(guarded.url, "file-key").status_code == 200
    assert httpx.get(guarded.url + "/health").status_code == 200  # probes need no key
    openai_error(httpx.get(guarded.url + "/metrics"), 401)
    openai = require("openai", "pip install -e '.[test]'")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=guarded.url + "/v1", api_key="wrong").audio.speech.create(
            model="tts-1", voice="alloy", input="Hello.")


def test_jobs_need_the_key_too(guarded):
    error = openai_error(httpx.post(guarded.url + "/v1/jobs", json={"input": "Hello."}), 401)
    assert error["code"] == "invalid_api_key"
    for path in ("/v1/jobs", "/v1/jobs/0123456789abcdef",
                 "/v1/jobs/0123456789abcdef/files/input.wav"):
        openai_error(httpx.get(guarded.url + path), 401)
    openai_error(httpx.delete(guarded.url + "/v1/jobs/0123456789abcdef"), 401)
    keyed = {"Authorization": "Bearer file-key"}
    created = httpx.post(guarded.url + "/v1/jobs", json={"input": "Hello."}, headers=keyed)
    assert created.status_code == 201, created.text
    assert httpx.get(guarded.url + "/v1/jobs", headers=keyed).status_code == 200


def test_a_client_over_its_share_gets_429_with_retry_after(guarded):
    with httpx.stream("POST", guarded.url + "/v1/audio/speech", timeout=60,
                      headers={"Authorization": "Bearer env-key"},
                      json={"input": SENTENCES, "response_format": "pcm"}) as first:
        assert first.status_code == 200
        parts = first.iter_bytes()  # kept: dropping the iterator closes the connection
        next(parts)
        second = speech(guarded.url, "env-key")
        error = openai_error(second, 429)
        assert second.headers["retry-after"] == "1"
        assert error["type"] == "rate_limit_error"
        assert speech(guarded.url, "file-key").status_code == 200  # another client
    deadline = time.monotonic() + 10
    while speech(guarded.url, "env-key").status_code == 429:  # freed when it hung up
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_client_that_hangs_up_frees_its_work(guarded):
    def tone_chunks() -> float:
        return guarded.metric("voxline_chunks_total", backend="tone")

    before = tone_chunks()
    time.sleep(0.5)
    while tone_chunks() != before:  # an earlier test's chunks already on the workers
        before = tone_chunks()
        time.sleep(0.5)
    with httpx.stream("POST", guarded.url + "/v1/audio/speech", timeout=60,
                      headers={"Authorization": "Bearer env-key"},
                      json={"input": SENTENCES, "response_format": "pcm"}) as response:
        assert response.status_code == 200
        next(response.iter_bytes())
    deadline = time.monotonic() + 10
    while guarded.metric("voxline_http_in_flight") > 1:  # the /metrics request itself
        assert time.monotonic() < deadline, "the request was not let go"
        time.sleep(0.05)
    time.sleep(0.5)  # chunks already on a worker when it hung up finish
    made = tone_chunks() - before
    time.sleep(1.0)  # 80 sentences at 0.2 s on 2 workers would take several seconds more
    assert tone_chunks() - before == made
    assert made <= 20, made  # of 80: those made while it listened, and those started


def test_metrics_show_requests_latency_and_pipeline(guarded):
    assert speech(guarded.url, "env-key", "Counted.").status_code == 200
    text = httpx.get(guarded.url + "/metrics", headers={"Authorization": "Bearer env-key"}).text
    assert 'voxline_http_requests_total{method="POST",route="/v1/audio/speech",status="200"}' \
        in text
    assert 'voxline_http_requests_total{method="POST",route="/v1/audio/speech",status="401"}' \
        in text
    assert "voxline_http_request_duration_seconds_bucket" in text
    assert "voxline_http_first_audio_seconds_count" in text
    assert "voxline_http_in_flight" in text
    assert 'voxline_chunks_total{backend="tone"' in text  # the pipeline's own
    assert "tts_req_duration_seconds" in text


def test_binds_loopback_by_default():
    from voxline.cli.serve_cmd import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"


def test_a_full_server_answers_503_with_retry_after(guarded):
    with httpx.stream("POST", guarded.url + "/v1/audio/speech", timeout=60,
                      headers={"Authorization": "Bearer env-key"},
                      json={"input": SENTENCES, "response_format": "pcm"}) as one, \
            httpx.stream("POST", guarded.url + "/v1/audio/speech", timeout=60,
                         headers={"Authorization": "Bearer file-key"},
                         json={"input": SENTENCES, "response_format": "pcm"}) as two:
        first, second = one.iter_bytes(), two.iter_bytes()
        next(first), next(second)
        third = speech(guarded.url, "third-key")
        error = openai_error(third, 503)
        assert third.headers["retry-after"] == "1" and error["code"] == "overloaded"


def test_no_cors_headers(server):
    response = httpx.options(server.url + "/v1/audio/speech", headers={
        "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers
    response = httpx.get(server.url + "/v1/models",
                         headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers


def test_sigterm_lets_a_stream_in_progress_finish(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "2", "--backend", "tone",
                    config="[backends.tone]\ndelay_s = 0.05\n")
    try:
        text = " ".join(f"Line {n} of the last answer." for n in range(20))
        with httpx.stream("POST", served.url + "/v1/audio/speech", timeout=60,
                          json={"input": text, "response_format": "pcm"}) as response:
            parts = response.iter_bytes()
            received = len(next(parts))
            served.process.terminate()
            received += sum(len(part) for part in parts)
        assert served.process.wait(timeout=30) == 0
        assert received / 2 / 24000 > 20 * 2.0  # every line, about 2 s of tone each
        assert "voxline serve: stopped" in served.output()
    finally:
        served.close()


def test_websocket_streams_pcm_with_chunk_events(server):
    from websockets.sync.client import connect

    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    events, audio = [], bytearray()
    with connect(ws_url, open_timeout=30) as socket:
        socket.send(json.dumps({"model": "tone", "input": "One chunk. Then another one here."
                                " And a third to end."}))
        while True:
            message = socket.recv(timeout=60)
            if isinstance(message, bytes):
                audio.extend(message)
                continue
            events.append(json.loads(message))
            if events[-1]["event"] in ("end", "error"):
                break
    assert events[0] == {"event": "start", "format": "pcm", "sample_rate_hz": 24000,
                         "channels": 1}
    chunks = [e for e in events if e["event"] == "chunk"]
    assert chunks and all(e["backend"] == "tone" for e in chunks)
    assert sorted(e["index"] for e in chunks) == list(range(len(chunks)))
    assert events[-1]["event"] == "end" and events[-1]["chunks"] == len(chunks)
    assert abs(len(audio) / 2 / 24000 - events[-1]["audio_s"]) < 0.01


def test_websocket_bad_request_gets_an_error_event(server):
    from websockets.sync.client import connect

    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    with connect(ws_url, open_timeout=30) as socket:
        socket.send(json.dumps({"input": ""}))
        event = json.loads(socket.recv(timeout=30))
    assert event["event"] == "error" and event["status"] == 400
    assert event["error"]["param"] == "input"


def test_websocket_needs_the_key_too(guarded):
    from websockets.sync.client import connect

    ws_url = guarded.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    with connect(ws_url, open_timeout=30) as socket:
        socket.send(json.dumps({"input": "Hello."}))
        event = json.loads(socket.recv(timeout=30))
    assert event["status"] == 401
    with connect(ws_url, open_timeout=30,
                 additional_headers={"Authorization": "Bearer env-key"}) as socket:
        socket.send(json.dumps({"input": "Hello."}))
        kinds = []
        while not kinds or kinds[-1] not in ("end", "error"):
            message = socket.recv(timeout=30)
            if isinstance(message, str):
                kinds.append(json.loads(message)["event"])
    assert kinds[0] == "start" and kinds[-1] == "end"


def test_a_job_belongs_to_the_key_that_submitted_it(guarded):
    """With keys, another key's client cannot see, list, download or cancel a job: not
    found, as if it did not exist; the job's own key can, and the key's hash is not shown."""
    mine = {"Authorization": "Bearer third-key"}
    other = {"Authorization": "Bearer env-key"}
    created = httpx.post(guarded.url + "/v1/jobs", headers=mine, timeout=30,
                         json={"input": "Only mine.", "backend": "tone"})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert "owner" not in created.json()
    deadline = time.monotonic() + 60
    while (job := httpx.get(f"{guarded.url}/v1/jobs/{job_id}", headers=mine).json())[
            "state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["state"] == "done" and job["files"], job
    url = guarded.url + job["files"][0]["url"]
    assert httpx.get(url, headers=mine).status_code == 200
    for response in (httpx.get(f"{guarded.url}/v1/jobs/{job_id}", headers=other),
                     httpx.get(url, headers=other),
                     httpx.delete(f"{guarded.url}/v1/jobs/{job_id}", headers=other)):
        assert openai_error(response, 404)["code"] == "job_not_found"
    listed = {j["id"] for j in httpx.get(guarded.url + "/v1/jobs", headers=other).json()["data"]}
    assert job_id not in listed
    listed = {j["id"] for j in httpx.get(guarded.url + "/v1/jobs", headers=mine).json()["data"]}
    assert job_id in listed
    assert httpx.delete(f"{guarded.url}/v1/jobs/{job_id}", headers=mine).json()["deleted"]
