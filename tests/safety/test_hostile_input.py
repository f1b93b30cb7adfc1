"""Hostile and broken input, through the real CLI: each case gets a clear message and a
documented exit code, never a traceback, and never costs the other inputs or finished work."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import invoke_cli, wav_info
from voxline.errors import EXIT_INPUT, EXIT_OUTPUT
from voxline.normalize import NormalizerSet
from voxline.pluginmanager import build_registry, get_plugin_manager
from voxline.prepare import prepare_input
from voxline.settings import load_settings
from voxline.textio import TextInput

GOOD = "The council met on Tuesday. It approved the budget.\n"


def synth(*args, env=None):
    proc = invoke_cli("synth", *args, "--json", "-q", env=env)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else None


def by_name(report):
    return {Path(d["source"]).name: d for d in report["documents"]}


def test_invalid_utf8_in_the_middle_of_a_file(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text(GOOD)
    lines = [f"Line {i} of a long article about the budget." for i in range(200)]
    data = "\n".join(lines).encode()
    at = data.index(b"Line 150")
    (src / "bad.txt").write_bytes(data[:at] + b"\xff\xfe broken " + data[at:])
    proc, report = synth(str(src), "-o", str(tmp_path / "out"), "--backend", "espeak")
    assert proc.returncode == EXIT_INPUT
    error = by_name(report)["bad.txt"]["error"]
    assert f"not valid UTF-8 at byte {at} (line 151)" in error
    assert not (tmp_path / "out" / "bad.wav").exists()
    assert wav_info(tmp_path / "out" / "good.wav")[3] > 1


def test_invalid_utf8_deep_in_a_streamed_file_names_the_byte(tmp_path):
    # past the first 1 MiB read: found while the file streams, not up front
    para = "The committee will publish its findings next week, officials said.\n\n"
    data = (para * 30000).encode()
    at = data.index(b"officials", 1_500_000)
    big = tmp_path / "big.txt"
    big.write_bytes(data[:at] + b"\xc3\x28" + data[at:])
    proc, report = synth(str(big), "-o", str(tmp_path / "out"), "--dry-run")
    assert proc.returncode == EXIT_INPUT
    line = data.count(b"\n", 0, at) + 1
    assert f"not valid UTF-8 at byte {at} (line {line})" in report["documents"][0]["error"]


def test_nul_bytes(tmp_path):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    stray = tmp_path / "stray.txt"
    stray.write_bytes(GOOD.encode() * 400 + b"Tail\x00 end.\x00\n")  # NULs past the start
    proc, report = synth(str(binary), str(stray), "-o", str(tmp_path / "out"),
                         "--backend", "espeak")
    assert proc.returncode == EXIT_INPUT
    docs = by_name(report)
    assert "binary file (contains NUL bytes)" in docs["binary.txt"]["error"]
    assert docs["stray.txt"]["error"] is None
    assert any("removed 2 control characters" in w for w in docs["stray.txt"]["warnings"])


def test_a_20000_character_line_without_punctuation(tmp_path, tone_env):
    config = tmp_path / "v.toml"
    config.write_text("[backends.tone]\nseconds_per_char = 0.005\n")
    for name, text in (("en.txt", " ".join(["budget"] * 2858)[:20000]),
                       ("zh.txt", "预算" * 10000),
                       ("nospace.txt", "x" * 20000)):
        source = tmp_path / name
        source.write_text(text)
        out = tmp_path / (name + ".wav")
        plan = json.loads(invoke_cli("synth", str(source), "-o", str(out), "--backend", "tone",
                                     "--dry-run", "--json", env=tone_env).stdout)
        assert plan["chunks"] >= 20000 // 40  # within the backend's 40-character budget
        proc, report = synth(str(source), "-o", str(out), "--backend", "tone", "--config",
                             str(config), env=tone_env)
        assert proc.returncode == 0, proc.stderr.decode()
        assert report["documents"][0]["chunks"] == plan["chunks"]
        # every character spoken: tone gives 5 ms per character (spaces at cuts dropped)
        spoken = wav_info(out)[3] - 0.2 * (plan["chunks"] - 1)
        assert 0.005 * len(text.replace(" ", "")) - 0.01 <= spoken <= 0.005 * len(text) + 0.01


@pytest.mark.parametrize("ssml, message", [
    ('<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY a "aaaaaaaaaa">'
     '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><speak>&b;&b;&b;</speak>', "DOCTYPE"),
    ('<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     '<speak>&x;</speak>', "DOCTYPE"),
    ("<speak>" + "<p>" * 1000 + "deep" + "</p>" * 1000 + "</speak>", "nested deeper than 64"),
    ("<speak>Unclosed <prosody rate='slow'>text</speak>", "invalid SSML at line 1"),
])
def test_refused_ssml(tmp_path, ssml, message):
    source = tmp_path / "x.ssml"
    source.write_text(ssml)
    proc, report = synth(str(source), "-o", str(tmp_path / "out"), "--backend", "espeak")
    assert proc.returncode == EXIT_INPUT
    assert message in report["documents"][0]["error"]
    assert "root:" not in proc.stdout.decode()  # nothing of /etc/passwd anywhere
    assert not (tmp_path / "out" / "x.wav").exists()


def test_unknown_tags_emoji_and_control_characters_are_spoken_around(tmp_path):
    ssml = tmp_path / "a.ssml"
    ssml.write_text("<speak><blink>Budget</blink> news. <mark name='x'/>Roads too.</speak>")
    plain = tmp_path / "b.txt"
    plain.write_text("Good news 😀🎉 for the city\x1b[31m today.\u200b Parks\x07 reopen.\n")
    proc, report = synth(str(ssml), str(plain), "-o", str(tmp_path / "out"),
                         "--backend", "espeak")
    assert proc.returncode == 0, proc.stderr.decode()
    docs = by_name(report)
    assert any("blink" in w for w in docs["a.ssml"]["warnings"])
    assert any("control characters" in w for w in docs["b.txt"]["warnings"])
    for name in ("a.wav", "b.wav"):
        assert wav_info(tmp_path / "out" / name)[3] > 1.0


def test_generated_output_names_stay_inside_the_output_folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    names = ["..txt", "a\\..\\b.txt", "-rf.txt", "what?.txt", "sub/.hidden.txt"]
    for name in names:
        (src / name).write_text(GOOD)
    out = tmp_path / "out"
    proc, report = synth(str(src), "-r", "-o", str(out), "--backend", "espeak")
    assert proc.returncode == 0, proc.stderr.decode()
    written = sorted(str(Path(d["output"]).relative_to(out)) for d in report["documents"])
    assert written == sorted(["_..wav", "a_.._b.wav", "_-rf.wav", "what_.wav",
                              "sub/_.hidden.wav"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # nothing beside


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_output_folder_that_is_not_writable(tmp_path):
    (tmp_path / "a.txt").write_text(GOOD)
    afile = tmp_path / "a.txt"
    proc = invoke_cli("synth", str(afile), "-o", str(afile / "out"), "--backend", "espeak")
    assert proc.returncode == EXIT_OUTPUT
    assert b"cannot write into" in proc.stderr and b"Not a directory" in proc.stderr
    readonly = tmp_path / "ro"
    if _mount_tmpfs(readonly, "ro,size=1m"):
        reason = b"Read-only file system"
    elif os.geteuid() != 0:
        readonly.mkdir(exist_ok=True)
        readonly.chmod(0o555)
        reason = b"Permission denied"
    else:
        pytest.skip("root without mount: no folder can be made unwritable here")
    try:
        proc = invoke_cli("synth", str(afile), "-o", str(readonly / "out"), "--backend", "espeak")
        assert proc.returncode == EXIT_OUTPUT and reason in proc.stderr
        assert b"Traceback" not in proc.stderr
    finally:
        subprocess.run(["umount", str(readonly)], capture_output=True)


def _files_stop_at_256k():
    """Without a tmpfs: every file the process writes stops at 256 KB (EFBIG)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_full_disk_fails_clearly_and_keeps_finished_chunks(tmp_path, tone_env):
    source = tmp_path / "book.txt"
    source.write_text("\n\n".join(f"Paragraph {i} of the report." for i in range(40)))
    out = tmp_path / "disk"
    limit = None
    if not _mount_tmpfs(out, "size=256k"):
        out.mkdir(exist_ok=True)
        limit = _files_stop_at_256k
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o",
             str(out / "book.wav"), "--backend", "tone", "--json", "-q"],
            capture_output=True, env={**os.environ, **tone_env}, preexec_fn=limit)
        assert proc.returncode == EXIT_OUTPUT, proc.stderr.decode()
        failed = json.loads(proc.stdout)
        error = failed["documents"][0]["error"]
        assert "No space left on device" in error or "File too large" in error
        assert "finished chunks are kept in the cache" in error and "0x" not in error
        assert list(out.iterdir()) == []  # no partial file, no temporary left
    finally:
        subprocess.run(["umount", str(out)], capture_output=True)
    # with room again, the same command finishes from the cache
    proc, report = synth(str(source), "-o", str(tmp_path / "book.wav"), "--backend", "tone",
                         env=tone_env)
    assert proc.returncode == 0 and report["cache"]["hits"] == failed["cache"]["stored"] > 0
    assert report["cache"]["hits"] + report["cache"]["stored"] == 40


def test_input_that_vanishes_mid_job(tmp_path, tone_env):
    config = tmp_path / "v.toml"
    config.write_text("[backends.tone]\ndelay_s = 0.05\n")
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("\n\n".join(f"Part {i} of the first file." for i in range(30)))
    second.write_text(GOOD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxline.cli.main", "synth", str(first), str(second), "-o",
         str(tmp_path / "out"), "--backend", "tone", "--workers", "1", "--config",
         str(config), "--json", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **tone_env})
    # the first file is being synthesized (its partial output exists); the second is not
    # yet read. Waited for rather than slept on: a loaded machine starts Python slowly
    deadline = time.monotonic() + 60
    while not list((tmp_path / "out").glob(".a.wav.*.part")):
        assert proc.poll() is None and time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    second.unlink()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INPUT, stderr.decode()
    docs = by_name(json.loads(stdout))
    assert docs["a.txt"]["error"] is None and (tmp_path / "out" / "a.wav").exists()
    assert "b.txt: file vanished before it could be read" in docs["b.txt"]["error"]


def test_streamed_input_gives_the_chunks_of_the_whole(tmp_path):
    """A large input is prepared block by block; the chunks (text, order, pauses, spans)
    are those of preparing it whole."""
    paragraphs = [f"Paragraph {i}. The council met on Tuesday, and it voted.\nA new line "
                  f"follows here {i}." for i in range(300)]
    text = "\n\n".join(paragraphs) + "\n"
    settings = load_settings(overrides={"backend": "espeak"}, env={})
    registry = build_registry(get_plugin_manager(load_env=""))
    normalizers = NormalizerSet(registry.normalizers)

    def chunks(block_chars, first_block_chars=None):
        reader = TextInput(io.BytesIO(text.encode()), "t.txt", "t")
        prepared = prepare_input(reader, settings, registry, normalizers,
                                 block_chars=block_chars, first_block_chars=first_block_chars)
        return prepared.total, list(prepared.chunks)

    whole_total, whole = chunks(10**9)
    assert whole_total == len(whole)
    # small blocks, and a small first block before large ones (how a job reads: its first
    # chunks are ready after only that much text is prepared)
    for block_chars, first in ((1500, None), (10**9, 700)):
        streamed_total, streamed = chunks(block_chars, first)
        assert streamed_total is None
        assert [(c.index, c.text, c.pause_after_s, c.span) for c in streamed] == \
            [(c.index, c.text, c.pause_after_s, c.span) for c in whole]
    last = streamed[-1]
    assert text[last.span[0]:last.span[1]].split() == last.source_text.split()


@pytest.mark.slow
def test_dry_run_on_a_large_file_streams_and_writes_nothing(tmp_path):
    para = "The committee will publish its findings next week, officials said.\n\n"
    big = tmp_path / "big.txt"
    big.write_text(para * 40000)  # 2.8 MB: read and segmented in blocks
    out = tmp_path / "out"
    proc = invoke_cli("synth", str(big), "-o", str(out), "--backend", "espeak", "--dry-run",
                      "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    plan = json.loads(proc.stdout)
    assert plan["chunks"] == 40000 and plan["cached"] == 0
    assert 40000 * 3 < plan["audio_s"] < 40000 * 8  # ~4 s a sentence
    assert not out.exists()
