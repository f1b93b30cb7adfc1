"""`tone`: a deterministic backend for tests and benchmarks (a plugin like any other).

It answers every request with a sine tone whose length follows the text (`seconds_per_char`,
default 0.08) at 24 kHz, float32, so resampling is exercised; the same request always gives
the same samples, whatever was asked before. `delay_s` makes each call take that long, to
stand in for an engine's time. Text containing `FAIL` raises a `BackendError`.

Load it through the entry point `tone = voxline.testing.tone` (see `tests/conftest.py`).
"""

from __future__ import annotations

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
        import numpy as np

        if "FAIL" in request.text:
            raise BackendError("tone backend was told to fail")
        delay = float(self.options.get("delay_s", 0.0))
        if delay:
            time.sleep(delay)
        per_char = float(self.options.get("seconds_per_char", 0.08))
        n = int(per_char * 24000 * len(request.text))
        frequency = 220.0 + 20.0 * (sum(map(ord, request.text)) % 20)  # chunks sound apart
        t = np.arange(n, dtype=np.float32) / 24000
        return Audio((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), 24000, 1)


@voxline.hookimpl
def register_backends(register):
    register(ToneBackend)
