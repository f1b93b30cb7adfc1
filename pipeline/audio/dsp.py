"""Signal processing on numpy arrays: resampling (soxr, high quality), gain, tempo, silence
and the edges of a splice."""

from __future__ import annotations

import subprocess

import numpy as np

from ..models import Audio
from .ffmpeg_process import ffmpeg_exe


def to_float_mono(audio: Audio) -> np.ndarray:
    samples = audio.samples
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32)
        samples *= 1.0 / 32768.0  # a power of two: exact, and in place
    else:
        samples = samples.astype(np.float32, copy=False)
    if samples.ndim == 2:
        samples = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return samples


def resample(audio: Audio, sample_rate_hz: int, gain_db: float = 0.0) -> Audio:
    """`audio` as mono signed 16-bit at `sample_rate_hz`, with `gain_db` applied."""
    if (
        audio.samples.dtype == np.int16
        and audio.samples.ndim == 1
        and audio.sample_rate_hz == sample_rate_hz
        and gain_db == 0.0
    ):
        return audio
    samples = to_float_mono(audio)
    if audio.sample_rate_hz != sample_rate_hz and samples.size:
        import soxr

        samples = soxr.resample(samples, audio.sample_rate_hz, sample_rate_hz, quality="HQ")
    if gain_db:
        samples = samples * (10.0 ** (gain_db / 20.0))
    if np.shares_memory(samples, audio.samples):
        samples = samples.copy()  # scaled in place below: never the backend's own array
    samples *= 32767.0
    np.rint(samples, out=samples)
    np.clip(samples, -32768, 32767, out=samples)
    return Audio(samples.astype(np.int16), sample_rate_hz, 1)


def change_tempo(audio: Audio, rate: float) -> Audio:
    """Speed speech up or down without changing pitch (FFmpeg's atempo), for backends that
    have no rate control of their own."""
    filters = []
    remaining = rate
    while remaining < 0.5:
        filters.append("atempo=0.5")
        remaining /= 0.5
    while remaining > 2.0:
        filters.append("atempo=2.0")
        remaining /= 2.0
    filters.append(f"atempo={remaining:.4f}")
    pcm = resample(audio, audio.sample_rate_hz).samples
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar",
         str(audio.sample_rate_hz), "-ac", "1", "-i", "pipe:0", "-af", ",".join(filters),
         "-f", "s16le", "-ac", "1", "pipe:1"],
        input=pcm.tobytes(), capture_output=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"FFmpeg atempo failed: {proc.stderr.decode(errors='replace')[-300:]}")
    return Audio(np.frombuffer(proc.stdout, dtype=np.int16), audio.sample_rate_hz, 1)


def silence(duration_s: float, sample_rate_hz: int) -> np.ndarray:
    return np.zeros(int(round(duration_s * sample_rate_hz)), dtype=np.int16)


# at a splice (a word in another voice inside a sentence) each side keeps this much of its
# silence, so the gap between the words is a word break (up to about 0.1 s), and fades over
# the last few milliseconds so the cut makes no click
SPLICE_KEEP_S = 0.04
SPLICE_FADE_S = 0.005


def splice_edges(pcm: np.ndarray, sample_rate_hz: int, *, start: bool, end: bool) -> np.ndarray:
    """`pcm` (mono s16) with its leading (`start`) and/or trailing (`end`) silence cut down
    to `SPLICE_KEEP_S`, faded in/out at the cut."""
    from ..subtitles import speech_bounds

    bounds = speech_bounds(pcm, sample_rate_hz)
    if bounds is None:
        return pcm
    keep = int(SPLICE_KEEP_S * sample_rate_hz)
    first = max(0, bounds[0] - keep) if start else 0
    last = min(pcm.size, bounds[1] + keep) if end else pcm.size
    out = pcm[first:last].astype(np.float32)
    fade = min(int(SPLICE_FADE_S * sample_rate_hz), out.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
        if start and first:
            out[:fade] *= ramp
        if end and last < pcm.size:
            out[-fade:] *= ramp[::-1]
    return np.round(out).astype(np.int16)
