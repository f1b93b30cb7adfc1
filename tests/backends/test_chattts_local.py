"""`chattts-local` on the real ChatTTS library code: a model folder with random weights built
from ChatTTS's own config and model classes (`voxline.testing.chattts_assets`), loaded with
`Chat.load(source="custom")` and run end to end through voxline. Run alone with
`pytest -m chattts`. The model never stops on its own, so every chunk runs to its token
budget: lengths are exact and the truncation path always runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import voxline
from conftest import run_cli
from voxline import BackendError, Prosody, SynthesisRequest
from voxline.plugins import chattts_local as ct

pytestmark = pytest.mark.chattts


def _need_chattts():
    try:
        import ChatTTS  # noqa: F401
    except ImportError as exc:
        message = f"the chattts extra is not installed ({exc}): pip install -e '.[chattts]'"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have it")  # in CI these tests never skip
        pytest.skip(message)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The random-weight model folder, built once and kept between runs (keyed by the
    library versions that shape it)."""
    _need_chattts()
    from voxline.testing import chattts_assets

    return chattts_assets.cached(os.environ.get("VOXLINE_TEST_MODELS",
                                                Path.home() / ".cache" / "voxline-tests"))


@pytest.fixture(scope="module")
def backend(model_dir):
    instance = ct.ChatTTSLocal({"model_dir": str(model_dir), "check_hashes": False})
    yield instance
    instance.close()


@pytest.fixture
def recorded(backend, monkeypatch):
    """The keyword arguments of each `Chat.infer` call the backend makes."""
    calls = []
    real = backend.chat.infer

    def infer(text, **kwargs):
        calls.append({"text": list(text), **kwargs,
                      "params": kwargs["params_infer_code"],
                      "spk_emb": kwargs["params_infer_code"].spk_emb,
                      "seed": kwargs["params_infer_code"].manual_seed,
                      "max_new_token": kwargs["params_infer_code"].max_new_token})
        return real(text, **kwargs)

    monkeypatch.setattr(backend.chat, "infer", infer)
    return calls


def budget_s(text: str, language: str) -> float:
    spoken, _ = ct.speakable(text, language)
    return ct.token_budget(spoken, language, 2048) / ct.TOKENS_PER_S


# -- the text ChatTTS receives ------------------------------------------------------------


def test_text_is_mapped_to_what_chattts_speaks_and_the_rest_is_reported():
    assert ct.speakable("你好！今天？好；走：是（的）", "zh")[0] == "你好。今天。好，走，是，的"
    assert ct.speakable("Don't stop — go!", "en")[0] == "Dont stop, go."
    assert ct.speakable("café naïve", "en")[0] == "cafe naive"
    assert ct.speakable("ＡＢＣ全角", "zh")[0] == "ABC全角"
    # brackets never reach ChatTTS, so text cannot smuggle in a control token
    assert "[" not in ct.speakable("say [laugh] now", "en")[0]
    text, dropped = ct.speakable("I ♥ emoji 🎉 and Ω", "en")
    assert dropped == ["♥", "🎉", "Ω"] and text == "I emoji and"
    assert ct.speakable("room 12", "en")[0] == "room one two"


def test_nothing_reaching_the_library_is_dropped_by_its_own_filter(backend, recorded):
    samples = ["他说：“明天见！”（真的？）", "Rock & roll — 100% fun; isn't it?", "第3章：开始"]
    backend.synthesize_batch([SynthesisRequest(t, "zh" if i != 1 else "en")
                              for i, t in enumerate(samples)])
    for text in recorded[0]["text"]:
        assert backend.chat.normalizer._count_invalid_characters(text) == set()
    assert backend._log.dropped == []


def test_rate_becomes_a_speed_token_and_breaks_split_only_at_marks():
    assert [ct.speed_token(r) for r in (0.5, 0.8, 1.0, 1.2, 2.0)] == [
        "[speed_0]", "[speed_3]", "[speed_5]", "[speed_7]", "[speed_9]"]
    assert ct.halves("你好，世界。今天天气很好。") == ("你好，世界。", "今天天气很好。")
    assert ct.halves("One, two.") == ("One,", "two.")
    assert ct.halves("没有标点") is None


# -- speakers -------------------------------------------------------------------------------


def test_speakers_from_seed_file_string_and_random_saved_for_reuse(backend, tmp_path):
    seed_a = backend._speaker("seed:2222")
    assert seed_a == backend._speaker("seed:2222")
    assert seed_a != backend._speaker("seed:7")
    saved = tmp_path / "voice.txt"
    saved.write_text(seed_a + "\n")
    assert backend._speaker(f"file:{saved}") == seed_a
    assert backend._speaker(seed_a) == seed_a
    new = tmp_path / "spk" / "new.txt"
    fresh = backend._speaker(f"random:{new}")
    assert new.read_text().strip() == fresh
    assert any("saved it to" in note for note in backend._notes)
    other = ct.ChatTTSLocal.__new__(ct.ChatTTSLocal)  # a later job reuses the saved one
    other.chat, other._torch, other._speakers, other._notes = backend.chat, backend._torch, {}, []
    other.options = {}
    assert other._speaker(f"random:{new}") == fresh
    for bad in ("seed:abc", "file:/nonexistent/voice.txt", "nonsense:1", "x" * 40):
        with pytest.raises(BackendError):
            backend._speaker(bad)


def test_one_speaker_and_one_sampling_seed_for_every_call_fresh_params_each(backend,
                                                                            recorded):
    backend.synthesize_batch([SynthesisRequest("第一句话。", "zh"),
                              SynthesisRequest("第二句话。", "zh")])
    backend.synthesize_batch([SynthesisRequest("第三句话。", "zh")])
    assert len({c["spk_emb"] for c in recorded}) == 1
    assert recorded[0]["spk_emb"] == backend._speaker("seed:2222")
    assert {c["seed"] for c in recorded} == {42}
    assert len({id(c["params"]) for c in recorded}) == len(recorded)
    for call in recorded:
        assert call["split_text"] is False and call["skip_refine_text"] is True
        assert call["do_text_normalization"] is False


def test_requests_with_different_voices_in_one_batch_get_their_own_speaker(backend,
                                                                           recorded):
    produced = backend.synthesize_batch([
        SynthesisRequest("甲。", "zh", "seed:1"), SynthesisRequest("乙。", "zh", "seed:2"),
        SynthesisRequest("丙。", "zh", "seed:1")])
    first = [c for c in recorded if c["text"] and "甲" in c["text"][0]][0]
    assert [t.endswith(("甲。", "丙。")) for t in first["text"]] == [True, True]
    assert first["spk_emb"] == backend._speaker("seed:1")
    assert len(produced) == 3


# -- audio, budgets, truncation -----------------------------------------------------------


def test_batch_audio_is_24khz_float_in_order_with_lengths_from_each_budget(backend):
    texts = [("短。", "zh"), ("这是一个稍微长一点的句子", "zh"), ("Hi", "en")]
    produced = backend.synthesize_batch([SynthesisRequest(t, lang) for t, lang in texts])
    for audio, (text, lang) in zip(produced, texts):
        assert audio.sample_rate_hz == 24000 and audio.samples.dtype == np.float32
        assert audio.samples.ndim == 1
        assert audio.duration_s == pytest.approx(budget_s(text, lang), abs=0.05)
        assert np.abs(audio.samples).max() > 0


def test_a_chunk_cut_off_at_the_token_limit_is_split_and_spoken_again(backend, recorded):
    text = "今天天气很好。我们去公园散步吧，顺便买点水果。"
    (audio,) = backend.synthesize_batch([SynthesisRequest(text, "zh")])
    assert recorded[0]["text"] == [ct.speed_token(1.0) + ct.speakable(text, "zh")[0]]
    assert recorded[1]["text"] == ["[speed_5]今天天气很好。", "[speed_5]我们去公园散步吧，顺便买点水果。"]
    assert recorded[2]["text"] == ["[speed_5]我们去公园散步吧，", "[speed_5]顺便买点水果。"]
    parts = ["今天天气很好。", "我们去公园散步吧，", "顺便买点水果。"]
    assert audio.duration_s == pytest.approx(sum(budget_s(p, "zh") for p in parts), abs=0.05)
    assert any("hit its token limit after splitting it into 3 parts" in n
               for n in audio.notes)
    assert recorded[0]["max_new_token"] == ct.token_budget(ct.speakable(text, "zh")[0], "zh",
                                                           2048)


def test_prosody_rate_reaches_chattts_as_its_speed_token(backend, recorded):
    backend.synthesize(SynthesisRequest("快一点。", "zh", prosody=Prosody(rate=1.2)))
    assert recorded[0]["text"][0].startswith("[speed_7]")


# -- through voxline ------------------------------------------------------------------------


def test_a_document_through_the_pipeline_in_batches_at_16khz(model_dir, voxline_pm,
                                                              voxline_run):
    states, finished = [], []

    class Listener:
        @voxline.hookimpl
        def backend_state(self, backend, state):
            states.append(dict(state))

        @voxline.hookimpl
        def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
            finished.append((chunk.index, audio_duration_s))

    voxline_pm.register(Listener(), name="listener")
    paragraphs = ["第一段。", "第二段话稍微长一些。", "第三段。", "Fourth paragraph here.",
                  "第五段。", "第六段比较长一点点。"]
    options = {"chattts-local": {"model_dir": str(model_dir), "check_hashes": False}}
    result = voxline_run("\n\n".join(paragraphs), backend="chattts-local", workers=1,
                         batch_size=4, backend_options=options)
    assert result.report.exit_code == 0, result.report.documents[0].error
    assert result.sample_rate_hz == 16000
    batches = [s["batch"] for s in states if "batch" in s]
    assert sum(batches) == 6 and max(batches) <= 4 and len(batches) < 6
    by_index = dict(finished)
    for i, text in enumerate(paragraphs):
        lang = "en" if text.startswith("Fourth") else "zh"
        assert by_index[i] == pytest.approx(budget_s(text, lang), abs=0.05)
    pauses = 5 * 0.6
    assert result.duration_s == pytest.approx(sum(by_index.values()) + pauses, abs=0.05)
    # the same text in batches of 1 gives each chunk the same length, in the same place
    finished.clear()
    again = voxline_run("\n\n".join(paragraphs), backend="chattts-local", workers=1,
                        batch_size=1, cache="off", backend_options=options)
    # (ChatTTS drops samples under 1e-5 from each wav, so lengths agree to a few ms)
    assert dict(finished) == pytest.approx(by_index, abs=0.03)
    assert again.duration_s == pytest.approx(result.duration_s, abs=0.15)


def test_the_second_run_comes_from_the_cache(model_dir, voxline_run):
    options = {"chattts-local": {"model_dir": str(model_dir), "check_hashes": False}}
    first = voxline_run("缓存测试。第二句。", backend="chattts-local", backend_options=options)
    second = voxline_run("缓存测试。第二句。", backend="chattts-local", backend_options=options)
    assert second.report.documents[0].cached == second.report.documents[0].chunks >= 1
    assert np.array_equal(first.samples, second.samples)


def test_the_command_line_with_model_dir_speaker_and_batch_size(model_dir, tmp_path):
    source = tmp_path / "book.txt"
    source.write_text("第一章。\n\n天气很好，我们去公园。\n\nThe end.", encoding="utf-8")
    config = tmp_path / "voxline.toml"
    config.write_text("[backends.chattts-local]\ncheck_hashes = false\n")
    proc = run_cli("synth", str(source), "-o", str(tmp_path / "out"), "--backend",
                   "chattts-local", "--model-dir", str(model_dir), "--speaker", "seed:2222",
                   "--batch-size", "8", "--config", str(config), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    import json

    report = json.loads(proc.stdout)
    assert report["written"] == 1 and report["backends"]["chattts-local"]["chunks"] == 3
    assert (tmp_path / "out" / "book.wav").stat().st_size > 16000


# -- what goes wrong ------------------------------------------------------------------------


def test_missing_weights_name_every_missing_file_once_per_job(model_dir, tmp_path):
    broken = tmp_path / "ChatTTS"
    shutil.copytree(model_dir / "asset" / "tokenizer", broken / "asset" / "tokenizer")
    source = tmp_path / "a.txt"
    source.write_text("第一句。\n\n第二句。\n\n第三句。", encoding="utf-8")
    proc = run_cli("synth", str(source), "-o", str(tmp_path / "out"), "--backend",
                   "chattts-local", "--model-dir", str(broken))
    err = proc.stderr.decode()
    assert proc.returncode == 4, err
    assert "model folder" in err and "is incomplete: missing" in err
    for name in ("asset/Vocos.safetensors", "asset/gpt/model.safetensors"):
        assert name in err
    assert "asset/tokenizer/tokenizer.json" not in err.split("missing")[1].split("(")[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "a.wav").exists()


def test_no_model_dir_and_altered_weights_are_clear_errors(model_dir, tmp_path):
    with pytest.raises(BackendError, match="needs the folder of ChatTTS's weights"):
        ct.ChatTTSLocal({})
    with pytest.raises(BackendError, match="none of the files .* match the released"):
        ct.ChatTTSLocal({"model_dir": str(model_dir)})
    with pytest.raises(BackendError, match="does not exist"):
        ct.ChatTTSLocal({"model_dir": str(tmp_path / "nowhere")})
    with pytest.raises(BackendError, match="unknown option"):
        ct.ChatTTSLocal({"model_dir": str(model_dir), "speeed": 1})


# -- the GPU side, with stand-ins for what CI does not have ------------------------------


def test_no_gpu_means_the_cpu_with_a_note(backend):
    assert backend.device.type == "cpu"
    assert backend.preferred_batch_size() == 16


def test_the_gpu_with_most_free_memory_device_wide_is_picked(monkeypatch):
    from voxline import GpuReport, GpuSample

    gib = 2**30
    report = GpuReport(True, "2 NVIDIA GPU(s)", (
        GpuSample(0, "A10", 20 * gib, 24 * gib, 90, 60),   # another process fills it
        GpuSample(1, "A10", 3 * gib, 24 * gib, 5, 40)))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    class Cuda:
        @staticmethod
        def device_count():
            return 2

        @staticmethod
        def mem_get_info(i):  # not consulted when NVML answers
            raise AssertionError("NVML's device-wide figures come first")

    class Torch:
        cuda = Cuda

    assert ct.pick_gpu(Torch, sampler=lambda: report) == (1, 21 * gib)


def test_batches_wait_for_gpu_memory_and_say_so(backend, monkeypatch):
    from voxline import GpuAdmission, GpuReport, GpuSample

    gib = 2**30
    readings = iter([0.9, 0.8, 0.5])
    emitted = []

    def sampler():
        used = next(readings, 0.5)
        return GpuReport(True, "1", (GpuSample(0, "A10", int(used * 24 * gib), 24 * gib,
                                               50, 50),))

    class Host:
        def emit(self, name, state):
            emitted.append((name, dict(state)))

        def backend(self, name):
            raise AssertionError

    monkeypatch.setattr(backend, "host", Host())
    monkeypatch.setattr(backend, "_admission", GpuAdmission(
        0.6, sampler=sampler, sleep=lambda s: None,
        on_state=lambda state: backend.host.emit(backend.name, state)))
    backend.synthesize(SynthesisRequest("等待。", "zh"))
    assert [s["admission"] for _, s in emitted] == ["waiting", "admitted"]
    name, state = emitted[0]
    assert name == "chattts-local" and state["threshold"] == 0.6
    assert state["gpu_memory_fraction"] == pytest.approx(0.9)


# -- SSML breaks ----------------------------------------------------------------------------


def test_short_breaks_stay_inside_the_chunk_as_chattts_pause_tokens(model_dir, voxline_pm,
                                                                    voxline_run, tmp_path):
    calls = []

    class Listener:
        @voxline.hookimpl
        def chunk_started(self, document, chunk):
            calls.append(chunk)

    voxline_pm.register(Listener(), name="listener")
    source = tmp_path / "breaks.ssml"
    source.write_text('<speak>你好<break time="200ms"/>世界。<break strength="weak"/>'
                      '我们走吧。<break time="1s"/>再见。</speak>', encoding="utf-8")
    options = {"chattts-local": {"model_dir": str(model_dir), "check_hashes": False,
                                 "split_on_truncation": False}}
    result = voxline_run(source, backend="chattts-local", backend_options=options)
    assert result.report.exit_code == 0
    first, second = calls
    assert first.text == "你好世界。我们走吧。" and first.breaks == ((2, 0.2), (5, 0.25))
    assert second.text == "再见。" and first.pause_after_s == pytest.approx(1.0)
    assert ct.with_breaks(first.text, first.breaks, "zh")[0] == \
        "你好[uv_break]世界。[uv_break]我们走吧。"
    # the 1 s break is exact silence between the two chunks' audio
    samples = result.samples.astype(np.int32)
    budget1 = budget_s("你好世界。我们走吧。", "zh")
    gap = samples[int((budget1 + 0.05) * 16000):int((budget1 + 0.95) * 16000)]
    assert np.all(gap == 0)


def test_breaks_change_the_cache_key_only_when_there_are_some():
    from voxline.cache import chunk_key

    base = dict(text="你好世界。", language="zh", backend="b", backend_version="1", voice=None,
                options={}, prosody=(1.0, 1.0, 0.0), controls=frozenset(), normalizer="n",
                sample_rate_hz=16000)
    assert chunk_key(**base) == chunk_key(**base, breaks=())
    assert chunk_key(**base) != chunk_key(**base, breaks=((2, 0.2),))


def test_a_chunk_with_nothing_chattts_speaks_fails_alone_and_falls_back(model_dir,
                                                                         voxline_run):
    options = {"chattts-local": {"model_dir": str(model_dir), "check_hashes": False}}
    result = voxline_run("第一句话。\n\nΩΩΩ\n\n第三句话。", backend="chattts-local",
                         fallback="espeak", lang="zh", batch_size=3, workers=1,
                         backend_options=options)
    assert result.report.exit_code == 0, result.report.documents[0].error
    assert result.report.documents[0].backends == {"chattts-local": 2, "espeak": 1}
