"""The HTTP side shared by every server backend: one pooled client per backend instance,
connect and read timeouts, and errors translated into one-line messages that name the backend
and the URL and say whether sending the request again can help.

Logs get one line per request (backend, method, URL, status, bytes, seconds), never audio
bytes or request bodies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from .backend import Backend
from .errors import BackendError
from .models import Audio, Capabilities, Option

log = logging.getLogger("voxline.http")

DEFAULT_CONCURRENCY = 8


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class HttpBackend(Backend):
    """Base for backends that talk to a server.

    Options (all from `[backends.NAME]`): `url` (else the environment variable `url_env`),
    `connect_timeout` (s, default 5), `read_timeout` (s, default 120), `concurrency` (requests
    in flight at once, default 8), `api_key_env` (name of an environment variable holding a
    bearer token).
    """

    # the options every server backend takes: a subclass's `option_specs` adds its own to
    # these (`option_specs = HttpBackend.http_options + (...)`)
    http_options: ClassVar[tuple[Option, ...]] = (
        Option("url", str, None, "the server's base URL"),
        Option("connect_timeout", float, 5.0, "seconds", 0.1, 600),
        Option("read_timeout", float, 120.0, "seconds", 0.1, 3600),
        Option("concurrency", int, DEFAULT_CONCURRENCY, "requests in flight at once", 1, 256),
        Option("api_key_env", str, None, "the environment variable holding a bearer token"),
    )
    url_env: ClassVar[str | None] = None
    default_url: ClassVar[str | None] = None
    default_read_timeout_s: ClassVar[float] = 120.0
    cache_ignore = frozenset({"connect_timeout", "read_timeout", "concurrency", "api_key_env",
                              "health_timeout", "gpu_threshold", "parallel"})
    # a server's capabilities usually depend on its configuration: set this to a function
    # of the options (`[backends.NAME]`) and `configured_capabilities` uses it
    capabilities_for: ClassVar[Callable[[Mapping[str, Any]], Capabilities] | None] = None

    @classmethod
    def configured_capabilities(cls, options: Mapping[str, Any],
                                capabilities_of: Callable[[str], Capabilities]) -> Capabilities:
        if cls.capabilities_for is None:
            return cls.capabilities
        return cls.capabilities_for(options)

    def __init__(self, options: Mapping[str, Any] | None = None, *, threads: int = 1):
        super().__init__(options, threads=threads)
        self.url = self.resolve_url(self.options)
        self.connect_timeout_s = float(self.options.get("connect_timeout", 5.0))
        self.read_timeout_s = float(self.options.get("read_timeout",
                                                     self.default_read_timeout_s))
        self.concurrency = int(self.options.get("concurrency", DEFAULT_CONCURRENCY))
        key_env = self.options.get("api_key_env")
        self.api_key = os.environ.get(key_env) if key_env else None
        self._client = None
        self._client_lock = threading.Lock()

    @classmethod
    def resolve_url(cls, options: Mapping[str, Any]) -> str:
        url = options.get("url") or (os.environ.get(cls.url_env) if cls.url_env else None) \
            or cls.default_url
        where = f"set {cls.url_env} or " if cls.url_env else "set "
        if not url:
            raise BackendError(f"backend {cls.name!r} has no server URL",
                               hint=f"{where}url in [backends.{cls.name}]",
                               reason="not configured")
        url = str(url).strip()
        if "://" not in url:
            url = "http://" + url
        if not url.startswith(("http://", "https://")):
            raise BackendError(f"backend {cls.name!r}: URL {url!r} is not http:// or https://",
                               reason="not configured")
        return url.rstrip("/")

    # -- the client --------------------------------------------------------------------

    def client(self):
        import httpx

        with self._client_lock:
            if self._client is None:
                headers = {"User-Agent": "voxline"}
                if self.api_key:
                    headers["Authorization"] = f"Bearer {self.api_key}"
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
                    limits=httpx.Limits(max_connections=self.concurrency,
                                        max_keepalive_connections=self.concurrency),
                    headers=headers,
                )
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def endpoint(self, path: str) -> str:
        return f"{self.url}{path}"

    # -- requests ----------------------------------------------------------------------

    def request(self, method: str, path: str, *, json_body: Any = None,
                timeout_s: float | None = None, expect: str = "audio"):
        """Send one request and return the response once its whole body has arrived; any
        failure becomes a `BackendError`. `expect` is `audio` or `json` (what a 2xx
        response must hold: an HTML page is an error either way)."""
        url = self.endpoint(path)
        started = time.perf_counter()
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = json_body
        if timeout_s is not None:
            import httpx

            kwargs["timeout"] = httpx.Timeout(timeout_s, connect=min(timeout_s,
                                                                     self.connect_timeout_s))
        response = None
        try:
            with self.translate(url):
                response = self.client().request(method, url, **kwargs)
        finally:
            status = response.status_code if response is not None else "-"
            size = len(response.content) if response is not None else 0
            log.info("%s %s %s -> %s, %d bytes, %.3fs", self.name, method, url, status, size,
                     time.perf_counter() - started)
        self.check(response, url, expect)
        return response

    @contextlib.contextmanager
    def stream(self, method: str, path: str, *, json_body: Any = None) -> Iterator[Any]:
        """A streamed response (for NDJSON and chunked audio), status already checked."""
        url = self.endpoint(path)
        started = time.perf_counter()
        status: Any = "-"
        try:
            with self.translate(url):
                with self.client().stream(method, url, json=json_body) as response:
                    status = response.status_code
                    if response.status_code >= 300:
                        response.read()
                        self.check(response, url, "json")
                    yield response
        finally:
            log.info("%s %s %s -> %s (streamed), %.3fs", self.name, method, url, status,
                     time.perf_counter() - started)

    @contextlib.contextmanager
    def translate(self, url: str) -> Iterator[None]:
        """httpx's exceptions as `BackendError`s naming this backend and `url`."""
        import httpx

        def fail(what: str, reason: str, retryable: bool = True) -> BackendError:
            return BackendError(f"{self.name} at {url}: {what}", reason=reason,
                                retryable=retryable)

        try:
            yield
        except httpx.ConnectTimeout:
            raise fail(f"no connection within {self.connect_timeout_s:g}s", "connect timeout")
        except httpx.TimeoutException:
            raise fail("timed out waiting for the server", "timeout")
        except httpx.ConnectError as exc:
            text = str(exc).lower()
            if "refused" in text:
                raise fail("connection refused (is the server running?)", "connection refused")
            if "name" in text and ("resolution" in text or "not known" in text
                                   or "resolve" in text):
                raise fail("host name not found", "dns", retryable=False)
            raise fail(f"cannot connect: {_short(str(exc), 80)}", "connect error")
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise fail(f"connection dropped: {_short(str(exc), 80) or type(exc).__name__}",
                       "connection dropped")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise fail(f"bad URL: {exc}", "bad url", retryable=False)
        except httpx.HTTPError as exc:
            raise fail(f"{type(exc).__name__}: {_short(str(exc), 80)}", "http error")

    def check(self, response, url: str, expect: str) -> None:
        """Raise a `BackendError` for an answer that is not what a working server sends."""
        status = response.status_code
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if 200 <= status < 300:
            if content_type in ("text/html", "application/xhtml+xml") or \
                    response.content[:64].lstrip().lower().startswith((b"<!doctype html",
                                                                        b"<html")):
                raise BackendError(
                    f"{self.name} at {url}: answered with an HTML page, not "
                    f"{'audio' if expect == 'audio' else 'JSON'} (is the URL right?)",
                    reason="html", retryable=False)
            return
        detail = self.server_message(response)
        reason = f"http {status}"
        name = f"{status} {response.reason_phrase}".strip()
        if status in (404, 405):
            hint = "" if "model" in detail else " (is the URL's path right?)"
            raise BackendError(f"{self.name} at {url}: {name}{detail}{hint}",
                               reason=reason, retryable=False)
        if status in (401, 403):
            raise BackendError(f"{self.name} at {url}: {name}{detail} (check the API key)",
                               reason=reason, retryable=False)
        retryable = status in (408, 409, 425, 429) or status >= 500
        error = BackendError(f"{self.name} at {url}: {name}{detail}", reason=reason,
                             retryable=retryable)
        retry_after = response.headers.get("retry-after")
        if retry_after:
            try:
                error.retry_after_s = float(retry_after)  # type: ignore[attr-defined]
            except ValueError:
                pass
        raise error

    @staticmethod
    def server_message(response) -> str:
        """The server's own short explanation from an error body, if it gave one."""
        content_type = response.headers.get("content-type", "")
        try:
            if "json" in content_type:
                data = response.json()
                if isinstance(data, dict):
                    message = data.get("error") or data.get("detail") or data.get("message")
                    if isinstance(message, dict):
                        message = message.get("message")
                    if message:
                        return f": {_short(str(message))}"
            elif content_type.startswith("text/plain") and response.content:
                return f": {_short(response.text)}"
        except (ValueError, json.JSONDecodeError):
            pass
        return ""

    def decode_audio(self, response, url: str) -> Audio:
        """The audio in a response body, in whatever container it came; the sample rate is
        the one the data says."""
        from . import audio as audio_mod

        data = response.content
        if not data:
            raise BackendError(f"{self.name} at {url}: empty audio body", reason="no audio",
                               retryable=True)
        content_type = response.headers.get("content-type", "")
        if "json" in content_type:
            raise BackendError(f"{self.name} at {url}: answered with JSON, not audio"
                               f"{self.server_message(response)}", reason="not audio",
                               retryable=False)
        try:
            return audio_mod.decode(data)
        except ValueError as exc:
            raise BackendError(f"{self.name} at {url}: {exc} ({len(data)} bytes, "
                               f"{content_type or 'no content type'})", reason="bad audio",
                               retryable=True) from None
