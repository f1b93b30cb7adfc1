"""`--executor ray`: synthesis tasks on Ray actors that each hold one loaded engine.

The driver stays this process (see `voxline.executor`). Each backend a job uses gets up to
`--workers` actors, as many as the cluster's free resources hold: `num_gpus` for a backend
whose capabilities say `needs_gpu` or that `[synth] ray_gpu_backends` names (`[synth]
ray_gpus`, fractions allowed so several share a card), `num_cpus` otherwise. A batching
backend batches inside its actor, which takes several calls at once for that. An actor lost with its node costs only the tasks it had in flight:
they are sent to the backend's other actors (new ones are placed where the cluster has room),
and counted as `lost` in the report.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from .backend import Router
from .errors import BackendError, UsageError, VoxlineError
from .executor import SynthesisTask, TaskError, TaskResult, run_task
from .models import Capabilities

INSTALL_HINT = "install it with: pip install 'voxline[ray]'"
READY_TIMEOUT_S = 300.0  # loading a model on a busy node can take minutes


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed",
                         hint=INSTALL_HINT) from None
    return ray


# the start of an HTTP/2 connection (a Ray head's GCS is a gRPC server): the client preface,
# then an empty SETTINGS frame; an HTTP/2 server answers with a SETTINGS frame of its own
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def check_address(address: str | None, timeout_s: float = 3.0) -> None:
    """A `host:port` address that nothing answers on, or where something other than a gRPC
    server (a Ray head) answers, is a usage error now, not a minute of Ray retrying and
    logging (`auto`, `ray://…` and no address are left to Ray)."""
    if not address or address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"Ray address {address!r} is not HOST:PORT")
    try:
        connection = socket.create_connection((host, int(port)), timeout=timeout_s)
    except OSError as exc:
        raise UsageError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); "
                         "start one with `ray start --head` or fix --ray-address") from None
    answer = b""
    try:
        with connection:
            connection.sendall(_H2_PREFACE)
            while len(answer) < 9:  # a frame header: length (3), type (1), flags, stream
                got = connection.recv(9 - len(answer))
                if not got:
                    break
                answer += got
    except OSError:  # a timeout, or the connection reset: not a gRPC server either
        pass
    if len(answer) < 9 or answer[3] != 0x04:
        raise UsageError(f"{address} answers, but not as a Ray cluster's head (its GCS port, "
                         "6379 unless `ray start --head --port` said otherwise); "
                         "fix --ray-address") from None


class _Remote:
    """What the driver needs of a backend whose engine lives in actors."""

    def __init__(self, name: str, capabilities: Capabilities):
        self.name = name
        self.capabilities = capabilities


class _NoHost:
    def backend(self, name: str):
        raise BackendError(f"backend {name!r} is not reachable from a Ray actor")

    def emit(self, name: str, state: Mapping[str, Any]) -> None:
        pass


class EngineActor:
    """The body of one actor: one engine, loaded once, running tasks."""

    def __init__(self, cls: type, options: dict, capabilities: Capabilities, threads: int,
                 batch_size: int):
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.error: str | None = None
        self.backend = None
        try:
            instance = cls(options, threads=threads)
            instance.capabilities = capabilities
            instance.attach(_NoHost())
            if capabilities.batches:
                from .batching import BatchingBackend

                instance = BatchingBackend(instance, batch_size)
            self.backend = instance
        except Exception as exc:  # reported by ready(), once, as the backend's start failure
            self.error = (exc.message if isinstance(exc, VoxlineError)
                          else f"backend {cls.name!r} could not start: {exc}")

    def ready(self) -> tuple[str, str | None]:
        return self.node, self.error

    def run(self, task: SynthesisTask) -> TaskResult:
        return run_task(self.backend, task, self.node)


class RayExecutor:
    """Tasks on Ray actors (see the module docstring)."""

    kind = "ray"

    def __init__(self, registry, settings, on_state: Callable[..., None] | None = None,
                 local: Callable[[str], Any] | None = None, close_local=lambda: None):
        ray = connect(settings.ray_address)
        self._ray = ray
        self._registry = registry
        self._settings = settings
        self._local = local  # routers run on the driver
        self._on_state = on_state
        self._close_local = close_local
        self._lock = threading.Lock()
        self._actors: dict[str, list] = {}
        self._busy: Counter = Counter()  # actor → tasks in flight
        self._broken: dict[str, BackendError] = {}
        self.nodes: Counter = Counter()  # node id → chunks served
        self.lost = 0  # tasks whose actor died under them, run again elsewhere
        self.placed: Counter = Counter()  # backend → actors started for it
        self.placement_s = 0.0  # time spent starting actors and loading their engines

    # -- placement ---------------------------------------------------------------------

    def _resources(self, name: str, caps: Capabilities) -> dict[str, float]:
        if wants_gpu(name, caps, self._settings):
            return {"num_gpus": self._settings.ray_gpus, "num_cpus": 0}
        return {"num_cpus": 1}

    def _place(self, name: str, wanted: int) -> list:
        """Up to `wanted` new actors for backend `name`, as many as the cluster has free
        resources for; each has loaded its engine when this returns."""
        started = time.perf_counter()
        try:
            return self._start_actors(name, wanted)
        finally:
            self.placement_s += time.perf_counter() - started

    def _start_actors(self, name: str, wanted: int) -> list:
        ray = self._ray
        cls = self._registry.backend(name)
        caps = self._registry.capabilities(name)
        need = self._resources(name, caps)
        free = ray.available_resources()
        if "num_gpus" in need:
            have, unit, per = free.get("GPU", 0.0), "GPU", need["num_gpus"]
        else:
            have, unit, per = free.get("CPU", 0.0), "CPU", need["num_cpus"]
        fits = int(have // per + 1e-9) if per else wanted
        count = min(wanted, fits)
        if count < 1:
            raise BackendError(
                f"the Ray cluster has no free {unit} for backend {name!r} (each actor needs "
                f"{per:g} {unit}; free: {have:g})", reason="no resources")
        room = 2 * (self._settings.batch_size or 16) if caps.batches else 1
        size = self._settings.batch_size or 16
        # spread: a lost node then takes as few of a backend's actors with it as it can
        actor_cls = ray.remote(EngineActor).options(max_concurrency=room, max_restarts=0,
                                                    scheduling_strategy="SPREAD", **need)
        actors = [actor_cls.remote(cls, self._settings.backend_options(name), caps, 1, size)
                  for _ in range(count)]
        try:
            ready = ray.get([a.ready.remote() for a in actors], timeout=READY_TIMEOUT_S)
        except Exception as exc:
            for actor in actors:
                ray.kill(actor)
            raise BackendError(f"backend {name!r} could not start on the Ray cluster: "
                               f"{str(exc).splitlines()[0]}") from None
        errors = [error for _, error in ready if error]
        if errors:
            for actor in actors:
                ray.kill(actor)
            raise BackendError(errors[0])
        self.placed[name] += len(actors)
        return actors

    def backend(self, name: str) -> Any:
        cls = self._registry.backend(name)
        if issubclass(cls, Router):
            return self._local(name)
        with self._lock:
            if name in self._broken:
                raise self._broken[name]
            if name not in self._actors:
                try:
                    self._actors[name] = self._place(name, self._settings.workers)
                except BackendError as exc:
                    self._broken[name] = exc
                    raise
        return _Remote(name, self._registry.capabilities(name))

    # -- running -------------------------------------------------------------------------

    def _pick(self, name: str):
        with self._lock:
            actors = self._actors.get(name) or []
            if not actors:
                try:
                    actors = self._actors[name] = self._place(name, self._settings.workers)
                except BackendError:
                    return None
            actor = min(actors, key=lambda a: self._busy[a])
            self._busy[actor] += 1
            return actor

    def _drop(self, name: str, actor) -> None:
        with self._lock:
            actors = self._actors.get(name, [])
            if actor in actors:
                actors.remove(actor)

    def run(self, task: SynthesisTask) -> TaskResult:
        ray = self._ray
        from ray.exceptions import RayActorError, RayTaskError

        while True:
            actor = self._pick(task.backend)
            if actor is None:
                return TaskResult(task.backend, error=TaskError(
                    f"backend {task.backend!r} lost its Ray actors and the cluster has no "
                    "room for new ones", reason="node lost", retryable=True))
            try:
                result = ray.get(actor.run.remote(task))
            except RayActorError:
                self._drop(task.backend, actor)
                with self._lock:
                    self.lost += 1
                continue
            except RayTaskError as exc:  # a usage error raised by the task: the job stops
                cause = getattr(exc, "cause", None)
                if isinstance(cause, VoxlineError):
                    raise cause from None
                raise
            finally:
                with self._lock:
                    self._busy[actor] -= 1
            if result.error is None:
                with self._lock:
                    self.nodes[result.node] += 1
                if self._on_state is not None:  # monitors: which node served the backend
                    self._on_state(task.backend, {"node": result.node})
            return result

    def describe(self) -> dict:
        with self._lock:
            return {"kind": self.kind, "address": self._settings.ray_address or "auto",
                    "actors": dict(sorted(self.placed.items())),
                    "nodes": dict(self.nodes), "lost": self.lost,
                    "placement_s": round(self.placement_s, 3)}

    def close(self) -> None:
        with self._lock:
            actors = [a for group in self._actors.values() for a in group]
            self._actors.clear()
        for actor in actors:
            try:
                self._ray.kill(actor)
            except Exception:  # a node already gone: nothing left to stop
                pass
        self._close_local()


def connect(address: str | None) -> Any:
    """Join the Ray cluster at `address` (None: RAY_ADDRESS, else a local Ray instance) as a
    quiet driver; `UsageError` in one line when there is none, or Ray is not installed."""
    ray = _ray()
    check_address(address)
    if not ray.is_initialized():
        # Ray's C++ core logs each failed attempt to reach the GCS on the process's stderr
        # (fd 2), twenty lines before the Python error: kept out of voxline's stderr, which
        # says what went wrong in one line
        saved = os.dup(2)
        try:
            with tempfile.TemporaryFile() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    ray.init(address=address or None, namespace="voxline",
                             logging_level=logging.WARNING, log_to_driver=False,
                             include_dashboard=False if not address else None,
                             configure_logging=False)
                finally:
                    os.dup2(saved, 2)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"cannot join the Ray cluster at {address or 'auto'}: "
                             f"{str(exc).splitlines()[0]}") from None
        finally:
            os.close(saved)
    # Ray prints the cluster's warnings ("(raylet) WARNING: …") on this process's stdout,
    # which is voxline's output (--json, `-o -` audio): log_to_driver does not stop them
    worker_mod = getattr(getattr(ray, "_private", None), "worker", None)
    if worker_mod is not None and hasattr(worker_mod, "_worker_logs_enabled"):
        worker_mod._worker_logs_enabled = False
    return ray


def wants_gpu(name: str, caps: Capabilities, settings) -> bool:
    """Whether backend `name`'s actors ask Ray for GPUs: its capabilities say `needs_gpu`, or
    `[synth] ray_gpu_backends` names it (a backend that also runs on a CPU)."""
    return caps.needs_gpu or name in settings.ray_gpu_backends


def actor_needs(name: str, caps: Capabilities, settings) -> dict[str, float]:
    """What one actor of backend `name` asks Ray for."""
    if wants_gpu(name, caps, settings):
        return {"GPU": settings.ray_gpus}
    return {"CPU": 1.0}


def cluster_report(registry, settings) -> dict:
    """`voxline doctor --executor ray`: the cluster's live nodes with their resources (total
    and free), and for each backend what one actor needs, how many the free resources hold
    now, and whether any node could hold one at all."""
    ray = connect(settings.ray_address)
    nodes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        total = {k: v for k, v in node.get("Resources", {}).items()
                 if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
        nodes.append({"id": node["NodeID"], "address": node.get("NodeManagerAddress", ""),
                      "head": "node:__internal_head__" in node.get("Resources", {}),
                      "resources": dict(sorted(total.items()))})
    free = ray.available_resources()
    backends = []
    for name in sorted(registry.backends):
        cls = registry.backend(name)
        if issubclass(cls, Router):
            backends.append({"backend": name, "placeable": True, "actors": None,
                             "needs": {}, "detail": "a router: runs on the driver"})
            continue
        need = actor_needs(name, registry.capabilities(name), settings)
        unit, per = next(iter(need.items()))
        fits_node = any(n["resources"].get(unit, 0.0) + 1e-9 >= per for n in nodes)
        actors = int(free.get(unit, 0.0) // per + 1e-9)
        if not fits_node:
            detail = f"no node has {per:g} {unit} for one actor"
        elif not actors:
            detail = f"needs {per:g} {unit} per actor; none free now"
        else:
            detail = f"needs {per:g} {unit} per actor; room for {actors} now"
        backends.append({"backend": name, "placeable": fits_node, "actors": actors,
                         "needs": need, "detail": detail})
    return {"address": settings.ray_address or "auto", "nodes": nodes,
            "free": {k: v for k, v in sorted(free.items())
                     if not k.startswith("node:") and k not in ("memory",
                                                                "object_store_memory")},
            "backends": backends}
