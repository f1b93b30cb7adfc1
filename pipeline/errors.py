"""Errors a user can cause, each with the exit code the CLI maps it to.

The exit codes are part of voxline's contract (docs/reference/exit-codes.md, tested against
these constants); keep them stable.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_BACKEND = 4
EXIT_OUTPUT = 5
EXIT_PLUGIN = 6
EXIT_BUSY = 8
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM


class VoxlineError(Exception):
    """Base class for errors with a user-facing message and an exit code."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, hint: str | None = None):
        from .redact import redact

        # a message is printed, stored in the manifest and logged: never with a credential
        message, hint = redact(message), redact(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(VoxlineError):
    """Options or arguments that cannot work together."""

    exit_code = EXIT_USAGE


class InputError(VoxlineError):
    """An input that cannot be read, decoded or parsed, or that holds nothing to speak."""

    exit_code = EXIT_INPUT


class SSMLError(InputError):
    """Malformed or refused SSML; carries the position of the problem."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"invalid SSML{where}: {message}")
        self.line = line
        self.column = column


class BackendError(VoxlineError):
    """A speech backend that is missing, unusable or failed to produce audio.

    `reason` is a short label for counting failures (`timeout`, `connection refused`,
    `http 503`, `too short`, ...); `retryable` says whether the same request may succeed if
    sent again (a timeout may, a 404 will not).
    """

    exit_code = EXIT_BACKEND

    def __init__(self, message: str, *, hint: str | None = None, reason: str = "error",
                 retryable: bool = False):
        super().__init__(message, hint=hint)
        self.reason = reason
        self.retryable = retryable


class OutputError(VoxlineError):
    """An output that cannot be written."""

    exit_code = EXIT_OUTPUT


class JobBusy(VoxlineError):
    """The same job is running in another live process; running it twice at once would
    write the same outputs and manifest."""

    exit_code = EXIT_BUSY


class PluginError(VoxlineError):
    """A plugin that is broken: bad hook name, bad registration, name collision."""

    exit_code = EXIT_PLUGIN
