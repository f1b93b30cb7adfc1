"""voxline against Piper's own command line, on the same text and voice, in one run.

- one long English text (~20 000 characters): `python -m piper -m <joe voice> -i FILE -f
  OUT.wav` once, against `voxline synth FILE --backend piper` with 1 and with 2 workers;
- 200 short files: Piper's CLI once per file (as people script it: it loads the voice every
  time), against one `voxline synth FOLDER --backend piper -w 2`.

Targets (issue 8): 1 worker <= 1.05x Piper's time, 2 workers <= 0.6x on the long text;
<= 0.25x over the 200 files.

On the long text the three sides run in turn for `rounds` rounds, the order reversed every
other round, and each side's median is compared: a slow spell on a shared machine then lands
on different sides instead of always on the same one.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

SENTENCES = [
    "The city council approved a new transit budget on Tuesday after a long debate.",
    "Ridership grew last year, and officials expect many more riders every day.",
    "Critics argued that the plan ignores the needs of rural neighborhoods.",
    "The light rail extension adds new track and four new stations to the north.",
    "Construction is expected to begin next spring and to last about two years.",
    "Residents asked whether the buses would run later on weekends and holidays.",
    "The mayor said the city would publish a detailed schedule before the summer.",
    "Several business owners welcomed the news and hoped for more customers downtown.",
]


def long_text(chars: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    paragraphs, size = [], 0
    while size < chars:
        paragraph = " ".join(rng.choice(SENTENCES) for _ in range(4))
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def voice_model() -> Path:
    from voxline.plugins.piper_tts import _bundled_voice

    return Path(_bundled_voice()[0])


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:4]} failed: {proc.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def piper_cli(text: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "piper", "-m", str(voice_model()), "-i", str(text),
            "-f", str(out)]


def voxline(source: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "voxline.cli.main", "synth", str(source), "-o", str(out),
            "--backend", "piper", "--no-cache", "--force", "-q", "-w", str(workers)]


def audio_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as handle:
        return round(handle.getnframes() / handle.getframerate(), 1)


def bench_vs_piper(chars: int, files: int, rounds: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text = tmp / "long.txt"
        text.write_text(long_text(chars), encoding="utf-8")
        sides = {"piper_cli_s": piper_cli(text, tmp / "piper.wav"),
                 "voxline_w1_s": voxline(text, tmp / "v1.wav", 1),
                 "voxline_w2_s": voxline(text, tmp / "v2.wav", 2)}
        times: dict[str, list[float]] = {name: [] for name in sides}
        for round_ in range(rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(timed(sides[name]))
        long = {name: statistics.median(values) for name, values in times.items()}
        spoken = {"piper_audio_s": audio_seconds(tmp / "piper.wav"),
                  "voxline_audio_s": audio_seconds(tmp / "v1.wav")}
        folder = tmp / "short"
        folder.mkdir()
        rng = random.Random(5)
        for i in range(files):
            (folder / f"f{i:03d}.txt").write_text(
                " ".join(rng.choice(SENTENCES) for _ in range(2)), encoding="utf-8")
        started = time.perf_counter()
        for path in sorted(folder.iterdir()):
            timed(piper_cli(path, tmp / "piper-short.wav"))
        short = {"piper_cli_s": time.perf_counter() - started,
                 "voxline_w2_s": timed(voxline(folder, tmp / "vs", 2))}
    long = {k: round(v, 2) for k, v in long.items()}
    short = {k: round(v, 2) for k, v in short.items()}
    return {
        "long_text": {"chars": chars, "rounds": rounds, **long, **spoken,
                      "runs_s": {k: [round(v, 2) for v in vs] for k, vs in times.items()},
                      "w1_vs_piper": round(long["voxline_w1_s"] / long["piper_cli_s"], 3),
                      "w2_vs_piper": round(long["voxline_w2_s"] / long["piper_cli_s"], 3)},
        "short_files": {"files": files, **short,
                        "w2_vs_piper": round(short["voxline_w2_s"] / short["piper_cli_s"],
                                             3)},
    }


def print_table(result: dict) -> None:
    long, short = result["long_text"], result["short_files"]
    print(f"{'input':>24} {'piper CLI s':>12} {'voxline -w1 s':>14} {'voxline -w2 s':>14} "
          f"{'w1/piper':>9} {'w2/piper':>9}")
    print(f"{str(long['chars']) + ' chars, one file':>24} {long['piper_cli_s']:>12} "
          f"{long['voxline_w1_s']:>14} {long['voxline_w2_s']:>14} {long['w1_vs_piper']:>9} "
          f"{long['w2_vs_piper']:>9}")
    print(f"{str(short['files']) + ' short files':>24} {short['piper_cli_s']:>12} "
          f"{'':>14} {short['voxline_w2_s']:>14} {'':>9} {short['w2_vs_piper']:>9}")
