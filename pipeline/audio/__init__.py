"""Audio for the resample and concatenate stages, one module per concern:

- `formats`: the output formats (`--format`) and what a container carries
- `dsp`: resampling, gain, tempo, silence and splice edges on numpy arrays
- `wavfile`: WAV/RF64 headers and reading 16-bit WAV
- `ffmpeg_process`: the FFmpeg binary, its arguments, decoding any container
- `sinks`: the `Sink` interface and its WAV, FFmpeg and standard-output writers
- `loudness`: level measurement and EBU R128 loudness normalization

Resampling runs in-process (soxr, high quality); joining and encoding run in one FFmpeg
process per output, fed raw PCM on its stdin as chunks become ready. The names other modules
use are importable from `voxline.audio` itself.
"""

from .dsp import change_tempo, resample, silence, splice_edges, to_float_mono
from .ffmpeg_process import decode, ffmpeg_exe
from .formats import (FORMATS, OPUS_RATES, STDOUT, STREAMABLE, ContainerMetadata, OutputFormat,
                      is_stdout)
from .loudness import (LoudnessEncoder, LoudnessReport, LoudnessTarget, Measurement,
                       loudness_target, measure, measure_loudness)
from .sinks import Encoder, Sink, StreamEncoder, WavWriter, check_writable, open_encoder
from .wavfile import read_wav, rf64_header, wav_header

__all__ = [
    "FORMATS", "OPUS_RATES", "STDOUT", "STREAMABLE", "ContainerMetadata", "Encoder",
    "LoudnessEncoder", "LoudnessReport", "LoudnessTarget", "Measurement", "OutputFormat",
    "Sink", "StreamEncoder", "WavWriter", "change_tempo", "check_writable", "decode",
    "ffmpeg_exe", "is_stdout", "loudness_target", "measure", "measure_loudness",
    "open_encoder", "read_wav", "resample", "rf64_header", "silence", "splice_edges",
    "to_float_mono", "wav_header",
]
