"""Running FFmpeg: where its binary is, the arguments voxline gives it, and reading what it
decodes. FFmpeg comes from `imageio-ffmpeg`'s static binary, so nothing needs a system install.
"""

from __future__ import annotations

import functools
import io
import re
import subprocess
import wave
from pathlib import Path

import numpy as np

from .. import safefiles
from ..models import Audio
from .formats import COVER_MUXERS, ContainerMetadata
from .wavfile import read_wav


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def codec_kwargs(codec_args: tuple[str, ...]) -> dict[str, str]:
    return {key.lstrip("-"): value for key, value in zip(codec_args[::2], codec_args[1::2])}


def metadata_args(metadata: "Path | ContainerMetadata | None",
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


def ffmpeg_target(temporary: "safefiles.TempFile") -> tuple[str, tuple[int, ...]]:
    """Where FFmpeg writes a temporary file voxline created: through its descriptor
    (`-fd N fd:`) when this FFmpeg can, so FFmpeg never opens a name itself; else by path
    (the file exists, created exclusively, and is checked again before it is published)."""
    if safefiles.ffmpeg_writes_to_descriptors(ffmpeg_exe()):
        return "fd:", (temporary.fd,)
    return str(temporary.path), ()


def fd_kwargs(pass_fds: tuple[int, ...]) -> dict[str, str]:
    return {"fd": str(pass_fds[0])} if pass_fds else {}


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
