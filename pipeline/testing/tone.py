"""`tone`: a deterministic backend for tests and benchmarks (a plugin like any other).

It answers every request with a sine tone whose length follows the text (`seconds_per_char`,
default 0.08) at 24 kHz, float32, so resampling is exercised; the same request always gives
the same samples, whatever was asked before. `delay_s` makes each call take that long, to
stand in for an engine's time. Text containing `FAIL` raises a `BackendError`.

`tone-batch` is the same tone from a batching backend (as `chattts-local` batches): the
pipeline gathers its chunks, from one job or from several server requests at once, into
`synthesize_batch` calls, each taking `delay_s` once for the whole list.

Load it through the entry point `tone = voxline.testing.tone` (see `tests/conftest.py`).
"""

from __future__ import annotations

import dataclasses
import time

import voxline
from voxline import Audio, Backend, BackendError, Capabilities, Option, Voice


class ToneBackend(Backend):
    name = "tone"
    version = "1"
    capabilities = Capabilities(
        sample_rate_hz=24000, languages=("en", "zh", "yue"),
        voices=(Voice("a4", "en"), Voice("a4", "zh"), Voice("a4", "yue")), budget_chars=40,
        thread_safe=True, deterministic=True,
    )
    option_specs = (
        Option("delay_s", float, 0.0, "seconds to wait before each answer", 0, 600),
        Option("seconds_per_char", float, 0.08, "seconds of tone per character", 0, 10),
    )

    def synthesize(self, request):
        delay = float(self.options.get("delay_s", 0.0))
        if delay:
            time.sleep(delay)
        return self.tone(request)

    def tone(self, request):
        import numpy as np

        if "FAIL" in request.text:
            raise BackendError("tone backend was told to fail")
        per_char = float(self.options.get("seconds_per_char", 0.08))
        n = int(per_char * 24000 * len(request.text))
        frequency = 220.0 + 20.0 * (sum(map(ord, request.text)) % 20)  # chunks sound apart
        t = np.arange(n, dtype=np.float32) / 24000
        return Audio((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), 24000, 1)


class BatchToneBackend(ToneBackend):
    name = "tone-batch"
    capabilities = dataclasses.replace(ToneBackend.capabilities, batches=True)

    def synthesize(self, request):
        (audio,) = self.synthesize_batch([request])
        return audio

    def synthesize_batch(self, requests):
        delay = float(self.options.get("delay_s", 0.0))
        if delay:
            time.sleep(delay)  # one call's time, however many requests it carries
        results = []
        for request in requests:
            try:
                results.append(self.tone(request))
            except BackendError as exc:  # that request alone fails
                results.append(exc)
        return results

    def preferred_batch_size(self) -> int:
        return 8


@voxline.hookimpl
def register_backends(register):
    register(ToneBackend)
    register(BatchToneBackend)
