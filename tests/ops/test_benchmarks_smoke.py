"""The benchmark commands run end to end on small inputs and report their figures (no
thresholds here: speed targets are read from full runs, see CONTRIBUTING.md and
BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def bench(tmp_path, *args: str) -> dict:
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *args, "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_first_audio_reports_the_time_to_the_first_audio_byte(tmp_path):
    result = bench(tmp_path, "first-audio", "--sizes-chars", "100")
    rows = {row["backend"]: row for row in result["rows"]}
    assert set(rows) == {"piper", "espeak"}
    for row in rows.values():
        assert row["exit_code"] == 0 and row["audio_s"] > 1
        assert 0 < row["header_s"] <= row["first_audio_s"] <= row["total_s"]


@pytest.mark.slow
def test_vs_piper_compares_both_sides_on_the_same_input(tmp_path):
    result = bench(tmp_path, "vs-piper", "--chars", "300", "--files", "2")
    long, short = result["long_text"], result["short_files"]
    assert long["piper_cli_s"] > 0 and long["voxline_w1_s"] > 0 and long["voxline_w2_s"] > 0
    assert long["w1_vs_piper"] == round(long["voxline_w1_s"] / long["piper_cli_s"], 3)
    assert short["files"] == 2 and short["w2_vs_piper"] > 0


@pytest.mark.slow
def test_the_suite_prints_one_table_with_every_comparison(tmp_path):
    out = tmp_path / "suite.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "suite", "--smoke", "--json",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    measures = [row["measure"] for row in result["table"]]
    for expected in ("voxline -w 1 / piper CLI", "voxline -w 2 / piper CLI",
                     "short files: voxline -w 2", "overhead share", "warm cache", "peak RSS",
                     "assembly wav (voxline", "assembly mp3 (FFmpeg per chunk",
                     "start-up: voxline --help", "first audio, -o -: piper",
                     "first audio, -o -: espeak zh"):
        assert any(expected in m for m in measures), (expected, measures)
    assert all(row["met"] is None for row in result["table"])  # smoke: nothing judged
    assert result["machine"]["cpus"] >= 1
    # the printed table is the JSON's
    for measure in measures:
        assert measure in proc.stdout
    # the assembly's outputs decode to the audio it wrote, both ways
    for row in result["assembly"]["rows"]:
        assert abs(row["measured_audio_s"] - row["audio_s"]) < 0.5, row


def test_tn_scores_both_public_formats_per_file(tmp_path):
    (tmp_path / "test_cases_money.txt").write_text("$2~Two dollars\n$3~three euros\n")
    (tmp_path / "money.txt").write_text("2%  =>  百分之二\n", encoding="utf-8")
    result = bench(tmp_path, "tn", str(tmp_path / "test_cases_money.txt"),
                   str(tmp_path / "money.txt"))
    scores = {Path(r["file"]).name: (r["language"], r["matched"], r["cases"]) for r in result}
    assert scores == {"test_cases_money.txt": ("en", 1, 2), "money.txt": ("zh", 1, 1)}
