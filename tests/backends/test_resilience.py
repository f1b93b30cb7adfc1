"""Retry, backoff, circuit breaker, quality guard and fallback rules, on the dispatcher itself
and through the CLI with a real local fallback."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from conftest import run_cli, wav_info
from voxline import Audio, Backend, BackendError, Capabilities, Chunk, Prosody
from voxline.resilience import CircuitBreaker, Dispatcher, QualityGuard, RetryPolicy
from voxline.settings import DEFAULT_MAX_CHARS_PER_S


def chunk(text: str = "this is a sentence of some length", backend: str = "a",
          language: str = "en") -> Chunk:
    return Chunk(0, text, language, backend, None, Prosody(), 0.0, (0, len(text)), text)


class Scripted(Backend):
    """Answers from a script: an exception to raise, or seconds of audio to return."""

    name = "scripted"
    capabilities = Capabilities(sample_rate_hz=8000, languages=("en",))

    def __init__(self, script, deterministic=False):
        super().__init__()
        self.script = list(script)
        self.calls = 0
        self.capabilities = Capabilities(sample_rate_hz=8000, languages=("en",),
                                         deterministic=deterministic)

    def synthesize(self, request):
        self.calls += 1
        step = self.script.pop(0) if self.script else 2.0
        if isinstance(step, Exception):
            raise step
        return Audio(np.full(int(8000 * step), 1000, dtype=np.int16), 8000)


def dispatcher(backends: dict, fallback=(), retries=2, failures=5, sleeps=None):
    return Dispatcher(
        backends.__getitem__, lambda name: None, RetryPolicy(retries, 0.1, 1.0),
        QualityGuard(DEFAULT_MAX_CHARS_PER_S), fallback=tuple(fallback),
        breaker_failures=failures, breaker_cooldown_s=30,
        sleep=(sleeps.append if sleeps is not None else lambda s: None))


def transient(reason="timeout"):
    return BackendError("it timed out", reason=reason, retryable=True)


def test_transient_errors_are_retried_with_growing_jittered_backoff():
    sleeps: list[float] = []
    a = Scripted([transient(), transient("http 503"), 2.0])
    d = dispatcher({"a": a}, sleeps=sleeps)
    served = d.synthesize(chunk())
    assert served.backend == "a" and served.attempts == 3
    assert a.calls == 3
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2
    stats = d.stats.to_dict()["backends"]["a"]
    assert stats == {"chunks": 1, "cached": 0, "requests": 3, "ok": 1, "retries": 2,
                     "failures": {"timeout": 1, "http 503": 1}, "breaker": "closed"}


def test_retry_after_from_the_server_is_honoured_up_to_the_cap():
    policy = RetryPolicy(3, 0.1, 2.0)
    assert policy.delay(1, hint_s=1.5) == 1.5
    assert policy.delay(1, hint_s=60) == 2.0
    delays = [policy.delay(6) for _ in range(50)]  # 0.1 * 2**5 is over the 2 s cap
    assert all(1.0 <= d <= 2.0 for d in delays) and len(set(delays)) > 1


def test_permanent_errors_go_straight_to_the_fallback():
    a = Scripted([BackendError("400 Bad Request", reason="http 400")])
    b = Scripted([2.0])
    d = dispatcher({"a": a, "b": b}, fallback=["b"])
    served = d.synthesize(chunk())
    assert served.backend == "b" and a.calls == 1
    assert d.stats.to_dict()["fallback_reasons"] == [
        {"from": "a", "to": "b", "reason": "http 400", "chunks": 1}]


def test_every_backend_failing_names_each_one():
    a = Scripted([BackendError("a is down", reason="http 500")] * 3)
    b = Scripted([BackendError("b is down", reason="dns")])
    d = dispatcher({"a": a, "b": b}, fallback=["b"], retries=0)
    with pytest.raises(BackendError) as error:
        d.synthesize(chunk())
    assert "a: a is down; then b: b is down" in str(error.value)


def test_too_short_audio_is_retried_then_falls_back():
    a = Scripted([0.1, 0.1, 0.1])  # 27 letters in 0.1 s: words were swallowed
    b = Scripted([1.5])
    d = dispatcher({"a": a, "b": b}, fallback=["b"])
    served = d.synthesize(chunk())
    assert served.backend == "b" and a.calls == 3
    assert d.stats.to_dict()["backends"]["a"]["failures"] == {"too short": 3}


def test_deterministic_backends_are_not_asked_twice_and_the_best_audio_is_kept():
    a = Scripted([0.1], deterministic=True)
    b = Scripted([0.3, 0.2, 0.2])
    d = dispatcher({"a": a, "b": b}, fallback=["b"])
    served = d.synthesize(chunk())
    assert a.calls == 1 and b.calls == 3
    assert served.backend == "b" and served.audio.duration_s == pytest.approx(0.3)
    assert "too short" in served.quality_warning and "kept the b audio" in served.quality_warning
    assert d.stats.to_dict()["quality_warnings"][0]["backend"] == "b"


def test_quality_bounds_scale_with_language_and_rate():
    guard = QualityGuard(DEFAULT_MAX_CHARS_PER_S)
    assert guard.minimum_s("你好世界今天天气很好", "zh") == pytest.approx(10 / 14)
    assert guard.minimum_s("hello world again", "en") == pytest.approx(15 / 40)
    assert guard.minimum_s("hello world again", "en", rate=2.0) == pytest.approx(15 / 80)
    assert guard.minimum_s("ok", "en") == 0.0  # too short to judge
    assert QualityGuard(DEFAULT_MAX_CHARS_PER_S, enabled=False).minimum_s("x" * 99, "en") == 0


def test_circuit_breaker_opens_refuses_then_lets_one_trial_through():
    now = [0.0]
    changes: list[str] = []
    breaker = CircuitBreaker(3, 10.0, on_change=changes.append, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.5
    assert breaker.allow()          # the one trial
    assert not breaker.allow()      # nobody else while it runs
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 21.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()
    assert changes == ["open", "half-open", "open", "half-open", "closed"]


def test_open_circuit_skips_the_backend_without_calling_it():
    a = Scripted([BackendError("down", reason="http 500")] * 2)
    b = Scripted([2.0] * 5)
    d = dispatcher({"a": a, "b": b}, fallback=["b"], retries=0, failures=2)
    for _ in range(4):
        assert d.synthesize(chunk()).backend == "b"
    assert a.calls == 2
    assert d.stats.to_dict()["backends"]["a"]["failures"] == {"http 500": 2, "circuit open": 2}


def test_a_dead_server_falls_back_to_local_espeak(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = tmp_path / "t.txt"
    source.write_text("你好，世界。今天天气很好，我们去公园散步吧。", encoding="utf-8")
    result = run_cli("synth", str(source), "-o", str(tmp_path / "t.wav"), "--backend",
                     "chattts-v1", "--fallback", "espeak", "--retries", "1", "--json",
                     env={"CHATTTS_V1_URL": f"http://127.0.0.1:{port}"})
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["backends"]["espeak"]["chunks"] == report["documents"][0]["chunks"]
    assert report["documents"][0]["backends"] == {"espeak": report["documents"][0]["chunks"]}
    assert report["fallback_reasons"][0]["reason"] == "connection refused"
    rate, _, _, duration, rms = wav_info(tmp_path / "t.wav")
    assert rate == 16000 and duration > 2 and rms > 300


def test_unknown_fallback_backend_is_a_usage_error(tmp_path):
    source = tmp_path / "t.txt"
    source.write_text("Hello.", encoding="utf-8")
    result = run_cli("synth", str(source), "-o", str(tmp_path / "t.wav"), "--fallback",
                     "espeak,nonesuch")
    assert result.returncode == 4
    assert "unknown backend 'nonesuch'" in result.stderr.decode()


def test_resilience_settings_from_file_env_and_flags(tmp_path):
    from voxline.errors import UsageError
    from voxline.settings import load_settings

    config = tmp_path / "v.toml"
    config.write_text('[synth]\nfallback = ["chattts-v1", "espeak"]\nretries = 4\n'
                      'quality_guard = false\n[quality.max_chars_per_s]\nzh = 9\n')
    settings = load_settings(str(config), env={})
    assert settings.fallback == ("chattts-v1", "espeak") and settings.retries == 4
    assert settings.quality_guard is False and settings.max_chars_per_s["zh"] == 9.0
    settings = load_settings(str(config), {"fallback": "espeak", "quality_guard": True},
                             env={"VOXLINE_RETRIES": "1"})
    assert settings.fallback == ("espeak",) and settings.retries == 1
    assert settings.quality_guard is True
    with pytest.raises(UsageError, match="retries must be between 0 and 20"):
        load_settings(None, {"retries": 99}, env={})
    config.write_text("[synth]\nfallback = 3\n")
    with pytest.raises(UsageError, match="fallback must be a list of names"):
        load_settings(str(config), env={})


def test_event_hooks_see_retries_fallbacks_and_router_choices(tmp_path):
    import voxline
    from voxline.job import InputSpec, Job, Pipeline
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.settings import load_settings
    from voxline.testing.servers import ChatTTSSim

    class Listener:
        def __init__(self):
            self.attempts, self.states = [], []

        @voxline.hookimpl
        def attempt_failed(self, document, chunk, backend, reason, action):
            self.attempts.append((document.name, chunk.index, backend, reason, action))

        @voxline.hookimpl
        def backend_state(self, backend, state):
            self.states.append((backend, state))

    source = tmp_path / "t.txt"
    source.write_text("你好，世界。今天天气很好。我们去公园散步吧。", encoding="utf-8")
    with ChatTTSSim(16000, ssml=True) as v1, \
            ChatTTSSim(48000, ssml=False, fault_rate=1.0, faults=("500",)) as v2:
        config = tmp_path / "v.toml"
        config.write_text(f'[synth]\nretry_backoff = 0.01\nretries = 1\n'
                          f'[backends.chattts-v1]\nurl = "{v1.url}"\n'
                          f'[backends.chattts-v2]\nurl = "{v2.url}"\n')
        settings = load_settings(str(config), {"backend": "chattts", "workers": 1}, env={})
        pm = get_plugin_manager(load_env="")
        listener = Listener()
        pm.register(listener)
        report = Pipeline(pm, build_registry(pm), settings).run(
            Job([InputSpec(source, tmp_path / "t.wav")], settings))
    assert report.exit_code == 0
    # the first chunk: v2 (healthy at first) fails, is retried, fails, falls back to v1
    assert listener.attempts == [("t", 0, "chattts-v2", "http 500", "retry"),
                                 ("t", 0, "chattts-v2", "http 500", "fallback")]
    choices = [s["choice"] for b, s in listener.states if b == "chattts" and "choice" in s]
    assert choices == ["chattts-v2", "chattts-v1"]
    first = next(s for b, s in listener.states if b == "chattts")
    assert first["health"]["info"]["gpu_mem_percent"] == 0.3
    assert "failed during the job (http 500)" in listener.states[-1][1]["why"]


def test_an_unconfigured_fallback_is_only_touched_when_needed(tmp_path):
    source = tmp_path / "t.txt"
    source.write_text("你好，世界。", encoding="utf-8")
    result = run_cli("synth", str(source), "-o", str(tmp_path / "t.wav"), "--backend",
                     "espeak", "--fallback", "chattts-v1", "--json",
                     env={"CHATTTS_V1_URL": ""})
    assert result.returncode == 0, result.stderr.decode()
    assert set(json.loads(result.stdout)["backends"]) == {"espeak"}
