"""Prometheus metrics of a job, from the pipeline's event hooks (a plugin like any other).

`synth`/`tui --metrics-port` serve them while the job runs; `--metrics-textfile` writes them
for node_exporter's textfile collector when the batch ends. The names the seeds' servers use
are kept (`tts_req_total`, `tts_req_duration_seconds`) so existing dashboards keep working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

import voxline

from . import gpu
from .errors import OutputError, UsageError

# chunk synthesis on CPU engines takes 0.05-5 s, on remote servers up to a minute
REQUEST_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STAGE_BUCKETS_S = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0)
# --verify: error rates around the limits (0.25 CER, 0.4 WER) and the wrong-sentence range
ERROR_RATE_BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5)


class GpuCollector:
    """GPU gauges read through NVML at scrape time (nothing when there is no GPU)."""

    def __init__(self, sampler: Callable[[], gpu.GpuReport] = gpu.sample):
        self.sampler = sampler

    def collect(self):
        report = self.sampler()
        available = GaugeMetricFamily("voxline_gpu_available",
                                      "1 when NVML reads at least one NVIDIA GPU")
        available.add_metric([], 1.0 if report.available else 0.0)
        yield available
        families = {
            "memory_used": GaugeMetricFamily("voxline_gpu_memory_used_bytes",
                                             "GPU memory in use, device-wide",
                                             labels=["gpu", "name"]),
            "memory_total": GaugeMetricFamily("voxline_gpu_memory_total_bytes",
                                              "GPU memory in all", labels=["gpu", "name"]),
            "utilization": GaugeMetricFamily("voxline_gpu_utilization_ratio",
                                             "GPU busy time over the last sample period (0-1)",
                                             labels=["gpu", "name"]),
            "temperature": GaugeMetricFamily("voxline_gpu_temperature_celsius",
                                             "GPU core temperature", labels=["gpu", "name"]),
        }
        for d in report.devices:
            labels = [str(d.index), d.name]
            for key, value in (("memory_used", d.memory_used_bytes),
                               ("memory_total", d.memory_total_bytes),
                               ("utilization", None if d.utilization_percent is None
                                else d.utilization_percent / 100),
                               ("temperature", d.temperature_c)):
                if value is not None:
                    families[key].add_metric(labels, float(value))
        yield from families.values()


class JobMetrics:
    """Counts what jobs do. Register it on the plugin manager; every hook is thread-safe."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 gpu_sampler: Callable[[], gpu.GpuReport] | None = gpu.sample):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("tts_req", "Synthesis requests sent to backends, by outcome "
                                "(ok, error)", ["backend", "outcome"], registry=r)
        self.request_duration = Histogram(
            "tts_req_duration_seconds", "Time to synthesize one chunk, retries included",
            ["backend"], buckets=REQUEST_BUCKETS_S, registry=r)
        self.stage_duration = Histogram(
            "voxline_stage_duration_seconds", "Time in each pipeline stage (per document for "
            "read, ssml, normalize, segment, concatenate; per chunk for synthesize, resample)",
            ["stage"], buckets=STAGE_BUCKETS_S, registry=r)
        self.chunks = Counter("voxline_chunks", "Chunks finished, by the backend that served "
                              "them and whether the cache did", ["backend", "cached"],
                              registry=r)
        self.audio = Counter("voxline_audio_seconds", "Audio produced", registry=r)
        self.errors = Counter("voxline_backend_errors", "Failed synthesis attempts",
                              ["backend", "reason"], registry=r)
        self.retries = Counter("voxline_backend_retries", "Attempts retried on the same "
                               "backend", ["backend"], registry=r)
        self.fallbacks = Counter("voxline_backend_fallbacks", "Chunks handed to the next "
                                 "backend in the chain", ["backend"], registry=r)
        self.breaker_open = Gauge("voxline_backend_circuit_open", "1 while a backend's "
                                  "circuit breaker is open", ["backend"], registry=r)
        self.cache_hits = Counter("voxline_cache_hits", "Chunks served by the chunk cache",
                                  registry=r)
        self.cache_ratio = Gauge("voxline_cache_hit_ratio", "Share of finished chunks that "
                                 "came from the cache", registry=r)
        self.documents = Counter("voxline_documents", "Documents finished, by result",
                                 ["status"], registry=r)
        self.warnings = Counter("voxline_warnings", "Warnings raised about documents",
                                registry=r)
        self.running = Gauge("voxline_job_running", "1 while a job runs", registry=r)
        self.verify_error = Histogram(
            "voxline_verify_error_rate", "--verify: error rate of each chunk audio heard by "
            "the recognizer (CER for zh/yue, WER otherwise)", ["backend"],
            buckets=ERROR_RATE_BUCKETS, registry=r)
        self.verify_rejected = Counter("voxline_verify_rejected", "--verify: chunk audio "
                                       "turned down for an error rate over the limit",
                                       ["backend"], registry=r)
        self.node_chunks = Counter("voxline_node_chunks", "--executor ray: chunks whose audio "
                                   "a cluster node's actor produced, by node id and backend",
                                   ["node", "backend"], registry=r)
        if gpu_sampler is not None:
            r.register(GpuCollector(gpu_sampler))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._finished = 0
        self._hits = 0

    @voxline.hookimpl
    def job_started(self, job):
        self.running.set(1)

    @voxline.hookimpl
    def job_finished(self, job, report):
        self.running.set(0)

    @voxline.hookimpl
    def stage_finished(self, document, stage, duration_s, chunk):
        self.stage_duration.labels(stage).observe(duration_s)
        if stage == "synthesize":  # chunk_finished, on the same thread, names the backend
            self._local.synthesize_s = duration_s

    @voxline.hookimpl
    def chunk_finished(self, document, chunk, audio_duration_s, backend, cached):
        self.chunks.labels(backend, "yes" if cached else "no").inc()
        self.audio.inc(audio_duration_s)
        if cached:
            self.cache_hits.inc()
        else:
            self.requests.labels(backend, "ok").inc()
            self.request_duration.labels(backend).observe(
                getattr(self._local, "synthesize_s", 0.0))
        with self._lock:
            self._finished += 1
            self._hits += bool(cached)
            self.cache_ratio.set(self._hits / self._finished)

    @voxline.hookimpl
    def chunk_verified(self, document, chunk, backend, error_rate, limit, transcript):
        self.verify_error.labels(backend).observe(error_rate)
        if error_rate > limit:
            self.verify_rejected.labels(backend).inc()

    @voxline.hookimpl
    def attempt_failed(self, document, chunk, backend, reason, action):
        self.requests.labels(backend, "error").inc()
        self.errors.labels(backend, reason).inc()
        if action == "retry":
            self.retries.labels(backend).inc()
        elif action == "fallback":
            self.fallbacks.labels(backend).inc()

    @voxline.hookimpl
    def backend_state(self, backend, state):
        if "breaker" in state:
            self.breaker_open.labels(backend).set(1 if state["breaker"] == "open" else 0)
        if "node" in state:
            self.node_chunks.labels(state["node"], backend).inc()

    @voxline.hookimpl
    def document_finished(self, document, result):
        self.documents.labels("failed" if not result.ok else result.status).inc()

    @voxline.hookimpl
    def warning(self, document, message):
        self.warnings.inc()

    def write_textfile(self, path: Path) -> None:
        """Write every metric for node_exporter's textfile collector (atomically: a
        temporary file renamed into place, as the collector requires; created exclusively,
        never through a link)."""
        from prometheus_client import generate_latest

        from .safefiles import write_atomic

        try:
            write_atomic(Path(path), generate_latest(self.registry))
        except OSError as exc:
            raise OutputError(f"{path}: metrics could not be written: "
                              f"{exc.strerror or exc}") from exc


class MetricsServer:
    """The `/metrics` endpoint on `host:port` while a job runs."""

    def __init__(self, metrics: JobMetrics, address: str):
        from prometheus_client import start_http_server

        host, port = parse_address(address)
        try:
            self._server, self._thread = start_http_server(port, addr=host,
                                                           registry=metrics.registry)
        except OSError as exc:
            raise UsageError(f"--metrics-port {address}: cannot listen there: "
                             f"{exc.strerror or exc}") from exc
        self.host = host
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def parse_address(address: str | int) -> tuple[str, int]:
    """`PORT` (on 127.0.0.1) or `HOST:PORT`; port 0 picks a free one."""
    text = str(address)
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UsageError(f"--metrics-port {text}: expected PORT or HOST:PORT")
    return (host.strip("[]") or "127.0.0.1"), number


class MetricsExport:
    """What `--metrics-port` and `--metrics-textfile` set up around a job: the collector
    registered on `pm`, the endpoint served while the job runs, the textfile written at the
    end. Use as a context manager."""

    def __init__(self, pm, port: str | int | None, textfile: str | Path | None,
                 gpu_sampler: Callable[[], gpu.GpuReport] | None = gpu.sample):
        self.pm = pm
        self.metrics = JobMetrics(gpu_sampler=gpu_sampler)
        self.textfile = Path(textfile) if textfile else None
        self.server = MetricsServer(self.metrics, port) if port is not None else None

    def __enter__(self) -> MetricsExport:
        self.pm.register(self.metrics, name="voxline.metrics")
        return self

    def __exit__(self, *exc_info) -> None:
        self.pm.unregister(self.metrics)
        if self.server is not None:
            self.server.close()
        if self.textfile is not None:
            self.metrics.write_textfile(self.textfile)
