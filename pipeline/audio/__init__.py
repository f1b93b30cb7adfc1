"""Audio for the resample and concatenate stages, one module per concern:

- `formats`: the output formats (`--format`) and what a container carries
- `dsp`: resampling, gain, tempo, silence and splice edges on numpy arrays
- `wavfile`: WAV/RF64 headers and reading 16-bit WAV
- `ffmpeg_process`: the FFmpeg binary, its arguments, decoding any container
- `sinks`: the `Sink` interface and its WAV, FFmpeg and standard-output writers
- `loudness`: level measurement and EBU R128 loudness normalization

Resampling runs in-process (soxr, high quality); joining and encoding run in one FFmpeg
process per output, fed raw PCM on its stdin as chunks become ready. The names other modules
use are importable from `voxline.audio` itself; each module is imported when one of its names
is first used, so the command line can read the format table without loading numpy.
"""

from __future__ import annotations

import importlib

_MODULE_OF = {
    **dict.fromkeys(("change_tempo", "resample", "silence", "splice_edges", "to_float_mono"),
                    "dsp"),
    **dict.fromkeys(("decode", "ffmpeg_exe"), "ffmpeg_process"),
    **dict.fromkeys(("FORMATS", "OPUS_RATES", "STDOUT", "STREAMABLE", "ContainerMetadata",
                     "OutputFormat", "is_stdout"), "formats"),
    **dict.fromkeys(("LoudnessEncoder", "LoudnessReport", "LoudnessTarget", "Measurement",
                     "loudness_target", "measure", "measure_loudness"), "loudness"),
    **dict.fromkeys(("Encoder", "Sink", "StreamEncoder", "WavWriter", "check_writable",
                     "open_encoder"), "sinks"),
    **dict.fromkeys(("read_wav", "rf64_header", "wav_header"), "wavfile"),
}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
