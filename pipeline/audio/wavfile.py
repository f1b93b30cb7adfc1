"""The WAV and RF64 file layout: headers for a file or a stream, and reading 16-bit WAV."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..models import Audio


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
