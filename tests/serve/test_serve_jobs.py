"""`voxline serve`'s long-form jobs (`/v1/jobs`), request timeouts, queue depth and batching
across requests: real `voxline serve` subprocesses on free 127.0.0.1 ports, real HTTP
clients, Piper and the `tone` test backends."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import httpx
import numpy as np
import pytest

from voxline import audio as audio_mod

from conftest import require
from test_serve import Served, openai_error

require("starlette", "pip install -e '.[test]'")
require("multipart", "python-multipart: pip install -e '.[test]'")

LONG = " ".join(f"Part {n} of the long job." for n in range(1, 61))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Default routes (Piper for English, loaded first) and the `tone` backend."""
    folder = tmp_path_factory.mktemp("jobs")
    served = Served(folder, "--workers", "2", "--max-upload", "200000",
                    "--jobs-dir", str(folder / "jobs"),
                    config="[backends.tone]\ndelay_s = 0.05\n")
    served.jobs = folder / "jobs"
    yield served
    served.close()


def wait_for(url: str, job_id: str, states=("done", "failed", "cancelled"),
             timeout_s: float = 120, until=None) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        if job["state"] in states if until is None else until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def download(url: str, job: dict, name: str) -> bytes:
    entry = next(f for f in job["files"] if f["name"] == name)
    response = httpx.get(url + entry["url"], timeout=30)
    assert response.status_code == 200, response.text
    assert len(response.content) == entry["bytes"]
    return response.content


def test_a_text_job_runs_to_done_with_audio_and_subtitles(server, request):
    # sentences Whisper base hears reliably from Piper (as in tests/test_verify.py)
    text = ("Please call the customer service line before five o'clock. "
            "Rain is expected across the north of the country tomorrow.")
    response = httpx.post(server.url + "/v1/jobs", timeout=30, json={
        "input": text, "name": "notice", "subtitles": "srt"})
    assert response.status_code == 201, response.text
    submitted = response.json()
    assert submitted["state"] in ("queued", "running") and submitted["inputs"] == ["notice.txt"]
    job = wait_for(server.url, submitted["id"])
    assert job["state"] == "done", job
    (document,) = job["documents"]
    assert document["state"] == "done" and document["chunks_done"] == document["chunks"] == 2
    assert {f["name"] for f in job["files"]} == {"notice.wav", "notice.srt"}
    audio = audio_mod.decode(download(server.url, job, "notice.wav"))
    assert audio.sample_rate_hz == 16000
    seconds = len(audio.samples) / audio.sample_rate_hz
    assert 4 < seconds < 12 and document["audio_s"] == pytest.approx(seconds, abs=0.3)
    assert np.abs(audio.samples).max() > 1000
    subtitles = download(server.url, job, "notice.srt").decode()
    cues = [cue.split("\n") for cue in subtitles.strip().split("\n\n")]
    assert [" ".join(lines) for _, _, *lines in cues] == [
        "Please call the customer service line before five o'clock.",
        "Rain is expected across the north of the country tomorrow."]
    try:  # what was said, where the offline recognizer is installed
        from voxline.verify import error_rate
        model = request.getfixturevalue("whisper_model")
    except (ImportError, pytest.skip.Exception):
        return
    from voxline.verify import Recognizer

    recognizer = Recognizer(str(model), cpu_threads=2)
    for _, times, *lines in cues:  # each cue's span says its sentence
        written = " ".join(lines)
        start, end = (sum(float(part.replace(",", ".")) * 60 ** (2 - n)
                          for n, part in enumerate(t.split(":"))) for t in times.split(" --> "))
        span = audio.samples[max(0, int((start - 0.2) * 16000)):int((end + 0.2) * 16000)]
        heard = recognizer.transcribe(span, 16000, "en")
        # --verify's own limit for English; another sentence scores near 1
        assert error_rate(written, heard.text, "en") <= 0.4, (written, heard.text)


def test_uploaded_files_each_become_an_output(server):
    files = [("file", ("chapter-1.txt", b"The first chapter is short.", "text/plain")),
             ("file", ("chapter-2.txt", b"The second one too. It ends here.", "text/plain"))]
    response = httpx.post(server.url + "/v1/jobs", timeout=30, files=files,
                          data={"backend": "tone", "format": "mp3", "sample_rate": "24000"})
    assert response.status_code == 201, response.text
    job = wait_for(server.url, response.json()["id"])
    assert job["state"] == "done", job
    assert [d["input"] for d in job["documents"]] == ["chapter-1.txt", "chapter-2.txt"]
    for name, text in (("chapter-1.mp3", "The first chapter is short."),
                       ("chapter-2.mp3", "The second one too. It ends here.")):
        audio = audio_mod.decode(download(server.url, job, name))
        assert audio.sample_rate_hz == 24000
        # tone: 0.08 s a character (and a short pause between sentences)
        assert len(audio.samples) / 24000 == pytest.approx(0.08 * len(text), abs=0.5)
    listed = httpx.get(server.url + "/v1/jobs").json()["data"]
    assert job["id"] in [j["id"] for j in listed]


def test_a_job_is_cancelled_and_then_removed(server):
    tone_before = server.metric("voxline_chunks_total", backend="tone")
    job_id = httpx.post(server.url + "/v1/jobs", timeout=30,
                        json={"input": LONG, "backend": "tone"}).json()["id"]
    wait_for(server.url, job_id, until=lambda j: j["documents"][0].get("chunks_done", 0) >= 2)
    response = httpx.delete(f"{server.url}/v1/jobs/{job_id}", timeout=30)
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    job = wait_for(server.url, job_id, until=lambda j: j.get("finished"))
    assert job["state"] == "cancelled" and job["documents"][0]["state"] == "cancelled"
    assert not any(f["name"].endswith(".wav") for f in job["files"])  # no half file
    time.sleep(1.0)
    made = server.metric("voxline_chunks_total", backend="tone") - tone_before
    assert made < 40, made  # of 60, at 0.05 s each on 2 workers: stopped, not finished
    assert httpx.delete(f"{server.url}/v1/jobs/{job_id}").json()["deleted"] is True
    openai_error(httpx.get(f"{server.url}/v1/jobs/{job_id}"), 404)
    assert not (server.jobs / job_id).exists()


def test_a_failing_document_is_reported_without_server_paths(server):
    files = [("file", ("good.txt", b"This one is fine.", "text/plain")),
             ("file", ("bad.txt", b"This one says FAIL.", "text/plain"))]
    response = httpx.post(server.url + "/v1/jobs", timeout=30, files=files,
                          data={"backend": "tone", "retries": "0"})
    job = wait_for(server.url, response.json()["id"])
    assert job["state"] == "failed"
    good, bad = job["documents"]
    assert good["state"] == "done" and bad["state"] == "failed"
    assert bad["error"].startswith("bad.txt") and "tone" in bad["error"]
    assert str(server.jobs) not in json.dumps(job)
    assert [f["name"] for f in job["files"]] == ["good.wav"]


def test_names_never_reach_outside_the_job_folder(server):
    planted = server.jobs.parent / "secret.txt"
    planted.write_text("not for clients")
    response = httpx.post(server.url + "/v1/jobs", timeout=30, data={"backend": "tone"},
                          files=[("file", ("../../secret.txt", b"Climbing out.", "text/plain"))])
    assert response.status_code == 201, response.text
    job = wait_for(server.url, response.json()["id"])
    assert planted.read_text() == "not for clients"
    (name,) = job["inputs"]
    assert "/" not in name and (server.jobs / job["id"] / "inputs" / name).is_file()
    assert job["state"] == "done"
    base = f"{server.url}/v1/jobs/{job['id']}/files/"
    for attempt in ("..%2Fjob.json", "%2e%2e/%2e%2e/secret.txt", "%2Fetc%2Fpasswd",
                    "a/..%2F..%2Fjob.json"):
        openai_error(httpx.get(base + attempt), 400)
    outputs = server.jobs / job["id"] / "outputs"
    os.symlink(planted, outputs / "link.wav")
    os.symlink(server.jobs / job["id"], outputs / "up")
    for name in ("link.wav", "up/job.json", "missing.wav", ".hidden"):
        openai_error(httpx.get(base + name), 404)
    assert "link.wav" not in [f["name"] for f in httpx.get(
        f"{server.url}/v1/jobs/{job['id']}").json()["files"]]
    for job_id in ("..%2F..", "not-a-job", "0123456789abcdef"):
        openai_error(httpx.get(f"{server.url}/v1/jobs/{job_id}"), 404)


def test_a_second_server_on_the_same_jobs_folder_is_refused(server, tmp_path):
    from conftest import _free_port, run_cli

    second = run_cli("serve", "--no-preload", "--port", str(_free_port()),
                     "--jobs-dir", str(server.jobs), timeout=120,
                     env={"VOXLINE_CACHE_DIR": str(tmp_path / "cache"),
                          "VOXLINE_STATE_DIR": str(tmp_path / "state")})
    assert second.returncode == 8, second.stderr.decode()
    message = second.stderr.decode()
    assert "is in use by another voxline serve" in message and "Traceback" not in message
    assert httpx.get(server.url + "/v1/jobs").status_code == 200  # the first goes on


@pytest.mark.parametrize("body, status, param", [
    ({}, 400, "input"),
    ({"input": "   "}, 400, "input"),
    ({"input": 5}, 400, "input"),
    ({"input": "Hello.", "cache": "/tmp"}, 400, "cache"),
    ({"input": "Hello.", "format": "bogus"}, 400, None),
    ({"input": "Hello.", "voice": "piper:nobody"}, 400, "voice"),
    ({"input": "Hello.", "voice": "piper:/etc/voice.onnx"}, 400, "voice"),
    ({"input": "Hello.", "voices": "A=chattts-local:file:/etc/passwd"}, 400, "voices"),
    ({"input": "Hello.", "backend": "nonesuch"}, 400, None),
    ({"input": "Hello.", "sample_rate": "fast"}, 400, None),
    ({"input": "x" * 300_000}, 413, None),
])
def test_bad_jobs_get_openai_errors(server, body, status, param):
    error = openai_error(httpx.post(server.url + "/v1/jobs", json=body, timeout=30), status)
    assert error["param"] == param


def test_malformed_and_oversized_job_bodies(server):
    openai_error(httpx.post(server.url + "/v1/jobs", content=b"{not json",
                            headers={"content-type": "application/json"}), 400)
    big = [("file", ("big.txt", b"word " * 50_000, "text/plain"))]
    openai_error(httpx.post(server.url + "/v1/jobs", files=big, timeout=30), 413)
    openai_error(httpx.post(server.url + "/v1/jobs", timeout=30,
                            files=[("file", ("empty.txt", b"  \n", "text/plain"))]), 400)
    openai_error(httpx.post(server.url + "/v1/jobs", timeout=30,
                            files=[("upload", ("a.txt", b"Hello.", "text/plain"))]), 400)
    twins = [("file", ("a.txt", b"Hello.", "text/plain")), ("file", ("a.md", b"Hi.", "text/plain"))]
    assert "same name" in openai_error(httpx.post(server.url + "/v1/jobs", timeout=30,
                                                  files=twins), 400)["message"]


def test_a_killed_server_finishes_its_job_from_the_cache_after_a_restart(tmp_path):
    args = ("--no-preload", "--workers", "2", "--backend", "tone")
    config = "[backends.tone]\ndelay_s = 0.15\n"
    served = Served(tmp_path, *args, config=config)
    try:
        job_id = httpx.post(served.url + "/v1/jobs", timeout=30,
                            json={"input": LONG, "subtitles": "vtt"}).json()["id"]
        job = wait_for(served.url, job_id,
                       until=lambda j: j["documents"][0].get("chunks_done", 0) >= 10)
        done_before = job["documents"][0]["chunks_done"]
        os.kill(served.process.pid, signal.SIGKILL)
        served.process.wait(timeout=10)
    finally:
        served.close()
    restarted = Served(tmp_path, *args, config=config)
    try:
        assert "resuming 1 unfinished jobs" in restarted.output()
        job = wait_for(restarted.url, job_id)
        assert job["state"] == "done" and job["resumed"] == 1, job
        (document,) = job["documents"]
        assert document["status"] == "resumed"
        assert document["chunks"] == 60 and document["cached"] >= done_before >= 10
        audio = audio_mod.decode(download(restarted.url, job, "input.wav"))
        assert len(audio.samples) / 16000 == pytest.approx(document["audio_s"], abs=0.1)
        assert len(audio.samples) / 16000 > 60 * 1.9  # every part, about 2 s of tone each
        assert download(restarted.url, job, "input.vtt").decode().count(" --> ") == 60
        assert not [p for p in (tmp_path / "state" / "serve-jobs" / job_id / "outputs").iterdir()
                    if p.name.startswith(".")]  # the killed run's partial file is gone
    finally:
        restarted.close()


# -- timeouts, queue depth, batching ---------------------------------------------------------


def test_a_request_over_the_timeout_gets_504_and_its_work_is_freed(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "1", "--backend", "tone",
                    "--request-timeout", "0.5", config="[backends.tone]\ndelay_s = 2.0\n")
    try:
        started = time.monotonic()
        response = httpx.post(served.url + "/v1/audio/speech", timeout=30,
                              json={"input": " ".join(f"This is slow sentence number {n}."
                                                      for n in range(4)),
                                    "response_format": "pcm"})
        elapsed = time.monotonic() - started
        error = openai_error(response, 504)
        assert error["code"] == "timeout" and error["type"] == "server_error"
        assert elapsed < 1.9, elapsed  # answered at the limit, not when the chunk was made
        assert served.metric("voxline_http_in_flight") == 1  # the /metrics request
        time.sleep(2.5)  # the chunk already on the worker ends; the other three never start
        assert served.metric("voxline_chunks_total", backend="tone") <= 1
        assert served.metric("voxline_queue_depth") == 0
        ws = require("websockets.sync.client", "pip install -e '.[test]'")
        with ws.connect(served.url.replace("http", "ws") + "/v1/audio/speech/stream") as socket:
            socket.send('{"input": "Too slow for the limit."}')
            import json as json_mod

            assert json_mod.loads(socket.recv(timeout=10))["event"] == "start"
            event = json_mod.loads(socket.recv(timeout=10))
            assert event["event"] == "error" and event["status"] == 504
    finally:
        served.close()


def test_the_timeout_counts_synthesis_not_a_slow_reader(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "2", "--backend", "tone",
                    "--request-timeout", "1",
                    config="[backends.tone]\ndelay_s = 0.01\nseconds_per_char = 0.25\n")
    try:
        lines = [f"Line {n} of a long answer." for n in range(20)]
        received = 0
        started = time.monotonic()
        import socket

        # a small receive buffer: the server feels the slow reader, not a kernel buffer
        small = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                                     65536)])
        with httpx.Client(transport=small, timeout=60) as client, client.stream(
                "POST", served.url + "/v1/audio/speech",
                json={"input": " ".join(lines), "response_format": "pcm"}) as response:
            assert response.status_code == 200
            for part in response.iter_bytes(chunk_size=65536):
                received += len(part)
                time.sleep(0.05)  # a player taking its time: more than the socket buffers
        assert time.monotonic() - started > 3.0  # well past the limit, reading
        spoken = sum(0.25 * len(line) for line in lines)  # 6 MB of audio
        assert received / 2 / 24000 > spoken, (received / 48000, spoken)  # all of it
    finally:
        served.close()


def test_queue_depth_counts_chunks_waiting_for_a_worker(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "1", "--backend", "tone",
                    config="[backends.tone]\ndelay_s = 0.4\n")
    try:
        assert served.metric("voxline_queue_depth") == 0
        text = " ".join(f"This is waiting line number {n}." for n in range(12))
        with httpx.stream("POST", served.url + "/v1/audio/speech", timeout=60,
                          json={"input": text, "response_format": "pcm"}) as response:
            parts = response.iter_bytes()
            next(parts)
            depth = served.metric("voxline_queue_depth")
        assert depth >= 2, depth  # one worker: the request's next chunks wait for it
        deadline = time.monotonic() + 10
        while served.metric("voxline_queue_depth") > 0:  # the client hung up
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        served.close()


def test_concurrent_requests_to_a_batching_backend_share_a_batch(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "2", "--backend", "tone-batch",
                    "--cache", "off", config="[backends.tone-batch]\ndelay_s = 1.0\n")
    try:
        ended: dict[str, float] = {}

        def ask(text: str) -> None:
            response = httpx.post(served.url + "/v1/audio/speech", timeout=60,
                                  json={"input": text, "response_format": "pcm"})
            assert response.status_code == 200 and len(response.content) > 24000
            ended[text] = time.monotonic()

        started = time.monotonic()
        first = threading.Thread(target=ask, args=("The first request.",))
        first.start()
        time.sleep(0.4)  # its batch is running: the next two wait together for the next one
        others = [threading.Thread(target=ask, args=(text,))
                  for text in ("A second request.", "And a third one.")]
        for thread in others:
            thread.start()
        for thread in [first, *others]:
            thread.join(timeout=60)
        assert len(ended) == 3
        assert served.metric("voxline_backend_batch_size_count") == 2
        assert served.metric("voxline_backend_batch_size_sum") == 3
        assert served.metric("voxline_backend_batch_size_bucket", le="1.0") == 1
        # one after the other, the last would end after 3 s of batches
        assert max(ended.values()) - started < 2.8, max(ended.values()) - started
    finally:
        served.close()


def test_sigterm_checkpoints_the_running_job_for_the_next_start(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "2", "--backend", "tone",
                    config="[backends.tone]\ndelay_s = 0.15\n")
    try:
        job_id = httpx.post(served.url + "/v1/jobs", timeout=30,
                            json={"input": LONG}).json()["id"]
        wait_for(served.url, job_id,
                 until=lambda j: j["documents"][0].get("chunks_done", 0) >= 3)
        served.process.terminate()
        assert served.process.wait(timeout=30) == 0
        assert "voxline serve: stopped" in served.output()
    finally:
        served.close()
    stored = json.loads((tmp_path / "state" / "serve-jobs" / job_id / "job.json").read_text())
    assert stored["state"] == "queued"  # taken up again by the next start


def test_speech_requests_go_before_a_running_jobs_chunks(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "1", "--backend", "tone",
                    config="[backends.tone]\ndelay_s = 0.5\n")
    try:
        job_id = httpx.post(served.url + "/v1/jobs", timeout=30,
                            json={"input": LONG}).json()["id"]
        wait_for(served.url, job_id,
                 until=lambda j: j["documents"][0].get("chunks_done", 0) >= 1)
        assert served.metric("voxline_queue_depth") >= 2  # the job's next chunks wait
        started = time.monotonic()
        with httpx.stream("POST", served.url + "/v1/audio/speech", timeout=60,
                          json={"input": "Let me through.", "response_format": "pcm"}) as response:
            next(response.iter_bytes())
            first_audio_s = time.monotonic() - started
        # the job chunk on the worker, then this one: not behind the job's queued chunks
        assert first_audio_s < 1.6, first_audio_s
        assert httpx.get(f"{served.url}/v1/jobs/{job_id}").json()["state"] == "running"
    finally:
        served.close()


def test_a_long_request_does_not_hold_up_the_first_audio_of_the_next(tmp_path):
    served = Served(tmp_path, "--no-preload", "--workers", "1", "--backend", "tone",
                    "--cache", "off", config="[backends.tone]\ndelay_s = 0.3\n")
    try:
        long_text = " ".join(f"This is a long answer, sentence {n}." for n in range(10))
        readers = [threading.Thread(target=httpx.post, args=(served.url + "/v1/audio/speech",),
                                    kwargs={"json": {"input": long_text + f" {n}",
                                                     "response_format": "pcm"},
                                            "timeout": 60}) for n in range(2)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 10
        while served.metric("voxline_queue_depth") < 4:  # their chunks wait for the worker
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        with httpx.stream("POST", served.url + "/v1/audio/speech", timeout=60,
                          json={"input": "Short one.", "response_format": "pcm"}) as short:
            next(short.iter_bytes())
            first_audio_s = time.monotonic() - started
        # the chunks on the worker, then this request's first: not the others' queues
        assert first_audio_s < 1.2, first_audio_s
        for reader in readers:
            reader.join(timeout=60)
    finally:
        served.close()
