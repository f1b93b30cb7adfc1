"""ChatTTS v1/v2 and the router, OpenAI speech and the resilience rules, against real HTTP
servers on 127.0.0.1 (tests/servers.py) that answer with real speech and misbehave on
request. Every run goes through the real CLI."""

from __future__ import annotations

import io
import json
import re
import socket
import time
from collections import Counter
from pathlib import Path

import numpy as np

from conftest import run_cli, wav_info
from voxline.testing.servers import ChatTTSSim, HtmlSim, OpenAISim

ZH_DIGITS = "零一二三四五六七八九"


def hanzi(n: int) -> str:
    """1..999 in hanzi, as the zh normalizer would read it (so texts pass through unchanged)."""
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = ""
    if hundreds:
        out += ZH_DIGITS[hundreds] + "百"
    if tens:
        out += ("" if tens == 1 and not hundreds else ZH_DIGITS[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    if ones:
        out += ZH_DIGITS[ones]
    return out


def sentences(count: int) -> str:
    return "".join(f"这是第{hanzi(i)}句测试" + "。" for i in range(1, count + 1))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, v1_url: str | None, v2_url: str | None, **extra: str) -> Path:
    lines = ["[synth]", "retry_backoff = 0.01", "retry_backoff_max = 0.05"]
    lines += [f"{k} = {v}" for k, v in extra.pop("synth", {}).items()]
    for name, url in (("chattts-v1", v1_url), ("chattts-v2", v2_url)):
        lines += [f"[backends.{name}]", "budget_chars = 15", "read_timeout = 1.5"]
        if url:
            lines.append(f'url = "{url}"')
    lines += ["[backends.chattts]", "check_interval = 0.25"]
    for table, body in extra.items():
        lines += [f"[{table}]", body]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prepared_chunks(source: Path, config: Path, backend: str):
    """The chunks voxline makes of `source` (the real prepare stage, same settings)."""
    from voxline.normalize import NormalizerSet
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.prepare import prepare
    from voxline.settings import load_settings
    from voxline.textio import read_document

    settings = load_settings(str(config), {"backend": backend}, env={})
    registry = build_registry(get_plugin_manager(load_env="")).configure(settings.backends)
    return prepare(read_document(source), settings, registry,
                   NormalizerSet(registry.normalizers)).chunks


def read_pcm(path: Path) -> np.ndarray:
    from voxline.audio import read_wav

    return read_wav(path).samples


def assemble(chunks, servers, rate: int = 16000) -> np.ndarray:
    """What the output must be: each chunk's accepted answer (from whichever server gave it)
    resampled to `rate`, in chunk order, with the chunk pauses between."""
    from voxline.audio import read_wav, resample, silence

    parts = []
    for i, chunk in enumerate(chunks):
        body = next((s.served[chunk.text] for s in servers if chunk.text in s.served), None)
        assert body is not None, f"chunk {i + 1} ({chunk.text}) was never served"
        parts.append(resample(read_wav(io.BytesIO(body)), rate).samples)
        if i < len(chunks) - 1:
            parts.append(silence(chunk.pause_after_s, rate))
    return np.concatenate(parts)


# what a server did -> the reason voxline must count for it
REASONS = {"slow": "timeout", "500": "http 500", "503": "http 503", "400": "http 400",
           "drop": "connection dropped", "reset": "connection dropped", "short": "too short"}


def test_v2_failing_30_percent_every_way_job_completes_in_order(tmp_path):
    text = tmp_path / "book.txt"
    text.write_text(sentences(200), encoding="utf-8")
    with ChatTTSSim(16000, ssml=True) as v1, \
            ChatTTSSim(48000, ssml=False, fault_rate=0.3, slow_s=3.0, seed=7) as v2:
        config = write_config(tmp_path / "voxline.toml", v1.url, v2.url,
                              synth={"breaker_failures": 1000})
        out = tmp_path / "book.wav"
        result = run_cli("synth", str(text), "-o", str(out), "--backend", "chattts",
                         "--workers", "8", "--config", str(config), "--json")
        assert result.returncode == 0, result.stderr.decode()
        report = json.loads(result.stdout)
        chunks = prepared_chunks(text, config, "chattts")
        assert len(chunks) == 200

        v1_log, v2_log = v1.speech_entries(), v2.speech_entries()
        seen = Counter(e.outcome for e in v2_log)
        assert set(seen) == {"ok", *REASONS}, seen  # every fault really happened
        assert all(e.outcome == "ok" for e in v1_log)
        b1, b2 = report["backends"]["chattts-v1"], report["backends"]["chattts-v2"]
        assert b2["requests"] == len(v2_log) and b1["requests"] == len(v1_log)
        assert b2["ok"] == b2["chunks"] == seen["ok"]
        assert b1["ok"] == b1["chunks"] == len(v1_log)
        assert b1["chunks"] + b2["chunks"] == 200
        expected_failures = Counter()
        for outcome, n in seen.items():
            if outcome != "ok":
                expected_failures[REASONS[outcome]] += n
        assert Counter(b2["failures"]) == expected_failures

        v2_texts = Counter(e.body["text"] for e in v2_log)
        assert report["retries"] == b2["retries"] == len(v2_log) - len(v2_texts)
        fell_back = {e.body["text"] for e in v1_log} & set(v2_texts)
        assert report["fallbacks"] == len(fell_back) > 0
        last_outcome = {e.body["text"]: e.outcome for e in v2_log}
        assert Counter({(f["from"], f["to"], f["reason"]): f["chunks"]
                        for f in report["fallback_reasons"]}) == Counter(
            ("chattts-v2", "chattts-v1", REASONS[last_outcome[t]]) for t in fell_back)
        assert not any("<" in t for t in v2_texts)  # plain text only, never SSML

        rate, channels, width, _, _ = wav_info(out)
        assert (rate, channels, width) == (16000, 1, 2)
        got, want = read_pcm(out), assemble(chunks, [v1, v2])
        assert got.shape == want.shape
        assert np.abs(got.astype(np.int32) - want.astype(np.int32)).max() <= 1


def test_router_follows_v2_health_without_probing_more_than_the_interval(tmp_path):
    """v2 starts with its GPU at 95 % (so v1 serves), recovers (v2 serves), then fills up
    again (v1 serves), each change triggered by how much work the servers have done."""
    text = tmp_path / "news.txt"
    text.write_text(sentences(90), encoding="utf-8")
    flips: dict[str, float] = {}

    def on_v1(sim, n):
        if n >= 15 and "recover" not in flips:
            v2.gpu, flips["recover"] = 0.3, time.monotonic()

    def on_v2(sim, n):
        if n >= 20 and "fill" not in flips:
            v2.gpu, flips["fill"] = 0.95, time.monotonic()

    with ChatTTSSim(16000, ssml=True, delay_s=0.04, on_request=on_v1) as v1, \
            ChatTTSSim(48000, ssml=False, gpu=0.95, delay_s=0.04, on_request=on_v2) as v2:
        config = write_config(tmp_path / "voxline.toml", v1.url, v2.url)
        started = time.monotonic()
        result = run_cli("synth", str(text), "-o", str(tmp_path / "news.wav"), "--backend",
                         "chattts", "--workers", "2", "--config", str(config), "--json")
        wall = time.monotonic() - started
        assert result.returncode == 0, result.stderr.decode()
        report = json.loads(result.stdout)
        chunks = prepared_chunks(text, config, "chattts")

        served_by = ["v2" if c.text in v2.served else "v1" for c in chunks]
        runs = [served_by[0]]
        for who in served_by[1:]:
            if who != runs[-1]:
                runs.append(who)
        assert runs[:3] == ["v1", "v2", "v1"], served_by
        assert report["fallbacks"] == 0 and report["retries"] == 0
        assert report["routers"]["chattts"]["switches"] >= 2
        assert report["routers"]["chattts"]["why"].startswith("GPU memory")

        probes = [e.at for e in v2.entries("GET", "/health")]
        gaps = np.diff(probes)
        assert len(probes) >= 3
        assert gaps.min() >= 0.25 - 0.02, gaps  # never more often than check_interval
        assert len(probes) <= wall / 0.25 + 2
        first_v2 = min(e.at for e in v2.speech_entries())
        assert first_v2 - flips["recover"] <= 0.25 + 0.5  # switched within one interval


def test_refused_v2_falls_back_and_its_circuit_opens(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text(sentences(30), encoding="utf-8")
    dead = f"http://127.0.0.1:{closed_port()}"
    with ChatTTSSim(16000, ssml=True) as v1:
        config = write_config(tmp_path / "voxline.toml", v1.url, dead)
        result = run_cli("synth", str(text), "-o", str(tmp_path / "a.wav"), "--backend",
                         "chattts-v2", "--fallback", "chattts-v1", "--workers", "4",
                         "--config", str(config), "--json")
        assert result.returncode == 0, result.stderr.decode()
        report = json.loads(result.stdout)
        b2 = report["backends"]["chattts-v2"]
        assert b2["ok"] == 0 and b2["breaker"] == "open"
        assert b2["failures"]["connection refused"] >= 5  # the threshold that opened it
        assert b2["failures"].get("circuit open", 0) > 0  # later chunks did not even try
        assert report["backends"]["chattts-v1"]["chunks"] == len(v1.speech_entries()) == 30
        reasons = Counter({f["reason"]: f["chunks"] for f in report["fallback_reasons"]})
        assert set(reasons) <= {"connection refused", "circuit open"}
        assert reasons["circuit open"] >= 30 - 4  # all but those in flight when it opened
        assert report["fallbacks"] == 30
        assert wav_info(tmp_path / "a.wav")[3] > 30


def _one_line_failure(result, backend: str, url: str) -> str:
    assert result.returncode == 4, result.stderr.decode()
    out, err = result.stdout.decode(), result.stderr.decode()
    assert "Traceback" not in out + err
    failed = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1
    assert backend in failed[0] and url in failed[0]
    return failed[0]


def test_unreachable_wrong_path_and_html_each_one_line_exit_4(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("你好，世界。今天天气很好。", encoding="utf-8")
    dead = f"http://127.0.0.1:{closed_port()}"
    result = run_cli("synth", str(text), "-o", str(tmp_path / "x.wav"), "--backend",
                     "chattts-v1", env={"CHATTTS_V1_URL": dead})
    line = _one_line_failure(result, "chattts-v1", dead)
    assert "connection refused" in line

    with ChatTTSSim(16000, ssml=True) as sim:
        wrong = sim.url + "/tts/v1"
        result = run_cli("synth", str(text), "-o", str(tmp_path / "y.wav"), "--backend",
                         "chattts-v1", env={"CHATTTS_V1_URL": wrong})
        line = _one_line_failure(result, "chattts-v1", wrong + "/api/tts")
        assert "404" in line and "path" in line
        assert len(sim.entries()) == 1  # a 404 is not retried

    with HtmlSim() as html:
        result = run_cli("synth", str(text), "-o", str(tmp_path / "z.wav"), "--backend",
                         "chattts-v2", env={"CHATTTS_V2_URL": html.url})
        line = _one_line_failure(result, "chattts-v2", html.url)
        assert "HTML page" in line
    assert not list(tmp_path.glob("*.wav"))


def test_v2_never_gets_ssml_v1_gets_prosody_it_can_use(tmp_path):
    ssml = tmp_path / "s.ssml"
    ssml.write_text('<speak><prosody pitch="+20%" rate="120%">你好世界，这是一个测试。'
                    '</prosody>今天天气很好。</speak>', encoding="utf-8")
    with ChatTTSSim(16000, ssml=True) as v1, ChatTTSSim(48000, ssml=False) as v2:
        env = {"CHATTTS_V1_URL": v1.url, "CHATTTS_V2_URL": v2.url}
        for backend in ("chattts-v1", "chattts-v2", "chattts"):
            result = run_cli("synth", str(ssml), "-o", str(tmp_path / f"{backend}.wav"),
                             "--backend", backend, env=env)
            assert result.returncode == 0, result.stderr.decode()
        sent_v1 = [e.body for e in v1.speech_entries()]
        sent_v2 = [e.body for e in v2.speech_entries()]
    assert any(b["text"].startswith('<speak><prosody pitch="+20%">') and b.get("speed") == 1.2
               for b in sent_v1)
    assert sent_v2 and all("<" not in b["text"] for b in sent_v2)
    assert any(b.get("speed") == 1.2 for b in sent_v2)
    assert all(e.outcome != "400 ssml" for e in v2.log)


def test_request_log_is_one_line_per_request_without_bodies(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("你好，世界。今天天气很好。", encoding="utf-8")
    with ChatTTSSim(16000, ssml=True) as v1:
        result = run_cli("-v", "synth", str(text), "-o", str(tmp_path / "t.wav"), "--backend",
                         "chattts-v1", "-q", env={"CHATTTS_V1_URL": v1.url})
        assert result.returncode == 0
        requests = len(v1.speech_entries())
    err = result.stderr.decode(errors="replace")
    lines = [line for line in err.splitlines() if "voxline.http" in line]
    assert len(lines) == requests
    for line in lines:
        assert re.search(r"chattts-v1 POST http://127\.0\.0\.1:\d+/api/tts -> 200, \d+ bytes,"
                         r" \d+\.\d+s$", line), line
    assert "RIFF" not in err and "你好" not in err


def test_openai_speech_wav_and_mp3_with_key(tmp_path):
    text = tmp_path / "en.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. It was not amused.",
                    encoding="utf-8")
    with OpenAISim(api_key="sk-test") as server:
        env = {"OPENAI_BASE_URL": server.url + "/v1", "OPENAI_API_KEY": "sk-test"}
        result = run_cli("synth", str(text), "-o", str(tmp_path / "a.wav"), "--backend",
                         "openai", "--voice", "nova", env=env)
        assert result.returncode == 0, result.stderr.decode()
        config = tmp_path / "voxline.toml"
        config.write_text('[backends.openai]\nresponse_format = "mp3"\nmodel = "kokoro"\n',
                          encoding="utf-8")
        result = run_cli("synth", str(text), "-o", str(tmp_path / "b.wav"), "--backend",
                         "openai", "--config", str(config), env=env)
        assert result.returncode == 0, result.stderr.decode()
        bodies = [e.body for e in server.entries("POST")]
        wrong_key = run_cli("synth", str(text), "-o", str(tmp_path / "c.wav"), "--backend",
                            "openai", env={**env, "OPENAI_API_KEY": "nope"})
    assert bodies[0]["voice"] == "nova" and bodies[0]["response_format"] == "wav"
    assert bodies[-1]["response_format"] == "mp3" and bodies[-1]["model"] == "kokoro"
    assert all(set(b) == {"model", "input", "voice", "response_format", "speed"}
               for b in bodies)
    for name in ("a.wav", "b.wav"):
        rate, _, _, duration, rms = wav_info(tmp_path / name)
        assert rate == 16000 and 2.0 < duration < 8.0 and rms > 300
    assert wrong_key.returncode == 4
    assert "401" in wrong_key.stdout.decode() and "API key" in wrong_key.stdout.decode()


def test_backends_command_shows_router_choice_and_health(tmp_path):
    with ChatTTSSim(16000, ssml=True) as v1, ChatTTSSim(48000, ssml=False, gpu=0.42) as v2:
        env = {"CHATTTS_V1_URL": v1.url, "CHATTTS_V2_URL": v2.url}
        result = run_cli("backends", "--json", env=env)
        assert result.returncode == 0, result.stderr.decode()
        rows = {r["name"]: r for r in json.loads(result.stdout)}
        assert rows["chattts"]["health"]["info"]["choice"] == "chattts-v2"
        assert rows["chattts-v2"]["health"]["info"]["gpu_mem_percent"] == 0.42
        assert rows["chattts-v2"]["url"] == v2.url
        v2.gpu = 0.95
        text = run_cli("backends", env=env).stdout.decode()
    assert "chattts  [ok] using chattts-v1" in text
    assert "GPU memory 95% (at or over 90%)" in text


def test_deployment_options_emotion_concurrency_and_connection_reuse(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(sentences(24), encoding="utf-8")
    with ChatTTSSim(48000, ssml=False, delay_s=0.05) as v2:
        config = tmp_path / "v.toml"
        config.write_text(f'[backends.chattts-v2]\nurl = "{v2.url}"\nbudget_chars = 15\n'
                          'emotion = "cheerful"\nconcurrency = 3\nextra = {{ top_p = 0.7 }}\n'
                          .replace("{{", "{").replace("}}", "}"), encoding="utf-8")
        result = run_cli("synth", str(text), "-o", str(tmp_path / "t.wav"), "--backend",
                         "chattts-v2", "--workers", "12", "--config", str(config))
        assert result.returncode == 0, result.stderr.decode()
        entries = v2.speech_entries()
    assert len(entries) == 24
    assert all(e.body["emotion"] == "cheerful" and e.body["top_p"] == 0.7 for e in entries)
    assert all(e.body["voice"] == "zh_female_shanghai" for e in entries)
    assert v2.max_in_flight == 3  # the deployment's limit, not the 12 workers
    connections = {e.client for e in entries}
    assert len(connections) <= 3  # keep-alive: connections are reused, not one per request
