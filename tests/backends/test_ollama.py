"""The `ollama` backend against a real HTTP server on 127.0.0.1 that streams NDJSON the way
Ollama does, decoding with the real `snac` model code on random weights made here."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli, wav_info
from voxline.testing.servers import OllamaSim

ENGLISH = ("The quick brown fox jumps over the lazy dog. It was not amused at all. "
           "Then it ran into the forest and was never seen again.")

# hubertsiuzdak/snac_24khz's configuration: the model Orpheus-style TTS models decode with
SNAC_24KHZ = {"sampling_rate": 24000, "encoder_dim": 48, "encoder_rates": [2, 4, 8, 8],
              "decoder_dim": 1024, "decoder_rates": [8, 8, 4, 2], "attn_window_size": None,
              "codebook_size": 4096, "codebook_dim": 8, "vq_strides": [4, 2, 1],
              "noise": True, "depthwise": True}


@pytest.fixture(scope="session")
def snac_weights(tmp_path_factory):
    """A SNAC 24 kHz weights folder with random weights (config.json + pytorch_model.bin)."""
    torch = pytest.importorskip("torch")
    snac = pytest.importorskip("snac")
    folder = tmp_path_factory.mktemp("snac_24khz")
    torch.manual_seed(0)
    model = snac.SNAC(**SNAC_24KHZ)
    (folder / "config.json").write_text(json.dumps(SNAC_24KHZ))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def config(tmp_path, url: str, snac_path=None, **options) -> str:
    lines = ["[synth]", "retry_backoff = 0.05", "[backends.ollama]", f'url = "{url}"']
    if snac_path is not None:
        lines.append(f'snac_path = "{snac_path}"')
    lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    path = tmp_path / "voxline.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_tokens_to_codes_follows_the_orpheus_layout():
    from voxline.plugins.ollama_snac import tokens_to_codes

    frame = [5, 6, 7, 8, 9, 10, 11]
    numbers = [3] + [c + 10 + i * 4096 for i, c in enumerate(frame)] * 2 + [2, 4106]
    # a marker first (skipped), two whole frames, a marker, and one token of a third frame
    c0, c1, c2 = tokens_to_codes(numbers)
    assert c0 == [5, 5]
    assert c1 == [6, 9, 6, 9]
    assert c2 == [7, 8, 10, 11, 7, 8, 10, 11]


def test_ollama_speaks_through_snac_respecting_parallelism(tmp_path, snac_weights):
    source = tmp_path / "story.txt"
    source.write_text(ENGLISH, encoding="utf-8")
    with OllamaSim(parallel=2, delay_s=0.05) as server:
        cfg = config(tmp_path, server.url, snac_weights, parallel=2, budget_chars=60)
        result = run_cli("synth", str(source), "-o", str(tmp_path / "story.wav"),
                         "--backend", "ollama", "--workers", "4", "--config", cfg, "--json")
        assert result.returncode == 0, result.stderr.decode()
        calls = server.entries("POST", "/api/generate")
        codes = dict(server.codes)
    report = json.loads(result.stdout)
    assert server.max_in_flight <= 2
    assert all(e.outcome == "tokens" for e in calls)  # never over the server's parallelism
    for entry in calls:
        body = entry.body
        assert body["raw"] is True and body["stream"] is True and body["model"] == "orpheus"
        assert body["prompt"].startswith("<|audio|>tara: ")
        assert body["prompt"].endswith("<|eot_id|>")
        assert body["options"]["num_predict"] > 0
    chunks = report["documents"][0]["chunks"]
    assert len(calls) == chunks >= 3
    # each chunk decodes to 2048 samples per frame at 24 kHz; the file holds them all
    speech_s = sum(len(ids) // 7 * 2048 / 24000 for ids in codes.values())
    rate, channels, _, duration, rms = wav_info(tmp_path / "story.wav")
    assert (rate, channels) == (16000, 1)
    assert duration == pytest.approx(speech_s + 0.2 * (chunks - 1), abs=0.01 * chunks)
    assert rms > 30


def test_ollama_stream_parsing_recovers_every_code(tmp_path, snac_weights):
    from voxline import SynthesisRequest
    from voxline.plugins.ollama_snac import OllamaSpeech, tokens_to_codes

    with OllamaSim() as server:
        backend = OllamaSpeech({"url": server.url, "snac_path": str(snac_weights)})
        request = SynthesisRequest("Hello there, general reader.", "en")
        body = {"model": "orpheus", "prompt": backend.prompt(request), "raw": True,
                "stream": True}
        numbers = backend.collect_tokens(body, server.url)
        sent = server.codes[backend.prompt(request)]
        audio = backend.synthesize(request)
        backend.close()
    c0, c1, c2 = tokens_to_codes(numbers)
    assert c0 == sent[0::7]
    assert len(c1) == 2 * len(c0) and len(c2) == 4 * len(c0)
    assert audio.sample_rate_hz == 24000 and audio.frames == len(c0) * 2048


def test_ollama_busy_server_is_backed_off_and_retried(tmp_path, snac_weights):
    source = tmp_path / "short.txt"
    source.write_text("Good morning, and welcome to the news.", encoding="utf-8")
    with OllamaSim(busy=2) as server:
        result = run_cli("synth", str(source), "-o", str(tmp_path / "short.wav"), "--backend",
                         "ollama", "--config", config(tmp_path, server.url, snac_weights),
                         "--json")
        outcomes = [e.outcome for e in server.entries("POST")]
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert outcomes == ["503", "503", "tokens"]
    assert report["backends"]["ollama"]["failures"] == {"http 503": 2}
    assert report["retries"] == 2


def test_a_model_that_answers_in_words_is_named_not_retried(tmp_path):
    source = tmp_path / "short.txt"
    source.write_text("Good morning, and welcome to the news.", encoding="utf-8")
    weights = tmp_path / "weights"  # never read: the stream is refused first
    weights.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        (weights / name).write_bytes(b"")
    with OllamaSim(mode="words") as server:
        result = run_cli("synth", str(source), "-o", str(tmp_path / "short.wav"), "--backend",
                         "ollama", "--config", config(tmp_path, server.url, weights))
        requests = len(server.entries("POST"))
    assert result.returncode == 4
    assert "answers in words, not audio tokens" in result.stdout.decode()
    assert requests == 1
    assert not (tmp_path / "short.wav").exists()


def test_missing_decoder_weights_and_unknown_model_are_clear(tmp_path):
    source = tmp_path / "short.txt"
    source.write_text("Good morning.", encoding="utf-8")
    with OllamaSim() as server:
        result = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend",
                         "ollama", "--config", config(tmp_path, server.url),
                         env={"VOXLINE_SNAC_PATH": ""})
        assert result.returncode == 4
        out = result.stdout.decode()
        assert "SNAC" in out and "snac_path" in out and "VOXLINE_SNAC_PATH" in out
        empty = tmp_path / "empty"
        empty.mkdir()
        result = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend",
                         "ollama", "--config", config(tmp_path, server.url, empty))
        assert result.returncode == 4
        assert "lacks config.json, pytorch_model.bin" in result.stdout.decode()
        (empty / "config.json").write_text("{}")
        (empty / "pytorch_model.bin").write_bytes(b"")
        result = run_cli("synth", str(source), "-o", str(tmp_path / "a.wav"), "--backend",
                         "ollama", "--config", config(tmp_path, server.url, empty,
                                                      model="llama3"))
        assert result.returncode == 4
        line = [l for l in result.stdout.decode().splitlines() if l.startswith("failed:")][0]
        assert "model 'llama3' not found" in line and server.url in line
