"""`/metrics`: the pipeline's own metrics (`voxline.metrics.JobMetrics`, fed by every
request's job) plus the server's: request latency, time to first audio, in-flight."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

import voxline
from voxline.metrics import JobMetrics

ROUTES = ("/v1/audio/speech", "/v1/models", "/v1/jobs", "/api/tts", "/tts", "/health",
          "/metrics")
LATENCY_BUCKETS_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                     60.0)


class ServerMetrics:
    def __init__(self, pm):
        self.jobs = JobMetrics()
        pm.register(self.jobs, name="voxline.server.metrics")
        r = self.jobs.registry
        self.requests = Counter("voxline_http_requests", "HTTP requests answered, by route, "
                                "method and status", ["route", "method", "status"], registry=r)
        self.latency = Histogram("voxline_http_request_duration_seconds", "From a request's "
                                 "arrival to the end of its answer (the whole stream)",
                                 ["route"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.first_audio = Histogram("voxline_http_first_audio_seconds", "From a speech "
                                     "request's arrival to its first audio byte", ["route"],
                                     buckets=LATENCY_BUCKETS_S, registry=r)
        self.in_flight = Gauge("voxline_http_in_flight", "HTTP requests in progress",
                               registry=r)
        self.batch_size = Histogram("voxline_backend_batch_size", "Chunks per call of a "
                                    "batching backend (chunks of different requests batch "
                                    "together)", ["backend"], buckets=(1, 2, 4, 8, 16, 32, 64),
                                    registry=r)
        pm.register(self, name="voxline.server.http-metrics")

    def watch_queue(self, waiting_chunks, waiting_jobs) -> None:
        """The queue depth gauges, read when /metrics is asked: `waiting_chunks()` the
        synthesis tasks of all requests and jobs that wait for a free worker,
        `waiting_jobs()` the jobs not yet started."""
        r = self.jobs.registry
        Gauge("voxline_queue_depth", "Synthesis tasks (chunks of requests and jobs) waiting "
              "for a free worker", registry=r).set_function(waiting_chunks)
        Gauge("voxline_jobs_queued", "Jobs (POST /v1/jobs) waiting to start",
              registry=r).set_function(waiting_jobs)

    @voxline.hookimpl
    def backend_state(self, backend, state):
        if "batch" in state:  # a batching backend ran one batch of this many chunks
            self.batch_size.labels(backend).observe(state["batch"])

    @staticmethod
    def route(path: str) -> str:
        if path.startswith("/v1/jobs/"):  # one series for all jobs, not one per id
            return "/v1/jobs/{id}/files" if "/files/" in path else "/v1/jobs/{id}"
        return path if path in ROUTES else "other"  # unknown paths must not add series

    def finished(self, path: str, method: str, status: int, seconds: float) -> None:
        route = self.route(path)
        self.requests.labels(route, method if method in ("GET", "POST") else "other",
                             str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def first_byte(self, path: str, seconds: float) -> None:
        self.first_audio.labels(self.route(path)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.jobs.registry), CONTENT_TYPE_LATEST
