"""Audio helpers for the resample and concatenate stages.

Resampling runs in-process on numpy arrays (soxr, high quality); joining and encoding run in
one FFmpeg process per output, fed raw PCM on its stdin as chunks become ready. FFmpeg comes
from `imageio-ffmpeg`'s static binary, so nothing needs a system install.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import re
import shutil
import signal
import subprocess
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import safefiles
from .errors import OutputError
from .models import Audio


@dataclass(frozen=True)
class OutputFormat:
    """An output container and codec, by the name users give `--format`."""

    name: str
    extension: str
    muxer: str
    codec_args: tuple[str, ...]


FORMATS = {
    # rf64 auto: FFmpeg writes RF64 (EBU Tech 3306) when a WAV passes 4 GiB
    "wav": OutputFormat("wav", ".wav", "wav", ("-c:a", "pcm_s16le", "-rf64", "auto")),
    "flac": OutputFormat("flac", ".flac", "flac", ("-c:a", "flac")),
    "mp3": OutputFormat("mp3", ".mp3", "mp3", ("-c:a", "libmp3lame", "-q:a", "4")),
    "ogg": OutputFormat("ogg", ".ogg", "ogg", ("-c:a", "libvorbis", "-q:a", "4")),
    "opus": OutputFormat("opus", ".opus", "opus", ("-c:a", "libopus", "-b:a", "32k")),
    "m4a": OutputFormat("m4a", ".m4a", "ipod", ("-c:a", "aac", "-b:a", "64k")),
    "m4b": OutputFormat("m4b", ".m4b", "ipod", ("-c:a", "aac", "-b:a", "64k")),  # audiobook
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
STDOUT = Path("-")  # `-o -`: the output streams to standard output
STREAMABLE = ("wav", "mp3", "ogg", "opus", "flac")  # m4a and m4b need a seekable file


@dataclass(frozen=True)
class ContainerMetadata:
    """What goes into an output's container besides the audio: an FFmpeg ffmetadata file
    (tags, chapters), a cover image (JPEG or PNG; MP3, M4A/M4B and FLAC carry it) and the
    audio's language as ISO 639-2 (`eng`, `zho`)."""

    ffmetadata: Path
    cover: Path | None = None
    language: str | None = None


COVER_MUXERS = ("mp3", "ipod", "mp4", "flac")


def is_stdout(path: Path | str) -> bool:
    return str(path) == "-"


def open_encoder(destination: Path, fmt: "OutputFormat", sample_rate_hz: int,
                 loudness: "LoudnessTarget | None" = None,
                 metadata: "Path | ContainerMetadata | None" = None, out=None):
    """The encoder for `destination`: standard output streamed as chunks arrive (`-o -`),
    a WAV written directly (PCM needs no encoding: a copy, no FFmpeg), or FFmpeg encoding
    to a file; files are written under a temporary name and renamed when complete. With a
    `loudness` target the PCM is kept in a temporary file and normalized when complete.
    `metadata`: an FFmpeg ffmetadata file (title, chapters) for the output's container.
    `out`: where a stream goes instead of standard output."""
    if is_stdout(destination):
        return StreamEncoder(fmt, sample_rate_hz, out)
    if loudness is not None:
        return LoudnessEncoder(destination, fmt, sample_rate_hz, loudness, metadata)
    if fmt.name == "wav" and metadata is None:
        return WavWriter(destination, sample_rate_hz)
    return Encoder(destination, fmt, sample_rate_hz, metadata)


def _metadata_args(metadata: "Path | ContainerMetadata | None",
                   muxer: str = "") -> tuple[list[str], list[str]]:
    """FFmpeg arguments that take tags and chapters from an ffmetadata file, and a cover
    and the language from a `ContainerMetadata`: (after the audio input, before the output
    file)."""
    if metadata is None:
        return [], []
    if not isinstance(metadata, ContainerMetadata):
        metadata = ContainerMetadata(metadata)
    inputs = ["-f", "ffmetadata", "-i", str(metadata.ffmetadata)]
    outputs = ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
    if metadata.cover is not None and muxer in COVER_MUXERS:
        inputs += ["-i", str(metadata.cover)]
        outputs += ["-map", "2:v", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    if metadata.language:
        outputs += ["-metadata:s:a:0", f"language={metadata.language}"]
    return inputs, outputs


def wav_header(sample_rate_hz: int, data_bytes: int = 0xFFFFFFFF) -> bytes:
    """A 44-byte mono s16 WAV header. The default sizes (0xFFFFFFFF) are for a stream of
    unknown length, which players and FFmpeg read as "until the end of the stream"."""
    import struct

    riff = min(0xFFFFFFFF, data_bytes + 36)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, sample_rate_hz * 2,
                                    2, 16)
            + b"data" + struct.pack("<I", min(0xFFFFFFFF, data_bytes)))


# The most PCM a plain RIFF WAV can hold: its sizes are 32-bit. Past it WavWriter writes RF64
# (EBU Tech 3306), whose ds64 chunk holds 64-bit sizes. Internal; tests lower it to see RF64
# written without writing 4 GiB.
WAV_MAX_DATA_BYTES = 0xFFFFFFFF - 36


def rf64_header(sample_rate_hz: int, data_bytes: int) -> bytes:
    """An 80-byte mono s16 RF64 header (EBU Tech 3306): the 32-bit sizes are 0xFFFFFFFF and
    the ds64 chunk gives the real ones (RIFF size, data size, sample count)."""
    import struct

    ds64 = struct.pack("<QQQI", data_bytes + 72, data_bytes, data_bytes // 2, 0)
    return (b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
            + b"ds64" + struct.pack("<I", len(ds64)) + ds64
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, sample_rate_hz * 2,
                                    2, 16)
            + b"data" + struct.pack("<I", 0xFFFFFFFF))


def wav_stream_header(sample_rate_hz: int) -> bytes:
    return wav_header(sample_rate_hz)


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


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
    from .subtitles import speech_bounds

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


class Encoder:
    """One FFmpeg process that receives mono s16 PCM and writes the encoded output.

    The output goes to a temporary name beside the destination and is renamed into place by
    `finish()`; `abort()` (or any failure) removes it, so a final name never holds a partial
    file.
    """

    def __init__(self, destination: Path, fmt: OutputFormat, sample_rate_hz: int,
                 metadata: "Path | ContainerMetadata | None" = None):
        import ffmpeg

        self.destination = destination
        self.sample_rate_hz = sample_rate_hz
        self.frames_written = 0
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(destination)
            self._temporary = safefiles.TempFile(destination)
        except OSError as exc:
            raise OutputError(f"cannot write {destination}: {exc.strerror or exc}") from exc
        self.partial = self._temporary.path
        target, pass_fds = _ffmpeg_target(self._temporary)
        args = (
            ffmpeg.input("pipe:0", format="s16le", ar=sample_rate_hz, ac=1)
            .output(target, format=fmt.muxer, ar=sample_rate_hz, ac=1,
                    **_codec_kwargs(fmt.codec_args), **_fd_kwargs(pass_fds))
            .global_args("-nostdin", "-loglevel", "error", "-y")
            .compile(cmd=ffmpeg_exe())
        )
        if metadata is not None:
            extra_in, extra_out = _metadata_args(metadata, fmt.muxer)
            after = args.index("pipe:0") + 1
            args[after:after] = extra_in
            at = args.index(target)
            args[at:at] = extra_out
        try:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=pass_fds,
            )
        except OSError as exc:
            self._temporary.discard()
            raise OutputError(f"cannot write {destination}: {exc.strerror or exc}") from exc
        self._temporary.close()  # FFmpeg holds its own copy of the descriptor
        self._stderr = bytearray()
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()

    def _drain_stderr(self) -> None:
        for line in self._proc.stderr:
            self._stderr.extend(line)

    def write(self, pcm: np.ndarray) -> None:
        try:
            self._proc.stdin.write(pcm.tobytes())
        except BrokenPipeError:
            self._proc.wait()
            raise OutputError(f"cannot write {self.destination}: {self._error()}") from None
        self.frames_written += int(pcm.shape[0])

    def _error(self) -> str:
        text = self._stderr.decode(errors="replace").strip()
        code = self._proc.returncode
        if code is not None and code < 0 and -code == getattr(signal, "SIGXFSZ", None):
            text = "File too large (over the file size limit, ulimit -f)"
        if not text:
            return f"FFmpeg exited with {code}"
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", text.splitlines()[-1])  # FFmpeg's [out#0/wav @ 0x..]
        line = line.removeprefix("Error closing file: ").removeprefix("Error writing trailer: ")
        if "No space left" in line or "File too large" in line:
            line += " (free some space and run the same command again: finished chunks are " \
                    "kept in the cache)"
        return line

    def finish(self) -> Path:
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        self._stderr_reader.join()
        if code != 0:
            self._temporary.discard()
            raise OutputError(f"cannot write {self.destination}: {self._error()}")
        try:
            self._temporary.publish()
        except OSError as exc:
            self._temporary.discard()
            raise OutputError(f"cannot write {self.destination}: {exc.strerror or exc}") from exc
        return self.destination


    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()
        self._temporary.discard()


def _ffmpeg_target(temporary: "safefiles.TempFile") -> tuple[str, tuple[int, ...]]:
    """Where FFmpeg writes a temporary file voxline created: through its descriptor
    (`-fd N fd:`) when this FFmpeg can, so FFmpeg never opens a name itself; else by path
    (the file exists, created exclusively, and is checked again before it is published)."""
    if safefiles.ffmpeg_writes_to_descriptors(ffmpeg_exe()):
        return "fd:", (temporary.fd,)
    return str(temporary.path), ()


def _fd_kwargs(pass_fds: tuple[int, ...]) -> dict[str, str]:
    return {"fd": str(pass_fds[0])} if pass_fds else {}


def _write_error(destination: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        reason += (" (free some space and run the same command again: finished chunks are "
                   "kept in the cache)")
    return OutputError(f"cannot write {destination}: {reason}")


class WavWriter:
    """A 16-bit mono WAV written straight from the PCM (the default format needs no
    encoder, so no FFmpeg process and no second copy of the audio through a pipe).

    Like `Encoder`, it writes under a temporary name beside the destination and renames the
    finished file into place; `abort()` or a failure removes it. The header's sizes are
    filled in by `finish()`. Past 4 GiB of audio (WAV_MAX_DATA_BYTES, about 37 hours at
    16 kHz) the file becomes RF64: the 44-byte header has no room for its ds64 chunk, so the
    audio is copied once behind an 80-byte RF64 header (which takes the disk space twice for
    a moment), every other file keeping the plain header that every reader knows.
    """

    def __init__(self, destination: Path, sample_rate_hz: int):
        self.destination = destination
        self.sample_rate_hz = sample_rate_hz
        self.frames_written = 0
        self._temporary: safefiles.TempFile | None = None
        self._open("part", wav_header(sample_rate_hz, 0))
        self.partial = self._temporary.path

    def _open(self, tag: str, header: bytes) -> None:
        try:
            self.destination.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(self.destination)
            self._temporary = safefiles.TempFile(self.destination, tag)
            self._file = self._temporary.open("wb", buffering=1 << 20)
            self._file.write(header)
        except OSError as exc:
            self._discard()
            raise _write_error(self.destination, exc) from None

    def _temporaries(self) -> tuple["safefiles.TempFile | None", ...]:
        return (self._temporary, getattr(self, "_rf64", None))

    def _rewrite_as_rf64(self, data_bytes: int) -> None:
        """The finished partial file again, behind an RF64 header instead of its 44 bytes,
        in a second temporary file that then takes the first one's place."""
        self._rf64 = safefiles.TempFile(self.destination, "rf64.part")
        with self._rf64.open("wb") as out, open(self._temporary.path, "rb") as source:
            out.write(rf64_header(self.sample_rate_hz, data_bytes))
            source.seek(44)
            shutil.copyfileobj(source, out, 1 << 24)

    def _discard(self) -> None:
        handle = getattr(self, "_file", None)
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass
        for temporary in self._temporaries():
            if temporary is not None:
                temporary.discard()

    def write(self, pcm: np.ndarray) -> None:
        try:
            self._file.write(memoryview(np.ascontiguousarray(pcm, dtype="<i2")).cast("B"))
        except OSError as exc:
            self._discard()
            raise _write_error(self.destination, exc) from None
        self.frames_written += int(pcm.shape[0])

    def finish(self) -> Path:
        data_bytes = self.frames_written * 2
        try:
            if data_bytes > WAV_MAX_DATA_BYTES:
                self._file.close()
                self._rewrite_as_rf64(data_bytes)
                self._rf64.publish()
                self._temporary.discard()
            else:
                self._file.seek(0)
                self._file.write(wav_header(self.sample_rate_hz, data_bytes))
                self._file.close()
                self._temporary.publish()
        except OSError as exc:
            self._discard()
            raise _write_error(self.destination, exc) from None
        return self.destination

    def abort(self) -> None:
        self._discard()


def remove_stale_partials(destination: Path) -> int:
    """Remove temporary files that a killed voxline left for `destination` (their process is
    gone); a running process's own files are left alone, and a link is never followed."""
    return safefiles.remove_stale(destination)


def _codec_kwargs(codec_args: tuple[str, ...]) -> dict[str, str]:
    return {key.lstrip("-"): value for key, value in zip(codec_args[::2], codec_args[1::2])}


def read_wav(path: str | Path | io.BytesIO) -> Audio:
    """A 16-bit PCM WAV file (a path or a binary file object) as Audio (channels kept)."""
    with wave.open(path if isinstance(path, io.IOBase) else str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * w.getsampwidth()}-bit WAV, expected 16-bit")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        channels = w.getnchannels()
        rate = w.getframerate()
    if channels > 1:
        frames = frames.reshape(-1, channels)
    return Audio(frames, rate, channels)


def decode(data: bytes) -> Audio:
    """Audio bytes in any container FFmpeg reads (WAV, MP3, Ogg, FLAC, ...) as Audio, with
    the sample rate and channel count the data says."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            return read_wav(io.BytesIO(data))
        except (wave.Error, ValueError):
            pass  # float or compressed WAV: let FFmpeg read it
    probe = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", "pipe:0", "-f", "s16le", "-c:a",
         "pcm_s16le", "pipe:1"],
        input=data, capture_output=True, check=False,
    )
    if probe.returncode != 0 or not probe.stdout:
        raise ValueError("audio data FFmpeg cannot decode")
    rate, channels = _stream_info(probe.stderr.decode(errors="replace"))
    samples = np.frombuffer(probe.stdout, dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels)
    return Audio(samples, rate, channels)


def _stream_info(ffmpeg_log: str) -> tuple[int, int]:
    match = re.search(r"Stream #0:\d.*?Audio: [^,]+, (\d+) Hz, (mono|stereo|(\d+) channels)",
                      ffmpeg_log)
    if not match:
        raise ValueError("audio data without an audio stream")
    channels = {"mono": 1, "stereo": 2}.get(match.group(2)) or int(match.group(3))
    return int(match.group(1)), channels


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


def check_writable(folder: Path) -> None:
    """Fail early, once, when outputs cannot be written into `folder` (created if missing)."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".voxline-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}",
                          hint="choose another -o folder") from None


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
            raise _write_error(destination, exc) from None
        self._trial.close()
        self._result.close()
        self.trial, self.partial = self._trial.path, self._result.path

    def _temporaries(self) -> tuple["safefiles.TempFile | None", ...]:
        return (self._temporary, self._trial, self._result)

    def _ffmpeg(self, inputs: list[str], filters: str | None, codec: tuple[str, ...],
                muxer: str, out: Path) -> None:
        extra_in, extra_out = _metadata_args(self.metadata if out == self.partial else None,
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
            raise _write_error(self.destination, exc) from None
        except OutputError:
            self.abort()
            raise
        for temporary in self._temporaries():
            temporary.discard()
        return self.destination


class StreamEncoder:
    """The output streamed to standard output in chunk order, each chunk as soon as it is
    delivered, so it can be piped into a player: WAV as a header then raw PCM (no FFmpeg),
    other formats through one FFmpeg process writing to the same standard output."""

    def __init__(self, fmt: OutputFormat, sample_rate_hz: int, out=None):
        import sys

        self.destination = STDOUT
        self.sample_rate_hz = sample_rate_hz
        self.frames_written = 0
        self._out = out or sys.stdout.buffer
        self._proc = None
        if fmt.muxer in ("wav", "s16le"):  # raw PCM (`s16le`) goes out as it is, headerless
            if fmt.muxer == "wav":
                self._send(wav_stream_header(sample_rate_hz))
            return
        import ffmpeg

        self._out.flush()
        args = (
            ffmpeg.input("pipe:0", format="s16le", ar=sample_rate_hz, ac=1)
            .output("pipe:1", format=fmt.muxer, ar=sample_rate_hz, ac=1,
                    **_codec_kwargs(fmt.codec_args))
            .global_args("-nostdin", "-loglevel", "error", "-flush_packets", "1")
            .compile(cmd=ffmpeg_exe())
        )
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self._out.fileno())

    def _send(self, data: bytes) -> None:
        try:
            if self._proc is None:
                self._out.write(data)
                self._out.flush()
            else:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise OutputError("standard output was closed before the audio ended (the "
                              "program reading it stopped)") from None

    def write(self, pcm: np.ndarray) -> None:
        self._send(pcm.tobytes())
        self.frames_written += int(pcm.shape[0])

    def finish(self) -> Path:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            if self._proc.wait() != 0:
                raise OutputError(f"FFmpeg exited with {self._proc.returncode} while "
                                  "streaming to standard output")
        return STDOUT

    def abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
