"""`/metrics`: the pipeline's own metrics (`voxline.metrics.JobMetrics`, fed by every
request's job) plus the server's: request latency, time to first audio, in-flight."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from voxline.metrics import JobMetrics

ROUTES = ("/v1/audio/speech", "/v1/models", "/api/tts", "/tts", "/health", "/metrics")
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

    @staticmethod
    def route(path: str) -> str:
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
