"""What the server lets through: API keys, body and text sizes, and how many requests each
client (and all of them together) may have in progress."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .speech import RequestError

OPEN_PATHS = ("/health",)  # liveness probes and the seeds' routers ask without a key


@dataclass
class Limits:
    """`api_keys`: any of them is accepted as `Authorization: Bearer KEY` (none: no key
    needed). `per_client`: requests in progress from one client (its key, else its address)
    before 429; `max_in_flight`: in all before 503; both with `Retry-After`. Jobs
    (`/v1/jobs`) are not requests in progress: they wait in the server's job queue."""

    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    max_text_chars: int = 10_000
    per_client: int = 4
    max_in_flight: int = 64
    retry_after_s: int = 1
    max_upload_bytes: int = 50 << 20  # one POST /v1/jobs: its text or files together
    in_flight: int = field(default=0, init=False)
    _clients: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def authorized(self, authorization: str | None) -> bool:
        if not self.api_keys:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return any(hmac.compare_digest(given.strip().encode(), key.encode())
                   for key in self.api_keys)

    def client_of(self, request) -> str:
        """Whom a request counts against: its API key (hashed), else its address."""
        authorization = request.headers.get("authorization")
        if self.api_keys and authorization:  # the key itself, however the header spaces it
            key = authorization.partition(" ")[2].strip()
            return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        return "ip:" + (request.client.host if request.client else "?")

    def admit(self, client: str) -> Callable[[], None]:
        """Count one request in, or raise a 429/503 RequestError; returns its release (safe
        to call more than once)."""
        retry = {"Retry-After": str(self.retry_after_s)}
        with self._lock:
            if self.in_flight >= self.max_in_flight:
                raise RequestError(503, f"the server has {self.in_flight} requests in "
                                        "progress; try again shortly", kind="server_error",
                                   code="overloaded", headers=retry)
            if self._clients.get(client, 0) >= self.per_client:
                raise RequestError(429, f"at most {self.per_client} requests in progress per "
                                        "client; wait for one to finish", code="rate_limit_exceeded",
                                   kind="rate_limit_error", headers=retry)
            self.in_flight += 1
            self._clients[client] = self._clients.get(client, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self.in_flight -= 1
                left = self._clients[client] - 1
                if left:
                    self._clients[client] = left
                else:
                    del self._clients[client]

        return release

    def middleware(self, metrics):
        """ASGI middleware: the API key check, and each request's latency and status."""
        limits = self

        class Guard:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                if scope["type"] != "http":
                    return await self.app(scope, receive, send)
                path = scope["path"]
                started = time.perf_counter()
                status = {"code": 500}

                async def sending(message):
                    if message["type"] == "http.response.start":
                        status["code"] = message["status"]
                    await send(message)

                metrics.in_flight.inc()
                try:
                    headers = dict(scope["headers"])
                    authorization = headers.get(b"authorization", b"").decode("latin-1")
                    if path not in OPEN_PATHS and not limits.authorized(authorization):
                        from .app import error_response

                        response = error_response(RequestError(
                            401, "a valid API key is needed: Authorization: Bearer KEY",
                            code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
                        return await response(scope, receive, sending)
                    await self.app(scope, receive, sending)
                finally:
                    metrics.in_flight.dec()
                    metrics.finished(path, scope["method"], status["code"],
                                     time.perf_counter() - started)

        return Guard
