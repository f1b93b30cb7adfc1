"""Time to first audio: `voxline synth FILE -o -` streams a WAV to standard output; this
measures, from the process start, when the header arrives and when the first PCM bytes do,
for a short and a long text, per backend, in one run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZH = "国家统计局今天发布数据显示，今年前两个月工业增加值同比增长百分之七。"
EN = "The city council approved a new transit budget on Tuesday after a long debate."


def first_audio(path: Path, backend: str, lang: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxline.cli.main", "synth", str(path), "-o", "-", "-q",
         "--no-cache", "--backend", backend, "--lang", lang],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    header = proc.stdout.read(44)
    header_s = time.perf_counter() - started
    first = proc.stdout.read(2)
    first_s = time.perf_counter() - started
    total = len(header) + len(first)
    while block := proc.stdout.read(1 << 16):
        total += len(block)
    proc.wait()
    return {"header_s": round(header_s, 3), "first_audio_s": round(first_s, 3),
            "total_s": round(time.perf_counter() - started, 3),
            "audio_s": round((total - 44) / 32000, 1), "exit_code": proc.returncode}


def bench_first_audio(sizes: list[int]) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend, lang, sentence in (("piper", "en", EN), ("espeak", "zh", ZH)):
            for size in sizes:
                path = Path(tmp) / f"{backend}-{size}.txt"
                repeats = max(1, size // len(sentence))
                path.write_text("\n\n".join([sentence] * repeats), encoding="utf-8")
                row = first_audio(path, backend, lang)
                rows.append({"backend": backend, "chars": repeats * len(sentence), **row})
    return {"rows": rows, "cpus": os.cpu_count()}


def print_table(result: dict) -> None:
    print(f"{'backend':>8} {'chars':>7} {'header s':>9} {'first audio s':>14} "
          f"{'total s':>8} {'audio s':>8}")
    for row in result["rows"]:
        print(f"{row['backend']:>8} {row['chars']:>7} {row['header_s']:>9} "
              f"{row['first_audio_s']:>14} {row['total_s']:>8} {row['audio_s']:>8}")
