"""SIGTERM, what systemd, docker and `timeout` send, handled like Ctrl-C: the job stops
starting chunks, finished ones stay in the cache and the manifest, no partial file is left,
the same command resumes it, and the exit code is 143 (128 + SIGTERM), as shells report a
process the signal ended."""

from __future__ import annotations

import signal
from collections.abc import Callable

from voxline.errors import EXIT_TERMINATED

_received = False
_handlers: list[Callable[[], None]] = []


def handle_sigterm() -> None:
    """From now on SIGTERM stops the process cleanly (call from the main thread)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def on_terminate(handler: Callable[[], None]) -> Callable[[], None]:
    """Call `handler` (in the main thread, inside the signal handler: it must only schedule
    work) instead of interrupting the main thread, for as long as it is registered; the
    terminal UI ends its job this way. Returns what unregisters it."""
    _handlers.append(handler)
    return lambda: _handlers.remove(handler) if handler in _handlers else None


def terminated() -> bool:
    return _received


def exit_code(code: int) -> int:
    """The process's exit code: 143 once SIGTERM arrived, whatever the job made of it."""
    return EXIT_TERMINATED if _received else code


def _on_sigterm(signum, frame) -> None:
    global _received
    if _received:  # once: a second SIGTERM must not cut the clean-up of the first short
        return
    _received = True
    if _handlers:
        for handler in list(_handlers):
            handler()
        return
    raise KeyboardInterrupt  # what Ctrl-C raises: every clean-up path already handles it
