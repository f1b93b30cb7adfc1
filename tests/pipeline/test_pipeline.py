"""The job runner: order, pauses, resampling, atomic outputs, failures that stay contained."""

import numpy as np

from conftest import ToneBackend
from voxline.audio import FORMATS, read_wav
from voxline.job import Job, Pipeline, output_specs
from voxline.pluginmanager import build_registry
from voxline.settings import load_settings


def run(pm, tmp_path, texts, **overrides):
    inputs = []
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        inputs.append((path, None))
    settings = load_settings(overrides={"backend": "tone", **overrides}, env={})
    specs = output_specs(inputs, tmp_path / "out", FORMATS[settings.format], False)
    return Pipeline(pm, build_registry(pm), settings).run(Job(specs, settings))


def voiced_spans(audio, threshold=500):
    """(start s, end s) of each stretch of sound, from the samples."""
    loud = np.abs(audio.samples.astype(np.int32)) > threshold
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    bounds = np.concatenate([[0] if loud[0] else [], edges + 1, [len(loud)] if loud[-1] else []])
    spans = [(a / audio.sample_rate_hz, b / audio.sample_rate_hz) for a, b in bounds.reshape(-1, 2)]
    merged = []
    for start, end in spans:  # zero crossings of the tone are not pauses
        if merged and start - merged[-1][1] < 0.05:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def test_chunks_join_in_order_with_pauses_at_the_output_rate(pm_with_tone, tmp_path):
    report = run(pm_with_tone, tmp_path, {"a.ssml": (
        '<speak>aaaa<break time="1s"/>bbbbbbbb<break time="500ms"/>cc</speak>')},
        workers=3, sample_rate=22050)
    assert report.exit_code == 0
    audio = read_wav(tmp_path / "out" / "a.wav")
    assert audio.sample_rate_hz == 22050
    spans = voiced_spans(audio)
    durations = [round(end - start, 2) for start, end in spans]
    assert durations == [0.32, 0.64, 0.16]  # 0.08 s per character, in source order
    gaps = [round(b[0] - a[1], 2) for a, b in zip(spans, spans[1:])]
    assert gaps == [1.0, 0.5]


def test_failed_document_leaves_no_file_and_others_complete(pm_with_tone, tmp_path):
    texts = {"good1.txt": "Fine text here.", "bad.txt": "One. Two. Then FAIL here. Three.",
             "good2.txt": "Also fine."}
    report = run(pm_with_tone, tmp_path, texts, workers=2)
    results = {r.source.rsplit("/", 1)[-1]: r for r in report.documents}
    assert results["good1.txt"].ok and results["good2.txt"].ok
    assert "tone backend was told to fail" in results["bad.txt"].error
    assert "chunk" in results["bad.txt"].error
    assert report.exit_code == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good1.wav", "good2.wav"]


def test_output_is_replaced_atomically(pm_with_tone, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.wav").write_bytes(b"previous finished work")
    report = run(pm_with_tone, tmp_path, {"a.txt": "Now FAIL please."})
    assert report.exit_code == 4
    assert (out / "a.wav").read_bytes() == b"previous finished work"
    assert [p.name for p in out.iterdir()] == ["a.wav"]


def test_long_run_on_text_is_chunked_within_budget(pm_with_tone, tmp_path):
    text = "这是一段没有标点的很长的文字" * 20
    # one worker, so the backend is called in chunk order and the calls can be joined
    report = run(pm_with_tone, tmp_path, {"long.txt": text}, workers=1)
    assert report.exit_code == 0
    assert all(len(t) <= ToneBackend.capabilities.budget_chars for t in ToneBackend.calls)
    assert "".join(ToneBackend.calls) == "".join(text.split())
