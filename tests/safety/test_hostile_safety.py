"""Hostile input against voxline's own files and messages, through the real CLI: links
planted where it writes, secrets in what it stores and prints, config files others control,
and names and values that used to give unhelpful messages (issue 19, items 1-3 and 11)."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from conftest import invoke_cli, wav_info
from voxline.errors import EXIT_USAGE

GOOD = "The council met on Tuesday. It approved the budget.\n"


def synth(*args, env=None, cwd=None):
    proc = invoke_cli("synth", *args, "--json", "-q", env=env, cwd=cwd)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else None


def planting_env(tone_env: dict, folder: Path, plants: dict[str, str]) -> dict:
    """An environment whose voxline process, as it starts, plants symlinks at the names
    a process with its pid would have used for its temporary files (the attack: another
    user guesses the pid). `plants` maps a name pattern (`{pid}`, `{tid}` filled in) to the
    link's target."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import os, threading
        for name, target in {plants!r}.items():
            name = name.format(pid=os.getpid(), tid=threading.main_thread().ident)
            try:
                os.symlink(target, name)
            except FileExistsError:
                pass
    """))
    path = os.pathsep.join([str(folder), tone_env["PYTHONPATH"]])
    return {**tone_env, "PYTHONPATH": path}


def test_links_planted_at_temporary_names_are_never_followed(tmp_path, tone_env):
    source = tmp_path / "x.txt"
    source.write_text(GOOD)
    out = tmp_path / "out"
    out.mkdir()
    victims = {name: tmp_path / name for name in ("wav", "srt", "prom", "m4a", "stale")}
    for victim in victims.values():
        victim.write_text("precious\n")
    metrics = tmp_path / "m.prom"
    env = planting_env(tone_env, tmp_path / "site-plant", {
        f"{out}/.x.wav.{{pid}}.part": str(victims["wav"]),
        f"{out}/.x.srt.{{pid}}.part": str(victims["srt"]),
        f"{metrics}.{{pid}}.{{tid}}": str(victims["prom"]),
        f"{out}/.y.m4a.{{pid}}.part": str(victims["m4a"]),
    })
    # a dead process's leftover that is a link: removed as a name, its target untouched
    (out / ".x.wav.999999999.part").symlink_to(victims["stale"])
    proc, report = synth(str(source), "-o", str(out), "--backend", "tone", "--subtitles",
                         "srt", "--metrics-textfile", str(metrics), env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    proc, _ = synth(str(source), "-o", str(out / "y.m4a"), "--backend", "tone", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    for victim in victims.values():
        assert victim.read_text() == "precious\n", victim
    for written in (out / "x.wav", out / "x.srt", metrics, out / "y.m4a"):
        assert not written.is_symlink() and written.stat().st_size > 0, written
    assert wav_info(out / "x.wav")[3] > 1
    assert "tts_req_total" in metrics.read_text()
    assert not (out / ".x.wav.999999999.part").is_symlink()


def test_credentials_are_never_stored_printed_or_logged(tmp_path, tone_env):
    source = tmp_path / "a.txt"
    source.write_text(GOOD)
    state, cache = tmp_path / "new" / "state", tmp_path / "new" / "cache"
    config = tmp_path / "v.toml"
    config.write_text('[backends.openai]\nurl = "http://reader:S3CRET-URL@127.0.0.1:9/"\n'
                      '[backends.chattts-v1]\nextra = { api_key = "sk-S3CRETKEYS3CRETKEY00" }\n')
    env = {**tone_env, "VOXLINE_STATE_DIR": str(state), "VOXLINE_CACHE_DIR": str(cache)}
    secrets = (b"S3CRET-PW", b"S3CRET-URL", b"S3CRETKEY")
    printed = b""
    proc = invoke_cli("-v", "synth", str(source), "-o", str(tmp_path / "out"), "--backend", "tone",
                      "--cache", "redis://:S3CRET-PW@127.0.0.1:1/0", "--config", str(config),
                      "--json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"redis://:***@127.0.0.1:1/0" in proc.stderr + proc.stdout
    printed += proc.stdout + proc.stderr
    proc = invoke_cli("synth", str(source), "-o", str(tmp_path / "out2"), "--backend", "openai",
                      "--config", str(config), "-q", env=env)
    assert proc.returncode == 4 and b"reader:***@127.0.0.1" in proc.stdout + proc.stderr
    printed += proc.stdout + proc.stderr
    jobs = json.loads(invoke_cli("jobs", "--json", env=env).stdout)
    for job in jobs:
        for args in (("jobs", "show", job["id"]), ("jobs", "show", job["id"], "--json")):
            shown = invoke_cli(*args, env=env)
            assert shown.returncode == 0
            printed += shown.stdout + shown.stderr
    for args in (("backends", "--no-check", "--config", str(config)),
                 ("backends", "--no-check", "--json", "--config", str(config))):
        shown = invoke_cli(*args, env=env)
        assert shown.returncode == 0, shown.stderr.decode()
        printed += shown.stdout + shown.stderr
    assert b"***" in printed
    stored = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in printed and secret not in stored, secret
    # the state and cache folders and their databases are the user's alone
    for folder in (state, cache):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for database in (state / "jobs.sqlite3", cache / "index.sqlite3"):
        assert stat.S_IMODE(database.stat().st_mode) == 0o600, database


def test_config_files_read_are_shown_and_unsafe_ones_refused(tmp_path, tone_env):
    (tmp_path / "a.txt").write_text(GOOD)
    local = tmp_path / "voxline.toml"  # routes all English text to someone else's server
    local.write_text('[routes]\nen = "openai"\n[backends.openai]\nurl = "http://127.0.0.1:9"\n')
    local.chmod(0o666)
    args = ("a.txt", "-o", "out", "--backend", "tone")
    proc, _ = synth(*args, env=tone_env, cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    message = proc.stderr.decode()
    assert "voxline.toml can be written by others (mode 0666): refused" in message
    assert "VOXLINE_TRUSTED_CONFIG=" in message
    if os.geteuid() == 0:  # another user's file (only root can make one here)
        local.chmod(0o644)
        os.chown(local, 65534, 65534)
        proc, _ = synth(*args, env=tone_env, cwd=tmp_path)
        assert proc.returncode == EXIT_USAGE
        assert b"belongs to another user (uid 65534)" in proc.stderr
    # trusted explicitly: read, and shown in the summary, --json and -v
    env = {**tone_env, "VOXLINE_TRUSTED_CONFIG": str(local)}
    local.write_text("[synth]\nworkers = 1\n")
    proc, report = synth(*args, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert report["config"] == str(local)
    proc = invoke_cli("-v", "synth", *args, "--force", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"config: {local}" in proc.stdout.decode()
    assert "config file voxline.toml (found in the current folder)" in proc.stderr.decode()


def test_file_names_are_shown_without_their_control_characters(tmp_path):
    retitle = tmp_path / "news\x1b]0;pwned\x07\x1b[2J.txt"
    retitle.write_text(GOOD)
    binary = tmp_path / "clear\x1b[2J\u202eexe.txt"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    proc = invoke_cli("synth", str(retitle), str(binary), "-o", str(tmp_path / "out"),
                      "--backend", "espeak")
    assert proc.returncode == 3
    shown = proc.stdout + proc.stderr
    assert b"\x1b]0;" not in shown and b"\x1b[2J" not in shown and b"\x07" not in shown
    assert "\u202e".encode() not in shown
    assert b"clear\\x1b[2J\\u202eexe.txt: binary file" in shown
    proc = invoke_cli("synth", str(tmp_path / "gone\x1b[2J.txt"), "-o", str(tmp_path / "out"))
    assert proc.returncode == EXIT_USAGE and b"gone\\x1b[2J.txt: no such file" in proc.stderr


def test_inputs_that_used_to_get_unhelpful_messages(tmp_path):
    out = tmp_path / "out"
    broken = tmp_path / "broken.ssml"
    broken.write_text('<speak>Hi <break time="1s">there</speak>')
    bomless = tmp_path / "notepad.txt"  # UTF-16 saved without a byte-order mark
    bomless.write_bytes("The council met on Tuesday.\n".encode("utf-16-le"))
    proc, report = synth(str(broken), str(bomless), "-o", str(out), "--backend", "espeak")
    assert proc.returncode == 3
    docs = {Path(d["source"]).name: d for d in report["documents"]}
    assert docs["broken.ssml"]["error"].startswith(f"{broken}: invalid SSML at line 1")
    assert docs["notepad.txt"]["error"] is None and wav_info(out / "notepad.wav")[3] > 1
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    proc = invoke_cli("synth", str(loop), "-o", str(out))
    assert proc.returncode == EXIT_USAGE and b"a symbolic link loop" in proc.stderr
    (tmp_path / "a.txt").write_text(GOOD)
    proc = invoke_cli("synth", str(tmp_path / "a.txt"), "-o", str(out / "a.xyz"))
    assert proc.returncode == EXIT_USAGE
    assert b"unknown output extension '.xyz'" in proc.stderr
    assert not (out / "a.xyz").exists()


def test_a_script_no_english_voice_reads_goes_to_a_voice_that_does(tmp_path):
    arabic = tmp_path / "ar.txt"
    arabic.write_text("مرحبا بالعالم. هذا اختبار.\n")
    hebrew = tmp_path / "he.txt"
    hebrew.write_text("שלום עולם.\n")
    proc, report = synth(str(arabic), str(hebrew), "-o", str(tmp_path / "out"))
    docs = {Path(d["source"]).name: d for d in report["documents"]}
    assert docs["ar.txt"]["error"] is None and set(docs["ar.txt"]["backends"]) == {"espeak"}
    assert proc.returncode == 4  # nothing installed speaks Hebrew: said, with the file
    assert docs["he.txt"]["error"].startswith(f"{hebrew}: no installed backend speaks "
                                              "language 'he'")


def test_backend_options_and_environment_values_are_checked_by_name(tmp_path):
    (tmp_path / "a.txt").write_text(GOOD)
    args = ("synth", str(tmp_path / "a.txt"), "-o", str(tmp_path / "out"), "--backend",
            "espeak")
    config = tmp_path / "v.toml"
    for table, message in (
            ("rate_wmp = 200", b"[backends.espeak] rate_wmp: unknown option (did you mean "
                               b"rate_wpm?)"),
            ("pitch = 5000", b"[backends.espeak] pitch = 5000: must be between 0 and 100"),
            ('rate_wpm = "fast"', b"[backends.espeak] rate_wpm = 'fast': must be a number")):
        config.write_text(f"[backends.espeak]\n{table}\n")
        for command in (args, ("backends", "--no-check")):
            proc = invoke_cli(*command, "--config", str(config))
            assert proc.returncode == EXIT_USAGE and message in proc.stderr, proc.stderr
    for variable, value, message in (
            ("VOXLINE_WORKERS", "0", b"VOXLINE_WORKERS='0': workers must be at least 1"),
            ("VOXLINE_CACHE_MAX", "lots", b"VOXLINE_CACHE_MAX='lots': cannot read 'lots' as "
                                          b"a size"),
            ("VOXLINE_FORMAT", "wma", b"VOXLINE_FORMAT='wma': unknown format 'wma'")):
        proc = invoke_cli(*args, env={variable: value})
        assert proc.returncode == EXIT_USAGE and message in proc.stderr, proc.stderr


def test_vtt_cues_escape_what_webvtt_reads_as_markup(tmp_path):
    from voxline.subtitles import parse

    source = tmp_path / "a.txt"
    source.write_text("Costs <b>rose</b> & profits fell.\n")
    proc, _ = synth(str(source), "-o", str(tmp_path / "a.wav"), "--backend", "espeak",
                    "--subtitles", "vtt")
    assert proc.returncode == 0, proc.stderr.decode()
    vtt = (tmp_path / "a.vtt").read_text()
    assert "Costs &lt;b&gt;rose&lt;/b&gt; &amp; profits fell." in vtt
    assert [cue.text for cue in parse(vtt)] == ["Costs <b>rose</b> & profits fell."]


def test_a_run_without_spaces_is_found_once_and_not_retried(tmp_path):
    source = tmp_path / "blob.txt"
    source.write_text("The report follows. " + "x" * 3000 + " That was all.\n")
    proc, report = synth(str(source), "-o", str(tmp_path / "out"), "--backend", "espeak")
    assert proc.returncode == 0, proc.stderr.decode()
    assert report["retries"] == 0 and report["quality_warnings"] == []
    warnings = report["documents"][0]["warnings"]
    assert len(warnings) == 1 and "without spaces" in warnings[0]
