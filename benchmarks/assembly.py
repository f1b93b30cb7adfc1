"""Assembly throughput: resample + concatenate + encode, in audio seconds per wall second.

The input is what a backend hands the pipeline: chunks of 22.05 kHz speech-like int16 audio
(Piper's and eSpeak NG's rate), with the pipeline's pauses between them. Two ways, same run,
same chunks, same output settings (16 kHz mono):

- **voxline** (the pipeline's own way, `voxline.audio.open_encoder`): each chunk resampled
  in-process on a worker thread (soxr, the `resample` stage, which a job runs on the worker
  that synthesized the chunk), then written in order with its pause to one output stream
  (the `concatenate` stage): a WAV is written directly (header + PCM), any other format is fed
  to one FFmpeg process that encodes the whole output;
- **per-chunk** (the hand-written script's way): each chunk written to a WAV and resampled by
  its own FFmpeg process, then one FFmpeg concat-demuxer run joins and encodes them;
- **codec only** (a reference, not a way): FFmpeg encoding the finished 16 kHz PCM from a
  file, no resampling or joining: the codec's own speed, which no way of assembling that
  format can beat.

Target (issue 8): >= 1000x real time.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

SOURCE_RATE = 22050
CHUNK_S = 6.0
PAUSE_S = 0.25


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced-sounding signal (harmonics of a wandering pitch under a syllable envelope,
    plus noise) so encoders work as hard as on speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SOURCE_RATE)
    t = np.arange(n) / SOURCE_RATE
    pitch = 110 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(pitch) / SOURCE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    signal = 0.25 * voiced * envelope + 0.02 * rng.standard_normal(n)
    return np.clip(signal * 32767, -32768, 32767).astype(np.int16)


def chunks_for(audio_s: float) -> list[np.ndarray]:
    count = max(1, int(round(audio_s / (CHUNK_S + PAUSE_S))))
    # a handful of distinct chunks, reused: generating an hour of signal would dominate
    distinct = [speech_like(CHUNK_S + 0.37 * (i % 5), i) for i in range(8)]
    return [distinct[i % len(distinct)] for i in range(count)]


def voxline_way(chunks: list[np.ndarray], out: Path, fmt_name: str) -> dict:
    """As a job assembles: each chunk resampled on a worker thread (one per core, the
    default `--workers`; in a job the worker that synthesized it), the main thread writing
    them in order, with their pauses, to one output stream."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from voxline.audio import FORMATS, open_encoder, resample, silence
    from voxline.models import Audio
    from voxline.settings import default_workers

    rate = 16000

    def work(chunk: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        return resample(Audio(chunk, SOURCE_RATE, 1), rate).samples, time.perf_counter() - t0

    started = time.perf_counter()
    resample_s = 0.0
    encoder = open_encoder(out, FORMATS[fmt_name], rate)
    pause = silence(PAUSE_S, rate)
    workers = default_workers()
    with ThreadPoolExecutor(workers) as pool:
        window: deque = deque()
        pending = iter(chunks)
        written = 0
        while True:
            while len(window) < 2 * workers and (chunk := next(pending, None)) is not None:
                window.append(pool.submit(work, chunk))
            if not window:
                break
            pcm, seconds = window.popleft().result()
            resample_s += seconds
            encoder.write(pcm)
            written += 1
            if written < len(chunks):
                encoder.write(pause)
    encoder.finish()
    wall = time.perf_counter() - started
    return {"wall_s": wall, "resample_s": resample_s, "workers": workers,
            "audio_s": encoder.frames_written / rate}


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def per_chunk_way(chunks: list[np.ndarray], folder: Path, out: Path, fmt_name: str) -> dict:
    from voxline.audio import FORMATS, ffmpeg_exe

    ffmpeg = ffmpeg_exe()
    fmt = FORMATS[fmt_name]
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pause = folder / "pause.wav"
    _write_wav(pause, np.zeros(int(PAUSE_S * 16000), dtype=np.int16), 16000)
    lines = []
    for i, chunk in enumerate(chunks):
        raw = folder / f"chunk{i:05d}.wav"
        _write_wav(raw, chunk, SOURCE_RATE)
        done = folder / f"chunk{i:05d}.16k.wav"
        subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                        "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(done)],
                       check=True)
        lines.append(f"file '{done}'")
        if i < len(chunks) - 1:
            lines.append(f"file '{pause}'")
    listing = folder / "list.txt"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe",
                    "0", "-i", str(listing), "-ar", "16000", "-ac", "1", *fmt.codec_args,
                    "-f", fmt.muxer, str(out)], check=True)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "audio_s": decoded_s(out)}


def codec_only_way(pcm: Path, out: Path, fmt_name: str, rate: int) -> dict:
    """FFmpeg alone encoding the finished 16 kHz PCM from a file: the codec's own speed,
    the ceiling for any way of assembling this format."""
    from voxline.audio import FORMATS, ffmpeg_exe

    fmt = FORMATS[fmt_name]
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "s16le",
                    "-ar", str(rate), "-ac", "1", "-i", str(pcm), *fmt.codec_args,
                    "-f", fmt.muxer, str(out)], check=True)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "audio_s": pcm.stat().st_size / 2 / rate}


def decoded_s(path: Path) -> float:
    """Seconds of audio FFmpeg decodes from `path` (checks what was written, untimed)."""
    from voxline.audio import ffmpeg_exe

    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", proc.stderr)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def bench_assembly(audio_s: float, formats: list[str], per_chunk_s: float) -> dict:
    """The voxline way on `audio_s` of audio per format; the per-chunk way on `per_chunk_s` of it
    (its cost is per chunk, so a shorter input gives the same rate much sooner)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        long_chunks = chunks_for(audio_s)
        short_chunks = chunks_for(per_chunk_s)
        # the finished PCM, for timing the codec alone (untimed here)
        voxline_way(long_chunks, tmp / "pcm.wav", "wav")
        with wave.open(str(tmp / "pcm.wav"), "rb") as handle:
            (tmp / "pcm.raw").write_bytes(handle.readframes(handle.getnframes()))
        (tmp / "pcm.wav").unlink()
        for fmt in formats:
            out = tmp / f"voxline.{fmt}"
            result = voxline_way(long_chunks, out, fmt)
            measured = decoded_s(out)
            rows.append({"way": "voxline", "format": fmt, "chunks": len(long_chunks),
                         "audio_s": round(result["audio_s"], 1),
                         "measured_audio_s": round(measured, 1),
                         "wall_s": round(result["wall_s"], 3),
                         "resample_s": round(result["resample_s"], 3),
                         "x_realtime": round(result["audio_s"] / result["wall_s"], 1)})
            out.unlink()
            out = tmp / f"per-chunk.{fmt}"
            result = per_chunk_way(short_chunks, tmp / f"work-{fmt}", out, fmt)
            rows.append({"way": "per-chunk", "format": fmt, "chunks": len(short_chunks),
                         "audio_s": round(result["audio_s"], 1),
                         "measured_audio_s": round(result["audio_s"], 1),
                         "wall_s": round(result["wall_s"], 3), "resample_s": None,
                         "x_realtime": round(result["audio_s"] / result["wall_s"], 1)})
            out = tmp / f"codec.{fmt}"
            result = codec_only_way(tmp / "pcm.raw", out, fmt, 16000)
            rows.append({"way": "codec only", "format": fmt, "chunks": 1,
                         "audio_s": round(result["audio_s"], 1),
                         "measured_audio_s": round(decoded_s(out), 1),
                         "wall_s": round(result["wall_s"], 3), "resample_s": None,
                         "x_realtime": round(result["audio_s"] / result["wall_s"], 1)})
            out.unlink()
    by = {(r["way"], r["format"]): r["x_realtime"] for r in rows}
    return {"benchmark": "assembly", "rows": rows, "cpus": os.cpu_count(),
            "voxline_vs_per_chunk": {fmt: round(by[("voxline", fmt)] / by[("per-chunk", fmt)], 1)
                                    for fmt in formats}}


def print_table(result: dict) -> None:
    print(f"{'way':>10} {'format':>7} {'chunks':>7} {'audio s':>9} {'wall s':>8} "
          f"{'resample s':>11} {'x real time':>12}")
    for row in result["rows"]:
        resample = "" if row["resample_s"] is None else row["resample_s"]
        print(f"{row['way']:>10} {row['format']:>7} {row['chunks']:>7} {row['audio_s']:>9} "
              f"{row['wall_s']:>8} {resample:>11} {row['x_realtime']:>12}")
    print("voxline / per-chunk: " + "  ".join(f"{fmt} {ratio}x" for fmt, ratio in
                                            result["voxline_vs_per_chunk"].items()))
