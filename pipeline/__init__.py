"""voxline: long-form text to speech files through a pluggable pipeline.

What plugins may import is listed in `__all__`. Importing voxline is cheap: no numpy, torch,
textual or onnxruntime is imported until a stage or backend needs it.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("voxline")

from .backend import Backend, BackendHost, Router  # noqa: E402
from .errors import (  # noqa: E402
    BackendError,
    InputError,
    OutputError,
    PluginError,
    SSMLError,
    UsageError,
    VoxlineError,
)
from .models import (  # noqa: E402
    Audio,
    Capabilities,
    Chunk,
    Document,
    Health,
    InputStatus,
    Option,
    PhonemeSpan,
    Prosody,
    Sentence,
    SynthesisRequest,
    Terms,
    Voice,
)
from .gpu import GpuAdmission, GpuReport, GpuSample  # noqa: E402
from .gpu import sample as sample_gpus  # noqa: E402
from .http import HttpBackend  # noqa: E402
from .normalize import Normalizer, digit_name, roman_numeral_value  # noqa: E402
from .safefiles import write_atomic  # noqa: E402
from .reading import (  # noqa: E402
    LINE_BREAK,
    MAX_PART_BYTES,
    Block,
    BlockBuilder,
    BookInfo,
    ReadBook,
    Reader,
    ReadOptions,
    Section,
    language_of,
    paragraph,
    parse_xml,
    read_limited,
    sections_from_blocks,
    split_headings,
    tidy,
)
from .htmltext import element_language, html_blocks  # noqa: E402
from .htmltext import types as element_types  # noqa: E402
from .textio import read_document  # noqa: E402
from .verify import Recognizer, Transcript, error_rate  # noqa: E402
from .weights import model_folder  # noqa: E402

__all__ = [
    "__version__",
    "hookimpl",
    "Audio",
    "Backend",
    "BackendError",
    "BackendHost",
    "Block",
    "BlockBuilder",
    "BookInfo",
    "Capabilities",
    "Chunk",
    "Document",
    "GpuAdmission",
    "GpuReport",
    "GpuSample",
    "Health",
    "HttpBackend",
    "InputError",
    "InputStatus",
    "LINE_BREAK",
    "MAX_PART_BYTES",
    "Normalizer",
    "Option",
    "OutputError",
    "PhonemeSpan",
    "PluginError",
    "Prosody",
    "ReadBook",
    "ReadOptions",
    "Reader",
    "Recognizer",
    "Router",
    "SSMLError",
    "Section",
    "Sentence",
    "SynthesisRequest",
    "Terms",
    "Transcript",
    "UsageError",
    "element_language",
    "element_types",
    "error_rate",
    "html_blocks",
    "language_of",
    "model_folder",
    "paragraph",
    "parse_xml",
    "read_document",
    "read_limited",
    "sections_from_blocks",
    "split_headings",
    "tidy",
    "roman_numeral_value",
    "digit_name",
    "sample_gpus",
    "Voice",
    "VoxlineError",
    "write_atomic",
]
