"""Where a job's audio goes: one `Sink` interface for a WAV (or RF64) written straight from
the PCM, an FFmpeg-encoded file, standard output as the audio arrives, and (in `loudness`) an
output normalized once it is complete. Files are written under a temporary name beside the
destination and renamed into place when complete, so a final name never holds a partial file.
"""

from __future__ import annotations

import errno
import shutil
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .. import safefiles
from ..errors import OutputError
from .ffmpeg_process import codec_kwargs, fd_kwargs, ffmpeg_exe, ffmpeg_target, metadata_args
from .formats import STDOUT, ContainerMetadata, OutputFormat, is_stdout
from . import wavfile
from .wavfile import rf64_header, wav_header

if TYPE_CHECKING:
    from .loudness import LoudnessTarget


class Sink(Protocol):
    """What the concatenate stage writes mono s16 PCM into, chunk by chunk, in order."""

    destination: Path
    sample_rate_hz: int
    frames_written: int

    def write(self, pcm: np.ndarray) -> None:
        """Append `pcm`; raises OutputError when the destination cannot take it."""

    def finish(self) -> Path:
        """Complete the output and return where it is; raises OutputError on failure."""

    def abort(self) -> None:
        """Stop and leave no partial output behind."""


def open_encoder(destination: Path, fmt: OutputFormat, sample_rate_hz: int,
                 loudness: "LoudnessTarget | None" = None,
                 metadata: Path | ContainerMetadata | None = None, out=None) -> Sink:
    """The encoder for `destination`: standard output streamed as chunks arrive (`-o -`),
    a WAV written directly (PCM needs no encoding: a copy, no FFmpeg), or FFmpeg encoding
    to a file; files are written under a temporary name and renamed when complete. With a
    `loudness` target the PCM is kept in a temporary file and normalized when complete.
    `metadata`: an FFmpeg ffmetadata file (title, chapters) for the output's container.
    `out`: where a stream goes instead of standard output."""
    if is_stdout(destination):
        return StreamEncoder(fmt, sample_rate_hz, out)
    if loudness is not None:
        from .loudness import LoudnessEncoder  # a WavWriter itself: imported when needed

        return LoudnessEncoder(destination, fmt, sample_rate_hz, loudness, metadata)
    if fmt.name == "wav" and metadata is None:
        return WavWriter(destination, sample_rate_hz)
    return Encoder(destination, fmt, sample_rate_hz, metadata)


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


def write_error(destination: Path, exc: OSError) -> OutputError:
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
            safefiles.remove_stale(self.destination)
            self._temporary = safefiles.TempFile(self.destination, tag)
            self._file = self._temporary.open("wb", buffering=1 << 20)
            self._file.write(header)
        except OSError as exc:
            self._discard()
            raise write_error(self.destination, exc) from None

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
            raise write_error(self.destination, exc) from None
        self.frames_written += int(pcm.shape[0])

    def finish(self) -> Path:
        data_bytes = self.frames_written * 2
        try:
            if data_bytes > wavfile.WAV_MAX_DATA_BYTES:
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
            raise write_error(self.destination, exc) from None
        return self.destination

    def abort(self) -> None:
        self._discard()


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
            safefiles.remove_stale(destination)
            self._temporary = safefiles.TempFile(destination)
        except OSError as exc:
            raise OutputError(f"cannot write {destination}: {exc.strerror or exc}") from exc
        self.partial = self._temporary.path
        target, pass_fds = ffmpeg_target(self._temporary)
        args = (
            ffmpeg.input("pipe:0", format="s16le", ar=sample_rate_hz, ac=1)
            .output(target, format=fmt.muxer, ar=sample_rate_hz, ac=1,
                    **codec_kwargs(fmt.codec_args), **fd_kwargs(pass_fds))
            .global_args("-nostdin", "-loglevel", "error", "-y")
            .compile(cmd=ffmpeg_exe())
        )
        if metadata is not None:
            extra_in, extra_out = metadata_args(metadata, fmt.muxer)
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
                self._send(wav_header(sample_rate_hz))  # sizes unknown: until the end
            return
        import ffmpeg

        self._out.flush()
        args = (
            ffmpeg.input("pipe:0", format="s16le", ar=sample_rate_hz, ac=1)
            .output("pipe:1", format=fmt.muxer, ar=sample_rate_hz, ac=1,
                    **codec_kwargs(fmt.codec_args))
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
