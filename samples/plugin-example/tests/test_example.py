"""The example plugin's own tests, written as any plugin author would: voxline's pytest
plugin provides the fixtures (voxline_pm, voxline_run) without an import."""

from __future__ import annotations

import sys

import pytest
from voxline.testing.plugin import assert_audio

import voxline_example.cantonese as cantonese
import voxline_example.command_backend as command_backend


@pytest.fixture
def with_example(voxline_pm):
    voxline_pm.register(cantonese, name="cantonese")
    voxline_pm.register(command_backend, name="command-tts")
    return voxline_pm


@pytest.mark.parametrize("written, spoken", [
    ("佢買咗2個蘋果", "佢買咗兩個蘋果"),
    ("今日升咗12.5%", "今日升咗百分之十二點五"),
    ("2024年", "二零二四年"),
    ("用咗$20", "用咗二十蚊"),
    ("HK$1,005", "港幣一千零五蚊"),
    ("第10站", "第十站"),
    ("120人", "一百二十人"),
])
def test_cantonese_numbers(written, spoken):
    assert cantonese.CantoneseNormalizer().normalize(written, "yue") == spoken


def test_command_backend_speaks_through_piper_cli(with_example, voxline_run):
    result = voxline_run("The command backend runs Piper's own program.", backend="command")
    assert_audio(result, min_s=1.5, max_s=6.0)
    assert result.backends == {"command": result.report.documents[0].chunks}


def test_any_program_that_writes_a_wav(with_example, voxline_run, tmp_path):
    program = tmp_path / "beep.py"
    program.write_text(
        "import sys, wave, math, struct\n"
        "text = sys.stdin.read()\n"
        "with wave.open(sys.argv[1], 'wb') as w:\n"
        "    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)\n"
        "    n = 80 * len(text)\n"
        "    w.writeframes(b''.join(struct.pack('<h', int(8000 * math.sin(i / 3)))"
        " for i in range(n)))\n")
    result = voxline_run("Twelve chars", backend="command",
                         backend_options={"command": {"argv": [sys.executable, str(program),
                                                               "{output}"]}})
    assert_audio(result, min_s=0.11, max_s=0.13)  # 80 frames a character at 8 kHz


def test_a_failing_program_is_a_clear_backend_error(with_example, voxline_run):
    result = voxline_run("Anything.", backend="command", fallback="",
                         backend_options={"command": {"argv": [
                             sys.executable, "-c", "import sys; sys.exit('no voice here')"]}})
    error = result.report.documents[0].error
    assert result.report.exit_code == 4 and "exited with 1: no voice here" in error


def test_a_missing_program_says_so(with_example, voxline_run):
    result = voxline_run("Anything.", backend="command", fallback="",
                         backend_options={"command": {"argv": ["no-such-tts", "{output}"]}})
    assert "'no-such-tts' not found" in result.report.documents[0].error
