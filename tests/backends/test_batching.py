"""Batching backends: concurrent chunks are gathered into lists, each caller gets its own
audio back, in order, through the whole pipeline (cache, retries, output order)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import voxline
from voxline import Audio, Backend, BackendError, Capabilities, SynthesisRequest
from voxline.batching import BatchingBackend


class Counting(Backend):
    """Speaks each request as a tone whose length encodes the text's length, and records the
    size of every batch it is given."""

    name = "counting"
    capabilities = Capabilities(sample_rate_hz=16000, languages=("en", "zh"), batches=True,
                                thread_safe=True)
    seen: list[list[str]] = []
    fail_next = 0

    def synthesize(self, request: SynthesisRequest) -> Audio:
        return self.synthesize_batch([request])[0]

    def synthesize_batch(self, requests):
        Counting.seen.append([r.text for r in requests])
        time.sleep(0.05)  # a batch costs about the same whatever its size
        if Counting.fail_next:
            Counting.fail_next -= 1
            raise BackendError("flaky batch", reason="flaky", retryable=True)
        return [Audio(np.full(160 * len(r.text), 1000, dtype=np.int16), 16000)
                for r in requests]

    def preferred_batch_size(self) -> int:
        return 3


@pytest.fixture
def counting(voxline_pm):
    Counting.seen = []
    Counting.fail_next = 0

    class Plugin:
        @voxline.hookimpl
        def register_backends(self, register):
            register(Counting)

    voxline_pm.register(Plugin(), name="counting")
    return voxline_pm


def test_concurrent_calls_become_batches_and_each_caller_gets_its_own_audio():
    backend = Counting()
    Counting.seen = []
    batcher = BatchingBackend(backend, batch_size=4, linger_s=0.05)
    texts = [f"x{'y' * i}" for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        produced = list(pool.map(lambda t: batcher.synthesize(SynthesisRequest(t, "en")),
                                 texts))
    batcher.close()
    assert [a.frames for a in produced] == [160 * len(t) for t in texts]
    assert sum(batcher.batches) == 10
    assert max(batcher.batches) == 4 and len(batcher.batches) <= 4
    assert sorted(t for batch in Counting.seen for t in batch) == sorted(texts)


def test_a_lone_request_goes_on_its_own_after_the_linger():
    batcher = BatchingBackend(Counting(), batch_size=8, linger_s=0.02)
    started = time.perf_counter()
    audio = batcher.synthesize(SynthesisRequest("hello", "en"))
    waited = time.perf_counter() - started
    batcher.close()
    assert audio.frames == 800 and batcher.batches == [1]
    assert waited < 1.0


def test_a_failed_batch_fails_every_caller_in_it():
    Counting.fail_next = 1
    batcher = BatchingBackend(Counting(), batch_size=2, linger_s=0.2)
    errors = []

    def call(text):
        try:
            batcher.synthesize(SynthesisRequest(text, "en"))
        except BackendError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=call, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert errors == ["flaky batch", "flaky batch"]


def test_the_pipeline_batches_chunks_keeps_their_order_and_retries_a_failed_batch(
        counting, voxline_run):
    text = "\n\n".join(f"Paragraph number {'x' * i} ends here." for i in range(1, 10))
    states = []

    class Listener:
        @voxline.hookimpl
        def backend_state(self, backend, state):
            states.append(dict(state))

    counting.register(Listener(), name="listener")
    Counting.fail_next = 1
    result = voxline_run(text, backend="counting", workers=1, retry_backoff=0.01)
    assert result.report.exit_code == 0
    doc = result.report.documents[0]
    assert doc.chunks == 9
    sizes = [len(batch) for batch in Counting.seen]
    assert max(sizes) == 3  # the backend's own choice: preferred_batch_size()
    assert len(Counting.seen) < 9 + 3  # batched, with the failed batch retried
    assert {"batch_size": 3} in states
    # the output is the chunks in order: tone lengths encode each paragraph's length
    pause = int(0.6 * 16000)
    expected = sum(160 * len(f"Paragraph number {'x' * i} ends here.") for i in range(1, 10))
    assert len(result.samples) == expected + 8 * pause
    offset = 0
    for i in range(1, 10):
        length = 160 * len(f"Paragraph number {'x' * i} ends here.")
        assert np.all(result.samples[offset:offset + length] > 500)
        assert np.all(result.samples[offset + length:offset + length + pause] == 0) or i == 9
        offset += length + pause


def test_batch_size_from_the_command_line_wins(counting, voxline_run):
    text = "\n\n".join(f"Line {i} of the text." for i in range(8))
    voxline_run(text, backend="counting", workers=1, batch_size=2)
    assert max(len(b) for b in Counting.seen) == 2


def test_a_bad_batch_size_is_a_usage_error(tmp_path):
    from conftest import run_cli

    (tmp_path / "a.txt").write_text("Hello.")
    proc = run_cli("synth", str(tmp_path / "a.txt"), "-o", str(tmp_path / "out"),
                   "--batch-size", "0")
    assert proc.returncode == 2
    assert b"batch size must be between 1 and 256" in proc.stderr
    assert b"Traceback" not in proc.stderr
