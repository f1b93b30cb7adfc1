"""Books in, audiobooks out, through the real CLI: an EPUB's own chapters become an M4B's
chapter marks, or a folder of numbered, titled chapter files; cover and tags are read back
from the files with a second library (mutagen; FFmpeg wrote them)."""

from __future__ import annotations

import json
import subprocess

import mutagen
import pytest

from conftest import invoke_cli
from test_chapters import read_chapters
from voxline.audio import ffmpeg_exe

import bookfiles


def stream_language(path) -> str:
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                           capture_output=True)
    line = next(x for x in probe.stderr.decode().splitlines() if "Audio:" in x)
    return line.split("(")[1].split(")")[0]


@pytest.fixture
def epub(tmp_path):
    return bookfiles.english_epub(tmp_path / "book.epub")


def test_an_epub_becomes_an_m4b_with_its_chapters_cover_and_tags(tmp_path, epub):
    out = tmp_path / "book.m4b"
    done = invoke_cli("synth", str(epub), "-o", str(out), "--chapters", "--backend", "espeak",
                      "--json")
    assert done.returncode == 0, done.stderr.decode()
    chapters, duration = read_chapters(out)
    assert [c["title"] for c in chapters] == ["Chapter One", "Chapter Two"]
    assert chapters[-1]["end_s"] <= duration + 0.1
    tags = mutagen.File(out).tags
    assert tags["©nam"] == ["A Test Book"] and tags["©alb"] == ["A Test Book"]
    assert tags["©ART"] == ["Ann Author"] and tags["aART"] == ["Ann Author"]
    assert tags["©wrt"] == ["en-us (espeak)"]  # the narrator: the voice that read it
    assert tags["©day"] == ["1901"] and tags["©gen"] == ["Audiobook"]
    assert tags["desc"] == ["A book made by the tests."]
    assert bytes(tags["covr"][0]) == bookfiles.png()
    assert stream_language(out) == "eng"
    assert [e["title"] for e in json.loads(done.stdout)["book"]["chapters"]] == \
        ["Chapter One", "Chapter Two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.epub", "book.m4b"]


def test_tags_from_the_command_line_win_and_pick_chooses_chapters(tmp_path, epub):
    cover = tmp_path / "mine.png"
    cover.write_bytes(bookfiles.png(rgb=(0, 90, 200)))
    out = tmp_path / "book.mp3"
    done = invoke_cli("synth", str(epub), "-o", str(out), "--chapters", "--backend", "espeak",
                      "--pick", "Chapter Two", "--title", "My Title", "--author", "Me",
                      "--narrator", "A. Reader", "--cover", str(cover))
    assert done.returncode == 0, done.stderr.decode()
    assert [c["title"] for c in read_chapters(out)[0]] == ["Chapter Two"]
    tags = mutagen.File(out).tags
    assert str(tags["TIT2"]) == "My Title" and str(tags["TPE1"]) == "Me"
    assert str(tags["TCOM"]) == "A. Reader" and str(tags["TDRC"]) == "1901"
    assert str(tags["TLAN"]) == "eng" and str(tags["TCON"]) == "Audiobook"
    assert tags.getall("APIC")[0].data == cover.read_bytes()
    assert len(tags.getall("CHAP")) == 1


def test_an_epub_without_chapters_becomes_a_folder_of_numbered_tracks(tmp_path):
    book = bookfiles.vertical_chinese_epub(tmp_path / "zh.epub")
    out = tmp_path / "out"
    args = ("synth", str(book), "-o", str(out), "--format", "mp3", "--backend", "espeak",
            "--json")
    done = invoke_cli(*args)
    assert done.returncode == 0, done.stderr.decode()
    folder = out / "唐詩選讀"
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["01 第一章　春眠.mp3", "02 第二章　靜夜.mp3"]
    assert sorted(p.name for p in out.iterdir()) == ["唐詩選讀"]  # no work folder left
    for number, name in enumerate(files, 1):
        tags = mutagen.File(folder / name).tags
        assert str(tags["TRCK"]) == f"{number}/2"
        assert str(tags["TALB"]) == "唐詩選讀" and str(tags["TPE1"]) == "孟浩然"
        assert str(tags["TIT2"]) == name[3:-4] and str(tags["TPUB"]) == "測試出版社"
        assert tags.getall("APIC")[0].data == bookfiles.png(rgb=(0, 0, 0))
    again = invoke_cli(*args)
    assert [d["status"] for d in json.loads(again.stdout)["documents"]] == ["up to date"] * 2


def test_other_documents_become_one_file_each(tmp_path):
    pdf = bookfiles.pdf(tmp_path / "paper.pdf")
    docx = bookfiles.docx(tmp_path / "memo.docx")
    page = tmp_path / "page.html"
    page.write_text("<html><body><nav>Home</nav><article><h1>News</h1><p>The bridge "
                    "opened today.</p></article></body></html>", encoding="utf-8")
    out = tmp_path / "out"
    done = invoke_cli("synth", str(pdf), str(docx), str(page), "-o", str(out), "--backend",
                      "espeak", "--format", "m4a")
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == ["memo.m4a", "page.m4a", "paper.m4a"]
    assert mutagen.File(out / "paper.m4a").tags["©nam"] == ["The PDF Book"]
    assert mutagen.File(out / "memo.m4a").tags["©ART"] == ["Wendy Writer"]
    assert "1 tables skipped" in done.stderr.decode()


def test_voxline_chapters_lists_what_would_be_read(tmp_path, epub):
    done = invoke_cli("chapters", str(epub), "--backend", "espeak", "--json")
    assert done.returncode == 0, done.stderr.decode()
    listing = json.loads(done.stdout)
    numbered = [(e["number"], e["title"]) for e in listing["chapters"]]
    assert numbered == [(None, "Title Page"), (None, "Copyright"), (None, "Contents"),
                        (1, "Chapter One"), (2, "Chapter Two"), (None, "Notes"),
                        (None, "Index")]
    one = listing["chapters"][3]
    assert one["words"] == 29 and set(one["estimated_s"]) == {"espeak"}
    assert 5 < one["estimated_s"]["espeak"] < 30
    text = invoke_cli("chapters", str(epub), "--pick", "2").stdout.decode()
    assert "(skipped: front matter, copyright-page" in text
    assert "Chapter One" in text and "(not picked)" in text
    dry = invoke_cli("synth", str(epub), "-o", str(tmp_path / "b.m4b"), "--chapters",
                     "--dry-run", "--backend", "espeak")
    assert dry.returncode == 0 and "2 chapters to read" in dry.stdout.decode()
    assert not (tmp_path / "b.m4b").exists()


def test_what_books_refuse(tmp_path, epub):
    one_file = invoke_cli("synth", str(epub), "-o", str(tmp_path / "book.mp3"))
    assert one_file.returncode == 2 and "--chapters" in one_file.stderr.decode()
    bad_pick = invoke_cli("synth", str(epub), "-o", str(tmp_path / "b.m4b"), "--chapters",
                          "--pick", "9")
    assert bad_pick.returncode == 2 and "chapters 1 to 2" in bad_pick.stderr.decode()
    broken = tmp_path / "broken.epub"
    broken.write_bytes(b"PK\x03\x04 not really")
    failed = invoke_cli("synth", str(broken), "-o", str(tmp_path / "out"))
    assert failed.returncode == 3
    assert failed.stderr.decode().strip() == \
        f"voxline: error: {broken}: not an EPUB (not a zip file)"
