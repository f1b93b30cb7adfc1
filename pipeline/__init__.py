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
from .normalize import Normalizer, roman_numeral_value  # noqa: E402
from .safefiles import write_atomic  # noqa: E402
from .verify import Recognizer, Transcript, error_rate  # noqa: E402
from .weights import model_folder  # noqa: E402

__all__ = [
    "__version__",
    "hookimpl",
    "Audio",
    "Backend",
    "BackendError",
    "BackendHost",
    "Capabilities",
    "Chunk",
    "Document",
    "GpuAdmission",
    "GpuReport",
    "GpuSample",
    "Health",
    "HttpBackend",
    "InputError",
    "Normalizer",
    "Option",
    "OutputError",
    "PhonemeSpan",
    "PluginError",
    "Prosody",
    "Recognizer",
    "Router",
    "SSMLError",
    "Sentence",
    "SynthesisRequest",
    "Terms",
    "Transcript",
    "UsageError",
    "error_rate",
    "model_folder",
    "roman_numeral_value",
    "sample_gpus",
    "Voice",
    "VoxlineError",
    "write_atomic",
]
