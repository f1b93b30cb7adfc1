"""Pausing, resuming and cancelling a running job (what the TUI's keys do)."""

from __future__ import annotations

import threading
import time

import voxline
from voxline.audio import FORMATS
from voxline.control import JobControl
from voxline.job import Job, Pipeline, output_specs
from voxline.settings import load_settings

from conftest import ToneBackend, wav_info

TEXT = " ".join(f"Sentence number {i} is here." for i in range(40))


class Recorder:
    """Counts chunks as they start and finish, from the worker threads."""

    def __init__(self):
        self.started = 0
        self.finished = 0
        self.lock = threading.Lock()

    @voxline.hookimpl
    def chunk_started(self, document, chunk):
        with self.lock:
            self.started += 1

    @voxline.hookimpl
    def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
        with self.lock:
            self.finished += 1


def _job(tmp_path, pm, workers=2, delay=0.03):
    src = tmp_path / "book.txt"
    src.write_text(TEXT, encoding="utf-8")
    settings = load_settings(overrides={"backend": "tone", "workers": workers}, env={})
    settings.backends.setdefault("tone", {})["delay_s"] = delay
    specs = output_specs([(src, None)], tmp_path / "out", FORMATS["wav"], False)
    return Pipeline(pm, voxline.pluginmanager.build_registry(pm), settings), \
        Job(specs, settings), specs[0].output


def _run_in_thread(pipeline, job, control):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("report",
                                                            pipeline.run(job, control)))
    thread.start()
    return thread, box


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_pause_holds_new_chunks_and_resume_finishes(pm_with_tone, tmp_path, private_cache):
    recorder = Recorder()
    pm_with_tone.register(recorder, name="undo-recorder")
    pipeline, job, output = _job(tmp_path, pm_with_tone)
    control = JobControl()
    thread, box = _run_in_thread(pipeline, job, control)
    _wait_for(lambda: recorder.finished >= 3)
    control.pause()
    time.sleep(0.3)  # the chunks on the workers finish ...
    held = recorder.started
    assert recorder.finished == held
    time.sleep(0.3)  # ... and nothing new starts while paused
    assert recorder.started == held
    control.resume()
    thread.join(30)
    report = box["report"]
    assert report.exit_code == 0 and not report.cancelled
    assert recorder.finished == report.documents[0].chunks > held
    assert wav_info(output)[3] == report.documents[0].audio_s


def test_cancel_keeps_finished_chunks_and_the_rerun_resumes(pm_with_tone, tmp_path,
                                                            private_cache):
    recorder = Recorder()
    pm_with_tone.register(recorder, name="undo-recorder")
    pipeline, job, output = _job(tmp_path, pm_with_tone)
    control = JobControl()
    thread, box = _run_in_thread(pipeline, job, control)
    _wait_for(lambda: recorder.finished >= 5)
    control.cancel()
    thread.join(30)
    report = box["report"]
    done_at_cancel = recorder.finished
    assert report.cancelled and report.exit_code == 130
    assert "cancelled" in report.documents[0].error
    assert report.documents[0].cancelled  # what the TUI shows as cancelled, not failed
    assert not output.exists() and not list(output.parent.glob(".*part"))
    total = 0
    ToneBackend.calls.clear()
    rerun = Pipeline(pm_with_tone, pipeline.registry, pipeline.settings).run(job)
    doc = rerun.documents[0]
    total = doc.chunks
    assert rerun.exit_code == 0 and doc.status == "resumed"
    assert doc.cached == done_at_cancel  # every chunk finished before the cancel was kept
    assert len(ToneBackend.calls) == total - done_at_cancel
    assert output.exists()


def test_cancel_while_paused_ends_the_job(pm_with_tone, tmp_path, private_cache):
    pipeline, job, _ = _job(tmp_path, pm_with_tone)
    control = JobControl()
    control.pause()
    thread, box = _run_in_thread(pipeline, job, control)
    time.sleep(0.3)
    assert thread.is_alive() and not ToneBackend.calls
    control.cancel()
    thread.join(10)
    assert not thread.is_alive() and box["report"].cancelled
