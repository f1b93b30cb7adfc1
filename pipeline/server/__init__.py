"""`voxline serve`: the pipeline behind HTTP (the `serve` extra: Starlette on uvicorn).

`app.create_app` builds the ASGI application around a `speech.SpeechService`, the one
long-lived pipeline whose backends stay loaded between requests.
"""

from __future__ import annotations

from voxline.errors import UsageError


def require_extra() -> None:
    """A clear error when the `serve` extra is not installed."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"voxline serve needs the serve extra ({exc.name} is not installed)",
                         hint="pip install 'voxline[serve]'") from None
