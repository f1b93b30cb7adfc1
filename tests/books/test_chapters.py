"""`--chapters`: several files, or one file's Markdown headings, become one M4B or MP3 with a
chapter each; chapters read back with FFmpeg from the file itself."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import SAMPLES, invoke_cli
from voxline.audio import ffmpeg_exe


def read_chapters(path) -> tuple[list[dict], float]:
    """The chapters FFmpeg reads from `path` (title, start and end in seconds) and the file's
    duration."""
    meta = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-f",
                           "ffmetadata", "-"], capture_output=True, check=True)
    chapters = []
    for block in meta.stdout.decode().split("[CHAPTER]")[1:]:
        fields = dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
        num, den = map(int, fields["TIMEBASE"].split("/"))
        chapters.append({"title": fields.get("title"),
                         "start_s": int(fields["START"]) * num / den,
                         "end_s": int(fields["END"]) * num / den})
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", meta.stderr.decode())
    h, m, s = duration.groups()
    return chapters, int(h) * 3600 + int(m) * 60 + float(s)


def test_a_folder_becomes_an_m4b_with_a_chapter_per_file(tmp_path):
    book = tmp_path / "book.m4b"
    env = {"VOXLINE_STATE_DIR": str(tmp_path / "state")}
    done = invoke_cli("synth", str(SAMPLES / "book"), "-o", str(book), "--chapters",
                      "--backend", "espeak", "--json", env=env)
    assert done.returncode == 0, done.stderr.decode()
    chapters, duration = read_chapters(book)
    assert [c["title"] for c in chapters] == ["The Harbour", "The Letter"]
    report = json.loads(done.stdout)
    audio = [d["audio_s"] for d in report["documents"]]
    # chapter 2 starts after chapter 1's audio and the 2 s pause between chapters
    assert abs(chapters[1]["start_s"] - (audio[0] + 2.0)) < 0.1
    assert abs(duration - (sum(audio) + 2.0)) < 0.2
    toc = report["book"]["chapters"]
    assert [(e["title"], e["source"].endswith(f"0{i + 1}_{name}.txt"))
            for i, (e, name) in enumerate(zip(toc, ["the_harbour", "the_letter"]))] == \
        [("The Harbour", True), ("The Letter", True)]
    assert not (tmp_path / ".book.m4b.chapters").exists()  # the work folder is gone
    # the table of contents is in the job's manifest
    shown = invoke_cli("jobs", "show", report["job"], "--json", env=env)
    assert json.loads(shown.stdout)["book"]["chapters"] == toc


def test_one_markdown_file_becomes_an_mp3_with_a_chapter_per_heading(tmp_path):
    source = tmp_path / "bulletin.txt"
    source.write_text("Good evening.\n\n# Weather\n\nRain in the north.\n\n"
                      "## Sport\n\nThe home side won 2 to 1.\n\n# Markets\n\nShares rose.\n",
                      encoding="utf-8")
    out = tmp_path / "bulletin.mp3"
    done = invoke_cli("synth", str(source), "-o", str(out), "--chapters", "--backend", "espeak",
                      "--lang", "en")
    assert done.returncode == 0, done.stderr.decode()
    chapters, duration = read_chapters(out)
    assert [c["title"] for c in chapters] == ["Bulletin", "Weather", "Sport", "Markets"]
    assert all(a["end_s"] <= b["start_s"] for a, b in zip(chapters, chapters[1:]))
    assert chapters[-1]["end_s"] <= duration + 0.1
    text = done.stdout.decode()
    assert "book: " in text and "Markets" in text


def test_a_failed_chapter_keeps_the_work_and_the_same_command_finishes_it(tmp_path):
    folder = tmp_path / "chapters"
    folder.mkdir()
    (folder / "1.txt").write_text("# One\n\nThe first chapter.", encoding="utf-8")
    # chapter 2 asks for a server that is not there
    (folder / "2.ssml").write_text('<speak><voice name="chattts-v1:seed">Two.</voice></speak>',
                                   encoding="utf-8")
    book = tmp_path / "book.m4b"
    env = {"CHATTTS_V1_URL": "http://127.0.0.1:9", "VOXLINE_STATE_DIR": str(tmp_path / "s")}
    args = ("synth", str(folder), "-o", str(book), "--chapters", "--backend", "espeak",
            "--retries", "0", "--json")
    failed = invoke_cli(*args, env=env)
    assert failed.returncode == 4, failed.stderr.decode()
    assert not book.exists()
    report = json.loads(failed.stdout)
    assert "not written" in report["book"]["error"]
    assert (tmp_path / ".book.m4b.chapters" / "01.wav").is_file() or \
        (tmp_path / ".book.m4b.chapters" / "001.wav").is_file()
    (folder / "2.ssml").write_text("<speak>The second chapter.</speak>", encoding="utf-8")
    done = invoke_cli(*args, env=env)
    assert done.returncode == 0, done.stderr.decode()
    statuses = [d["status"] for d in json.loads(done.stdout)["documents"]]
    assert statuses[0] == "up to date"  # chapter 1 was not made again
    assert [c["title"] for c in read_chapters(book)[0]] == ["One", "2"]


def test_what_chapters_refuse(tmp_path):
    for output in (str(tmp_path / "out"), "-", str(tmp_path / "book.wav")):
        done = invoke_cli("synth", str(SAMPLES / "book"), "-o", output, "--chapters")
        assert done.returncode == 2, (output, done.stderr.decode())
        assert "m4b" in done.stderr.decode().lower()


def test_a_book_with_loudness_and_subtitles_over_all_its_chapters(tmp_path):
    from test_production import ebur128

    from voxline.subtitles import parse

    book = tmp_path / "book.m4b"
    done = invoke_cli("synth", str(SAMPLES / "book"), "-o", str(book), "--chapters",
                      "--backend", "espeak", "--loudness", "-18", "--subtitles", "vtt", "--json")
    assert done.returncode == 0, done.stderr.decode()
    assert abs(ebur128(book)["i"] + 18) <= 1.0
    chapters, duration = read_chapters(book)
    cues = parse((tmp_path / "book.vtt").read_text(encoding="utf-8"))
    # one subtitle file for the book: chapter 2's heading is a cue where chapter 2 starts
    heading = next(c for c in cues if c.text == "The Letter")
    assert chapters[1]["start_s"] <= heading.start_s <= chapters[1]["start_s"] + 0.3
    assert cues[-1].end_s <= duration
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.m4b", "book.vtt"]
