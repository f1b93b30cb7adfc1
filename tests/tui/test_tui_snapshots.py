"""Screenshots of the job monitor (pytest-textual-snapshot), in 80×24 and 160×48, with two
GPUs from a fixed sampler and with no GPU. The job is a scripted sequence of the pipeline's
events on a fixed clock, so every run draws the same screen.

After an intended change of the layout: `pytest tests/tui/test_tui_snapshots.py
--snapshot-update`, then look at the SVGs under tests/tui/__snapshots__/ before committing.
"""

from __future__ import annotations

import pytest

from voxline.gpu import GpuReport, GpuSample
from voxline.tui.app import VoxlineApp

GiB = 2**30


class FixedClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def two_gpus(used_gib=(6.0, 14.5), util=(40, 87)) -> GpuReport:
    return GpuReport(True, "2 NVIDIA GPU(s)", (
        GpuSample(0, "NVIDIA A10", int(used_gib[0] * GiB), 24 * GiB, util[0], 61),
        GpuSample(1, "NVIDIA L4", int(used_gib[1] * GiB), 24 * GiB, util[1], 74),
    ))


NO_GPU = GpuReport(False, "no NVIDIA GPU (the NVIDIA driver is not loaded)")


def script(app: VoxlineApp, clock: FixedClock) -> None:
    """A job of three documents, part-way: one done (with cache hits), one running on a
    router that fell back once, one queued; a warning; a GPU backend waiting for memory."""
    s = app.state
    s.job_started([("book/01-intro.txt", "out/01-intro.wav"),
                   ("book/02-chapter.txt", "out/02-chapter.wav"),
                   ("book/03-notes.ssml", "out/03-notes.wav")])
    for source, chunks in (("book/01-intro.txt", 6), ("book/02-chapter.txt", 10)):
        for stage, seconds in (("read", 0.002), ("ssml", 0.001), ("normalize", 0.041),
                               ("segment", 0.003)):
            s.stage_finished(source, stage, seconds, None)
        s.document_started(source, chunks)
    for i in range(6):
        s.chunk_started("book/01-intro.txt", i, f"Chapter one, sentence {i + 1}.")
        s.stage_finished("book/01-intro.txt", "synthesize", 0.0 if i < 2 else 0.8 + i / 10, i)
        s.stage_finished("book/01-intro.txt", "resample", 0.004, i)
        s.chunk_finished("book/01-intro.txt", i, 4.0 + i / 2, "chattts-v2", cached=i < 2)
    s.stage_finished("book/01-intro.txt", "concatenate", 0.05, None)
    s.document_finished("book/01-intro.txt", "out/01-intro.wav", True, "changed", None, 6,
                        34.5, 2)
    s.backend_state("chattts", {"choice": "chattts-v2", "why": "healthy (gpu 45%)"})
    for i in range(4):
        s.chunk_started("book/02-chapter.txt", i, f"第二章，第{i + 1}句。")
        s.stage_finished("book/02-chapter.txt", "synthesize", 1.1 + i / 10, i)
        s.stage_finished("book/02-chapter.txt", "resample", 0.006, i)
        backend = "chattts-v1" if i == 3 else "chattts-v2"
        s.chunk_finished("book/02-chapter.txt", i, 5.0, backend, cached=False)
    s.attempt_failed("book/02-chapter.txt", 3, "chattts-v2", "http 503", "fallback")
    s.chunk_started("book/02-chapter.txt", 4, "第二章，第五句。")
    s.warning("book/03-notes.ssml", "<prosody pitch> ignored: backend 'chattts-v1' has no "
                                    "pitch control")
    s.backend_state("chattts-local", {"admission": "waiting", "gpu_memory_fraction": 0.64})
    clock.now += 42.0
    app.refresh_panels(force=True)


def make_app(sampler) -> tuple[VoxlineApp, FixedClock]:
    clock = FixedClock()
    # one sample at start, the rest in run_before: the sparklines do not depend on timing
    app = VoxlineApp(None, gpu_sampler=sampler, clock=clock, gpu_interval_s=3600,
                     queue_first=False, refresh_s=3600)
    return app, clock


def gpu_history(app: VoxlineApp) -> None:
    for step in range(12):
        app.gpu_history.add(two_gpus((5.0 + step / 2, 14.5 - step / 3),
                                     ((step * 13) % 100, 87 - step * 5)))
    app.gpu_history.add(two_gpus())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_monitor_with_two_gpus(snap_compare, size):
    app, clock = make_app(two_gpus)

    async def run_before(pilot):
        gpu_history(app)
        script(app, clock)
        if size == (80, 24):
            await pilot.press("3")  # the GPU tab: on a small terminal one panel at a time
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_monitor_without_gpu(snap_compare, size):
    app, clock = make_app(lambda: NO_GPU)

    async def run_before(pilot):
        script(app, clock)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
