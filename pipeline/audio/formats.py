"""The output formats users name with `--format`, and what an output's container carries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
