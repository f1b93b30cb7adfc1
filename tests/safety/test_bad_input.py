"""Bad input gets a clear message and a documented exit code, and never costs finished work."""

import json

from conftest import invoke_cli

from voxline.errors import EXIT_INPUT, EXIT_USAGE


def synth_json(*args):
    proc = invoke_cli("synth", *args, "--json", "-q")
    return proc, json.loads(proc.stdout) if proc.stdout else None


def test_each_bad_file_fails_alone_and_the_good_one_is_written(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("This one is fine.", encoding="utf-8")
    (src / "empty.txt").write_bytes(b"")
    (src / "blank.txt").write_text("   \n\n  ", encoding="utf-8")
    (src / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (src / "broken.ssml").write_text("<speak>\n  <p>Hello <break time='1s'>world</p>\n</speak>",
                                     encoding="utf-8")
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{"&lol%s;" % (i - 1 or "") * 10}">' for i in range(1, 10))
            + ']>\n<speak>&lol9;</speak>')
    (src / "bomb.ssml").write_text(bomb, encoding="utf-8")
    (src / "external.ssml").write_text(
        '<!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>',
        encoding="utf-8")
    (src / "undefined.ssml").write_text("<speak>Tom &amp; Jerry &nbsp; again</speak>",
                                        encoding="utf-8")
    out = tmp_path / "out"
    proc, report = synth_json(str(src), "-o", str(out))

    assert proc.returncode == EXIT_INPUT
    assert b"Traceback" not in proc.stderr
    assert [p.name for p in out.iterdir()] == ["good.wav"]
    errors = {d["source"].rsplit("/", 1)[-1]: d["error"] for d in report["documents"]}
    assert errors["good.txt"] is None
    assert "empty" in errors["empty.txt"]
    assert "empty" in errors["blank.txt"]
    assert "binary" in errors["binary.txt"]
    assert "line 2, column" in errors["broken.ssml"] and "mismatched tag" in errors["broken.ssml"]
    assert "DOCTYPE" in errors["bomb.ssml"]
    assert "DOCTYPE" in errors["external.ssml"]
    assert "undefined entity" in errors["undefined.ssml"] and "line 1, column 24" in errors[
        "undefined.ssml"]


def test_gbk_and_utf16_files_are_read_correctly(tmp_path):
    text = "今天是2024年3月5日，天气晴。"
    (tmp_path / "gbk.txt").write_bytes(text.encode("gbk"))
    (tmp_path / "gb18030.txt").write_bytes(text.encode("gb18030"))
    (tmp_path / "utf16.txt").write_bytes(text.encode("utf-16"))
    (tmp_path / "bom.txt").write_bytes(text.encode("utf-8-sig"))
    for name in ("gbk.txt", "gb18030.txt", "utf16.txt", "bom.txt"):
        proc = invoke_cli("normalize", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout.decode().strip() == "今天是二零二四年三月五日，天气晴。"
    proc, report = synth_json(str(tmp_path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0 and report["written"] == 4


def test_undecodable_file_names_file_and_position(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Caf\u00e9 au lait, na\u00efve r\u00e9sum\u00e9.\n".encode("latin-1"))
    proc = invoke_cli("normalize", str(bad))
    assert proc.returncode == EXIT_INPUT
    message = proc.stderr.decode()
    assert "latin1.txt" in message and "not valid UTF-8 at byte 3 (line 1)" in message
    assert "Traceback" not in message


def test_usage_errors(tmp_path):
    proc = invoke_cli("synth", str(tmp_path / "missing.txt"), "-o", str(tmp_path))
    assert proc.returncode == EXIT_USAGE and b"no such file" in proc.stderr
    proc = invoke_cli("synth", str(tmp_path), "-o", str(tmp_path / "o"))
    assert proc.returncode == EXIT_USAGE and b"no .txt or .ssml files" in proc.stderr
    (tmp_path / "a.txt").write_text("hi", encoding="utf-8")
    proc = invoke_cli("synth", str(tmp_path / "a.txt"), "-o", str(tmp_path / "o"), "--workers", "0")
    assert proc.returncode == EXIT_USAGE and b"workers must be at least 1" in proc.stderr
    proc = invoke_cli("synth", str(tmp_path / "a.txt"), "-o", str(tmp_path / "o"),
                      "--backend", "nope")
    assert proc.returncode == 4 and b"unknown backend 'nope'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_backend_that_cannot_speak_the_language(tmp_path):
    (tmp_path / "zh.txt").write_text("你好，世界。", encoding="utf-8")
    proc, report = synth_json(str(tmp_path / "zh.txt"), "-o", str(tmp_path / "o"),
                              "--backend", "piper")
    assert proc.returncode == 4
    assert "backend 'piper' does not speak 'zh'" in report["documents"][0]["error"]
    assert "espeak" in report["documents"][0]["error"]


def test_ctrl_c_keeps_finished_files_and_leaves_no_partial_one(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import SAMPLES

    src = tmp_path / "in"
    src.mkdir()
    article = (SAMPLES / "en_article.txt").read_text(encoding="utf-8")
    (src / "a_short.txt").write_text("Short and done.", encoding="utf-8")
    for i in range(4):
        (src / f"b_long{i}.txt").write_text(article * 3, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from voxline.cli.main import main; main()", "synth", str(src),
         "-o", str(out), "-q", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not (out / "a_short.wav").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the first long file
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert b"Traceback" not in stderr
    assert b"interrupted" in stdout
    names = sorted(p.name for p in out.iterdir())
    assert names[0] == "a_short.wav" and len(names) < 5
    assert not [n for n in names if "part" in n]
