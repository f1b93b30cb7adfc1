"""How loud the audio is, and output normalized to a loudness target: EBU R128 figures from
FFmpeg's ebur128 filter, and a sink that normalizes once the whole audio is there."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import safefiles
from ..errors import OutputError
from .ffmpeg_process import ffmpeg_exe, metadata_args
from .formats import FORMATS, ContainerMetadata, OutputFormat
from .sinks import WavWriter, write_error


@dataclass(frozen=True)
class Measurement:
    """What a listener would notice about a file: length, level, how much of it is speech."""

    duration_s: float
    sample_rate_hz: int
    channels: int
    sample_width_bytes: int
    loudness_dbfs: float
    voiced_s: float


def measure(path: str | Path, silence_dbfs: float = -45.0) -> Measurement:
    """Measure a WAV file with pydub: duration, level and seconds of non-silence."""
    import warnings

    with warnings.catch_warnings():
        # pydub looks for ffmpeg on PATH and imports the deprecated audioop; neither matters here
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
        from pydub.silence import detect_nonsilent

    segment = AudioSegment.from_wav(str(path))
    spans = detect_nonsilent(segment, min_silence_len=150, silence_thresh=silence_dbfs)
    return Measurement(
        duration_s=len(segment) / 1000.0,
        sample_rate_hz=segment.frame_rate,
        channels=segment.channels,
        sample_width_bytes=segment.sample_width,
        loudness_dbfs=segment.dBFS,
        voiced_s=sum(end - start for start, end in spans) / 1000.0,
    )


LOUDNESS_TOLERANCE_LU = 0.3  # how close a limited output is brought to its target
LOUDNESS_TRIES = 4


@dataclass(frozen=True)
class LoudnessTarget:
    """EBU R128 normalization: integrated loudness in LUFS, true-peak ceiling in dBTP."""

    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.0


@dataclass(frozen=True)
class LoudnessReport:
    """What normalization measured and did."""

    input_lufs: float | None
    input_true_peak_dbtp: float | None
    output_lufs: float | None
    output_true_peak_dbtp: float | None
    mode: str  # linear (one gain), limited (gain and true-peak limiter), skipped (silence)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def loudness_target(settings) -> LoudnessTarget | None:
    """The loudness normalization `settings` ask for (`--loudness`, `--peak`), if any."""
    if settings.loudness_lufs is None:
        return None
    return LoudnessTarget(settings.loudness_lufs, settings.peak_dbtp)


def _ffmpeg_number(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def measure_loudness(path: str | Path, raw_rate_hz: int | None = None) -> dict[str, float | None]:
    """A file's EBU R128 figures from FFmpeg's ebur128 filter: integrated loudness `i`
    (LUFS) and true peak `tp` (dBTP); None for a figure silence leaves undefined.
    `raw_rate_hz`: the file is mono s16 PCM without a header."""
    source = (["-f", "s16le", "-ar", str(raw_rate_hz), "-ac", "1"] if raw_rate_hz else [])
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", *source, "-i", str(path),
         "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
        capture_output=True, check=False)
    log = proc.stderr.decode(errors="replace")
    summary = log[log.rfind("Summary:"):]
    if proc.returncode != 0 or "Summary:" not in log:
        raise OutputError(f"cannot measure the loudness of {path}: "
                          f"{log.strip().splitlines()[-1] if log.strip() else proc.returncode}")

    def figure(pattern: str) -> float | None:
        match = re.search(pattern + r"\s+(-?inf|-?[\d.]+)", summary)
        return _ffmpeg_number(match.group(1)) if match else None

    return {"i": figure(r"I:"), "tp": figure(r"True peak:\s+Peak:")}


class LoudnessEncoder(WavWriter):
    """An output normalized to a loudness target once the whole audio is there.

    The PCM is kept in a temporary file beside the destination while the job writes it.
    `finish()` measures it with FFmpeg's ebur128 filter (EBU R128 / ITU-R BS.1770:
    integrated loudness and true peak), then encodes it once with one gain (`linear`) when
    that keeps the true peak under the ceiling. Otherwise the gain goes with a true-peak
    limiter (FFmpeg's alimiter at 4x the sample rate, so peaks between samples count), and
    since limiting takes some loudness away, the result is measured and the gain corrected
    until it is within LOUDNESS_TOLERANCE_LU (`limited`). FFmpeg's own loudnorm in its
    dynamic mode was measured missing by 1.4–3.4 LU on short prompts and by 0.8–1.7 LU on
    Piper's speech, which is why it is not used for this. The result goes to a temporary
    name renamed into place, as with `Encoder`.
    """

    def __init__(self, destination: Path, fmt: OutputFormat, sample_rate_hz: int,
                 target: LoudnessTarget, metadata: "Path | ContainerMetadata | None" = None):
        self.destination = destination
        self.metadata = metadata
        self.fmt = fmt
        self.sample_rate_hz = sample_rate_hz
        self.target = target
        self.report: LoudnessReport | None = None
        self.frames_written = 0
        self._temporary = self._trial = self._result = None
        self._open("pcm.part", b"")
        self.staged = self._temporary.path
        try:
            self._trial = safefiles.TempFile(destination, "level.part")
            self._result = safefiles.TempFile(destination)
        except OSError as exc:
            self._discard()
            raise write_error(destination, exc) from None
        self._trial.close()
        self._result.close()
        self.trial, self.partial = self._trial.path, self._result.path

    def _temporaries(self) -> tuple["safefiles.TempFile | None", ...]:
        return (self._temporary, self._trial, self._result)

    def _ffmpeg(self, inputs: list[str], filters: str | None, codec: tuple[str, ...],
                muxer: str, out: Path) -> None:
        extra_in, extra_out = metadata_args(self.metadata if out == self.partial else None,
                                             muxer)
        temporary = self._result if out == self.partial else self._trial
        # reopened for each run (FFmpeg truncates it), and only if it is still the file
        # voxline created: FFmpeg is never handed a name another user could have replaced
        if not temporary.is_ours():
            raise OutputError(f"cannot write {self.destination}: {temporary.path} was "
                              "replaced while voxline wrote it; refused")
        fd = os.open(out, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.ftruncate(fd, 0)
            use_fd = safefiles.ffmpeg_writes_to_descriptors(ffmpeg_exe())
            target = ["-fd", str(fd), "fd:"] if use_fd else [str(out)]
            proc = subprocess.run(
                [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                 *inputs, *extra_in, *(["-af", filters] if filters else []), *extra_out,
                 "-ar", str(self.sample_rate_hz), "-ac", "1", *codec, "-f", muxer, *target],
                capture_output=True, check=False, pass_fds=(fd,) if use_fd else ())
        finally:
            os.close(fd)
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.decode(errors="replace").splitlines()
                     if line.strip()]
            raise OutputError(f"cannot write {self.destination}: "
                              f"{lines[-1] if lines else proc.returncode}")

    def _limited(self, raw: list[str], gain_db: float, measured_lufs: float) -> None:
        """Gain plus true-peak limiting, corrected until the loudness is on target: the
        result is left in `self.trial` (a WAV)."""
        target = self.target
        limit = 10.0 ** ((target.true_peak_dbtp - 0.3) / 20.0)  # margin for the last resample
        rate = self.sample_rate_hz
        best: tuple[float, float] | None = None  # (miss, gain)

        def render(gain: float) -> None:
            chain = (f"volume={gain:.3f}dB,aresample={4 * rate}:resampler=soxr,"
                     f"alimiter=limit={limit:.6f}:level=false:attack=1:release=50,"
                     f"aresample={rate}:resampler=soxr")
            self._ffmpeg(raw, chain, FORMATS["wav"].codec_args, "wav", self.trial)

        for _ in range(LOUDNESS_TRIES):
            render(gain_db)
            reached = measure_loudness(self.trial)["i"]
            miss = target.integrated_lufs - (reached if reached is not None else measured_lufs)
            if best is None or abs(miss) < abs(best[0]):
                best = (miss, gain_db)
            if abs(miss) <= LOUDNESS_TOLERANCE_LU:
                return
            gain_db += miss
        render(best[1])

    def _normalize(self, raw: list[str], measured: dict) -> str:
        """Encode the staged PCM into `self.partial` at the target loudness with its true
        peak under the ceiling: one gain (`linear`) or gain and limiter (`limited`)."""
        codec, muxer = self.fmt.codec_args, self.fmt.muxer
        gain = self.target.integrated_lufs - measured["i"]
        if measured["tp"] is None or measured["tp"] + gain <= self.target.true_peak_dbtp:
            self._ffmpeg(raw, f"volume={gain:.3f}dB", codec, muxer, self.partial)
            return "linear"
        self._limited(raw, gain, measured["i"])
        if self.fmt.name == "wav":
            self._final = self._trial  # already the WAV wanted
        else:
            self._ffmpeg(["-i", str(self.trial)], None, codec, muxer, self.partial)
        return "limited"

    def finish(self) -> Path:
        try:
            self._file.close()
            measured = measure_loudness(self.staged, self.sample_rate_hz)
            raw = ["-f", "s16le", "-ar", str(self.sample_rate_hz), "-ac", "1",
                   "-i", str(self.staged)]
            self._final = self._result
            if measured["i"] is None or measured["i"] <= -70.0:
                mode = "skipped"  # silence: nothing to measure or to raise
                self._ffmpeg(raw, None, self.fmt.codec_args, self.fmt.muxer, self.partial)
                after = {"i": measured["i"], "tp": measured["tp"]}
            else:
                # a lossy codec adds its own error on top of the peaks it is given (MP3 at
                # -16 LUFS: up to about 0.5 dB); the report gives the file's own true peak
                mode = self._normalize(raw, measured)
                after = measure_loudness(self._final.path)
            self.report = LoudnessReport(measured["i"], measured["tp"], after["i"], after["tp"],
                                         mode)
            self._final.publish()
        except OSError as exc:
            self.abort()
            raise write_error(self.destination, exc) from None
        except OutputError:
            self.abort()
            raise
        for temporary in self._temporaries():
            temporary.discard()
        return self.destination
