"""The HTTP routes: the OpenAI audio API, the seeds' `/api/tts`, `/health` and `GET /tts`,
and `/metrics`. Errors are JSON in OpenAI's shape (`{"error": {"message", "type", "param",
"code"}}`) everywhere, so one client handles them all."""

from __future__ import annotations

import json
import logging
import math
import time
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from voxline import audio as audio_mod

from .limits import Limits
from .speech import (OPENAI_SAMPLE_RATE_HZ, RESPONSE_FORMATS, RequestError, SpeechRequest,
                     SpeechService, SpeechStream)

if TYPE_CHECKING:
    from .jobs import JobQueue

log = logging.getLogger("voxline.server")


def error_response(error: RequestError) -> JSONResponse:
    return JSONResponse({"error": {"message": error.message, "type": error.kind,
                                   "param": error.param, "code": error.code}},
                        status_code=error.status, headers=error.headers)


class AudioStreamResponse(StreamingResponse):
    """A streamed answer that notices a client going away while it waits for the next chunk
    (not only when a send fails), so the request's job is cancelled at once."""

    def __init__(self, content, *, on_close, **kwargs):
        super().__init__(content, **kwargs)
        self.on_close = on_close  # frees the request's job, whether it ends well or not

    async def __call__(self, scope, receive, send) -> None:
        import anyio

        try:
            async with anyio.create_task_group() as group:
                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            self.on_close()


def create_app(service: SpeechService, limits: Limits | None = None, *,
               jobs: "JobQueue | None" = None,
               request_timeout_s: float | None = None) -> Starlette:
    """The server's ASGI application around one `SpeechService`; `jobs`: the long-form
    jobs API (`/v1/jobs`); `request_timeout_s`: a speech request that has waited this long
    for its audio in all is ended (504 when no audio was sent yet)."""
    from .metrics import ServerMetrics

    limits = limits or Limits()
    metrics = ServerMetrics(service.pm)
    metrics.watch_queue(lambda: service.executor.waiting,
                        (lambda: jobs.queued()) if jobs is not None else (lambda: 0))

    def timed_out() -> RequestError:
        return RequestError(504, f"the speech took longer than this server's limit of "
                                 f"{request_timeout_s:g} s; send shorter text or use "
                                 "POST /v1/jobs", kind="server_error", code="timeout")

    class Budget:
        """A request's time for synthesis: spent only while it waits for audio, so a client
        that plays a long answer at its own pace is not cut off."""

        def __init__(self):
            self.left_s = request_timeout_s

    async def read_within(job: SpeechStream, budget: Budget) -> bytes:
        """The job's next audio, or a 504 RequestError once the budget is spent."""
        import asyncio

        if budget.left_s is None:
            return await job.read()
        started = time.monotonic()
        try:
            return await asyncio.wait_for(job.read(), max(0.0, budget.left_s))
        except asyncio.TimeoutError:
            raise timed_out() from None
        finally:
            budget.left_s -= time.monotonic() - started

    async def body_of(request: Request, most: int | None = None) -> dict:
        most = most or limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > most:
            raise too_large(most)
        raw = bytearray()
        try:
            async for part in request.stream():
                raw.extend(part)
                if len(raw) > most:
                    raise too_large(most)
        except ClientDisconnect:
            raise RequestError(400, "the request body was cut short") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}",
                               code="invalid_json") from None
        if not isinstance(data, dict):
            raise RequestError(400, "the body must be a JSON object", code="invalid_json")
        return data

    def too_large(most: int | None = None) -> RequestError:
        return RequestError(413, f"request body over {most or limits.max_body_bytes} bytes",
                            code="request_too_large")

    def text_of(value, param: str) -> str:
        if value is None:
            raise RequestError(400, f"'{param}' is required", param=param)
        if not isinstance(value, str):
            raise RequestError(400, f"'{param}' must be a string", param=param)
        if not value.strip():
            raise RequestError(400, f"'{param}' is empty: nothing to speak", param=param)
        if len(value) > limits.max_text_chars:
            raise RequestError(413, f"'{param}' is {len(value)} characters; this server takes "
                                    f"at most {limits.max_text_chars} in one request",
                               param=param, code="input_too_long")
        return value

    def speed_of(value) -> float:
        if value is None:
            return 1.0
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not 0.25 <= value <= 4.0):
            raise RequestError(400, "'speed' must be a number from 0.25 to 4.0",
                               param="speed")
        return float(value)

    def optional_str(data: dict, key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise RequestError(400, f"'{key}' must be a string", param=key)
        return value

    async def stream(request: Request, speech: SpeechRequest, whole: bool = False) -> Response:
        """The audio of `speech`: streamed from its first chunk, or (`whole`) as one
        complete body; a job that fails before any audio is an error answer instead."""
        started = time.perf_counter()
        budget = Budget()
        release = limits.admit(limits.client_of(request))
        try:
            job = service.start(speech)
        except BaseException:
            release()
            raise

        def done() -> None:
            job.close()
            release()

        media_type = RESPONSE_FORMATS[speech.response_format][1]
        streaming = False
        try:
            first = await read_within(job, budget)
            if not first:
                await job.finished()
                failure = job.failure()
                if failure is not None:
                    raise failure
            metrics.first_byte(request.url.path, time.perf_counter() - started)
            if not whole:
                streaming = True
                return AudioStreamResponse(chunks(job, first, budget), media_type=media_type,
                                           headers={"X-Accel-Buffering": "no"},
                                           on_close=done)
            data = bytearray(first)
            while part := await read_within(job, budget):
                data.extend(part)
            await job.finished()
            failure = job.failure()
            if failure is not None:
                raise failure
            return Response(complete_wav(data, speech), media_type=media_type)
        finally:
            if not streaming:
                done()

    def complete_wav(data: bytearray, speech: SpeechRequest) -> bytes:
        """A streamed WAV's header given its real sizes, for clients that read the whole."""
        if speech.response_format != "wav" or len(data) < 44:
            return bytes(data)
        rate = int.from_bytes(data[24:28], "little")
        return audio_mod.wav_header(rate, len(data) - 44) + bytes(data[44:])

    async def chunks(job: SpeechStream, first: bytes, budget: Budget):
        yield first
        try:
            while part := await read_within(job, budget):
                yield part
        except RequestError as error:  # the headers are gone: the stream ends short
            log.warning("request ended early: %s", error.message)
            return
        await job.finished()
        failure = job.failure()
        if failure is not None:  # the headers are gone: the stream ends short
            log.warning("request ended early: %s", failure.message)

    def openai_request(data: dict, default_format: str = "mp3") -> SpeechRequest:
        text = text_of(data.get("input"), "input")
        response_format = optional_str(data, "response_format") or default_format
        if response_format not in RESPONSE_FORMATS:
            raise RequestError(400, f"unknown response_format {response_format!r} (one of "
                                    f"{', '.join(RESPONSE_FORMATS)})", param="response_format")
        backend, voice = service.resolve(optional_str(data, "model"),
                                         optional_str(data, "voice"))
        return SpeechRequest(text, backend, voice, speed_of(data.get("speed")),
                             response_format, OPENAI_SAMPLE_RATE_HZ)

    async def speech_endpoint(request: Request) -> Response:
        return await stream(request, openai_request(await body_of(request)))

    async def speech_socket(socket: WebSocket) -> None:
        """`/v1/audio/speech/stream`: one JSON request as the OpenAI endpoint takes it
        (`response_format` pcm by default), answered by a `start` event, the audio as binary
        messages, a `chunk` event as each chunk is made, and `end` (or `error`)."""
        import asyncio

        await socket.accept()
        release = job = None
        try:
            raw = await socket.receive_text()
            if not limits.authorized(socket.headers.get("authorization")):
                raise RequestError(401, "a valid API key is needed: Authorization: Bearer KEY",
                                   code="invalid_api_key")
            if len(raw) > limits.max_body_bytes:
                raise too_large()
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise RequestError(400, f"the message is not valid JSON: {exc}",
                                   code="invalid_json") from None
            if not isinstance(data, dict):
                raise RequestError(400, "the message must be a JSON object",
                                   code="invalid_json")
            speech = openai_request(data, "pcm")
            budget = Budget()
            release = limits.admit(limits.client_of(socket))
            loop = asyncio.get_running_loop()
            events: asyncio.Queue = asyncio.Queue()
            job = service.start(speech, lambda event: loop.call_soon_threadsafe(
                events.put_nowait, event))
            await socket.send_json({"event": "start", "format": speech.response_format,
                                    "sample_rate_hz": speech.sample_rate_hz, "channels": 1})
            reading = asyncio.ensure_future(job.read())
            waiting = asyncio.ensure_future(events.get())
            try:
                while True:
                    started_wait = time.monotonic()
                    left = None if budget.left_s is None else max(0.0, budget.left_s)
                    await asyncio.wait({reading, waiting}, timeout=left,
                                       return_when=asyncio.FIRST_COMPLETED)
                    if budget.left_s is not None:
                        budget.left_s -= time.monotonic() - started_wait
                        if not reading.done() and not waiting.done():
                            raise timed_out()
                    if waiting.done():
                        await socket.send_json(waiting.result())
                        waiting = asyncio.ensure_future(events.get())
                    if reading.done():
                        part = reading.result()
                        if not part:
                            break
                        await socket.send_bytes(part)
                        reading = asyncio.ensure_future(job.read())
            finally:
                reading.cancel()
                waiting.cancel()
            await job.finished()
            while not events.empty():
                await socket.send_json(events.get_nowait())
            failure = job.failure()
            if failure is not None:
                raise failure
            report = job.report.documents[0]
            await socket.send_json({"event": "end", "chunks": report.chunks,
                                    "cached": report.cached,
                                    "audio_s": round(report.audio_s, 3)})
            await socket.close()
        except RequestError as error:
            await socket.send_json({"event": "error", "status": error.status,
                                    "error": {"message": error.message, "type": error.kind,
                                              "param": error.param, "code": error.code}})
            await socket.close(code=1008 if error.status in (401, 429, 503) else 1003)
        except WebSocketDisconnect:
            pass
        finally:
            if job is not None:
                job.close()
            if release is not None:
                release()

    async def models_endpoint(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": service.models()})

    async def api_tts(request: Request) -> Response:
        """Seed 000's deployments: `{"text", "voice", "speed"}` in, one WAV body out. Voice
        names voxline does not have (the seed's `zh_female_shanghai`) get the routed voice,
        as a router moving between deployments expects."""
        data = await body_of(request)
        text = text_of(data.get("text"), "text")
        voice = lenient_voice(optional_str(data, "voice"))
        return await stream(request, SpeechRequest(text, None, voice,
                                                   speed_of(data.get("speed"))), whole=True)

    def lenient_voice(name: str | None) -> str | None:
        try:
            return service.resolve(None, name)[1]
        except RequestError:
            return None

    async def tts_get(request: Request) -> Response:
        """Seed 003's gateway: `GET /tts?text=…` streams WAV."""
        text = text_of(request.query_params.get("text"), "text")
        voice = request.query_params.get("voice")
        backend, voice = service.resolve(None, voice) if voice else (None, None)
        return await stream(request, SpeechRequest(text, backend, voice))

    async def health(request: Request) -> Response:
        """Seed 000's `/health`: `gpu_mem_percent` (0-1, the fullest GPU; 0 without one)."""
        from voxline import gpu

        report = gpu.sample()
        fractions = [d.memory_fraction for d in report.devices if d.memory_fraction is not None]
        return JSONResponse({"status": "ok",
                             "gpu_mem_percent": round(max(fractions, default=0.0), 4),
                             "gpu": report.reason if not report.available else
                             ", ".join(d.name for d in report.devices),
                             "in_flight": limits.in_flight,
                             "backends": service.default_backends()})

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # -- jobs: long-form work ---------------------------------------------------------------

    def job_queue() -> "JobQueue":
        if jobs is None:
            raise RequestError(404, "this server takes no jobs", code="not_found")
        return jobs

    async def job_submit(request: Request) -> Response:
        """`POST /v1/jobs`: JSON `{"input": TEXT, "name": NAME, SETTING: VALUE, …}`, or a
        multipart form with `file` parts (and `input`, `name`, settings as fields)."""
        queue = job_queue()
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes:
            raise too_large_upload()
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind == "multipart/form-data":
            documents, values = await job_form(request)
        else:
            data = await body_of(request, limits.max_upload_bytes)
            documents, values = job_text(data), data
        for key in ("input", "name"):
            values.pop(key, None)
        return JSONResponse(queue.submit(documents, values, owner_of(request)),
                            status_code=201)

    def owner_of(request: Request) -> str | None:
        """With API keys, a job belongs to the key that submitted it (by its hash)."""
        return limits.client_of(request) if limits.api_keys else None

    def too_large_upload() -> RequestError:
        return RequestError(413, f"a job's upload is over {limits.max_upload_bytes} bytes",
                            code="request_too_large")

    def job_text(data: dict) -> list[tuple[str, bytes]]:
        value = data.get("input")
        if value is None:
            return []
        if not isinstance(value, str):
            raise RequestError(400, "'input' must be a string", param="input")
        if not value.strip():
            raise RequestError(400, "'input' is empty: nothing to speak", param="input")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise RequestError(400, "'name' must be a string", param="name")
        extension = ".ssml" if value.lstrip().startswith("<speak") else ".txt"
        stem = (name or "input").removesuffix(extension)
        return [(stem + extension, value.encode("utf-8"))]

    async def job_form(request: Request) -> tuple[list[tuple[str, bytes]], dict]:
        received = 0

        async def receive():
            nonlocal received
            message = await request.receive()
            received += len(message.get("body", b""))
            if received > limits.max_upload_bytes:
                raise too_large_upload()
            return message

        try:
            form = await Request(request.scope, receive).form(max_files=100, max_fields=100)
        except ClientDisconnect:
            raise RequestError(400, "the request body was cut short") from None
        except RequestError:
            raise
        except Exception as exc:  # the multipart parser's own errors
            raise RequestError(400, f"the form cannot be read: {exc}",
                               code="invalid_form") from None
        try:
            documents, values = [], {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    values[key] = value
                elif key == "file":
                    documents.append((value.filename or "input.txt", await value.read()))
                else:
                    raise RequestError(400, f"a file was sent as {key!r}; send files as "
                                            "'file'", param=key)
        finally:
            await form.close()
        documents.extend(job_text(values))
        return documents, values

    async def job_list(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": job_queue().list(owner_of(request))})

    async def job_get(request: Request) -> Response:
        return JSONResponse(job_queue().describe(request.path_params["id"], owner_of(request)))

    async def job_delete(request: Request) -> Response:
        return JSONResponse(job_queue().cancel(request.path_params["id"], owner_of(request)))

    async def job_file(request: Request) -> Response:
        from starlette.responses import FileResponse

        path = job_queue().file(request.path_params["id"], request.path_params["name"],
                                owner_of(request))
        return FileResponse(path, filename=path.name)

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        return error_response(RequestError(status, f"{request.method} {request.url.path}: "
                                                   + ("not found" if status == 404 else
                                                      "method not allowed"),
                                           code="not_found" if status == 404 else None))

    async def request_error(request: Request, exc: RequestError) -> Response:
        return error_response(exc)

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path)
        return error_response(RequestError(500, f"internal error: {type(exc).__name__}",
                                           kind="server_error"))

    routes = [
        Route("/v1/audio/speech", speech_endpoint, methods=["POST"]),
        Route("/v1/models", models_endpoint, methods=["GET"]),
        Route("/v1/jobs", job_submit, methods=["POST"]),
        Route("/v1/jobs", job_list, methods=["GET"]),
        Route("/v1/jobs/{id}", job_get, methods=["GET"]),
        Route("/v1/jobs/{id}", job_delete, methods=["DELETE"]),
        Route("/v1/jobs/{id}/files/{name:path}", job_file, methods=["GET"]),
        WebSocketRoute("/v1/audio/speech/stream", speech_socket),
        Route("/api/tts", api_tts, methods=["POST"]),
        Route("/tts", tts_get, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        404: not_found, 405: not_found, RequestError: request_error,
        Exception: internal})
    app.add_middleware(limits.middleware(metrics))
    return app
