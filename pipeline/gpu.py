"""GPU facts through NVML (`nvidia-ml-py`, module `pynvml`), never an exception.

No library, no driver or no GPU is a result (`GpuReport.available` False with the reason),
not a crash. A query that fails on one device leaves that field None; a device that cannot
be opened at all (lost, no permission) is listed with its `error`. The TUI's GPU panel, the
metrics exporter, `voxline doctor` and GPU admission all read GPUs through `sample()`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    utilization_percent: int | None
    temperature_c: int | None
    error: str | None = None  # the device could not be read at all

    @property
    def memory_fraction(self) -> float | None:
        if self.memory_used_bytes is None or not self.memory_total_bytes:
            return None
        return self.memory_used_bytes / self.memory_total_bytes


@dataclass(frozen=True)
class GpuReport:
    available: bool
    reason: str
    devices: tuple[GpuSample, ...] = ()


# why NVML could not start, in words a user can act on
_INIT_REASONS = {
    "NVMLError_LibraryNotFound": "no NVIDIA GPU (the NVIDIA driver's NVML library is not installed)",
    "NVMLError_DriverNotLoaded": "no NVIDIA GPU (the NVIDIA driver is not loaded)",
    "NVMLError_NoPermission": "NVIDIA GPU not readable (no permission to use NVML)",
    "NVMLError_LibRmVersionMismatch": "NVIDIA driver and library versions differ "
                                      "(a reboot after a driver update usually fixes it)",
}

_lock = threading.Lock()  # NVML's init/shutdown are reference counted, not thread-safe


def _nvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _query(nvml, fn, *args):
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _device(nvml, index: int) -> GpuSample:
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except nvml.NVMLError as exc:
        return GpuSample(index, f"GPU {index}", None, None, None, None, error=str(exc))
    memory = _query(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
    utilization = _query(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    temperature = _query(nvml, nvml.nvmlDeviceGetTemperature, handle,
                         nvml.NVML_TEMPERATURE_GPU)
    return GpuSample(
        index=index,
        name=_text(_query(nvml, nvml.nvmlDeviceGetName, handle) or f"GPU {index}"),
        memory_used_bytes=None if memory is None else int(memory.used),
        memory_total_bytes=None if memory is None else int(memory.total),
        utilization_percent=None if utilization is None else int(utilization.gpu),
        temperature_c=None if temperature is None else int(temperature),
    )


def sample(nvml: ModuleType | None = None) -> GpuReport:
    """Read every NVIDIA GPU once. `nvml` is the `pynvml` module (a stand-in in tests)."""
    nvml = nvml or _nvml()
    if nvml is None:
        return GpuReport(False, "no GPU monitoring (nvidia-ml-py is not installed)")
    with _lock:
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            return GpuReport(False, _INIT_REASONS.get(type(exc).__name__,
                                                      f"no NVIDIA GPU (NVML: {exc})"))
        except Exception as exc:  # a broken install must not take the caller down
            return GpuReport(False, f"no NVIDIA GPU (NVML could not start: {exc})")
        try:
            count = nvml.nvmlDeviceGetCount()
            devices = tuple(_device(nvml, index) for index in range(count))
        except nvml.NVMLError as exc:
            return GpuReport(False, f"NVIDIA GPUs could not be listed (NVML: {exc})")
        finally:
            try:
                nvml.nvmlShutdown()
            except nvml.NVMLError:
                pass
    if not devices:
        return GpuReport(False, "no NVIDIA GPU (driver loaded, no devices)")
    return GpuReport(True, f"{len(devices)} NVIDIA GPU(s)", devices)


class GpuHistory:
    """The last `length` samples of each GPU, for sparklines and trends."""

    def __init__(self, length: int = 60):
        self.length = length
        self.latest = GpuReport(False, "not sampled yet")
        self._memory: dict[int, deque[float]] = {}
        self._utilization: dict[int, deque[float]] = {}

    def add(self, report: GpuReport) -> None:
        self.latest = report
        for device in report.devices:
            for series, value in ((self._memory, device.memory_fraction),
                                  (self._utilization, device.utilization_percent)):
                if value is not None:
                    series.setdefault(device.index, deque(maxlen=self.length)).append(
                        float(value))

    def memory_fractions(self, index: int) -> list[float]:
        return list(self._memory.get(index, ()))

    def utilization_percents(self, index: int) -> list[float]:
        return list(self._utilization.get(index, ()))


class GpuAdmission:
    """Holds new GPU work while the device's memory use (device-wide, as NVML reports it,
    not one process's share) is over `threshold`; the seeds advise 60 % to keep a shared card
    from running out of memory. Local GPU backends call `wait()` before each batch and report
    the waiting through `on_state` (the TUI shows it).

    With no GPU there is nothing to protect: `wait()` returns at once.
    """

    def __init__(self, threshold: float = 0.6, device: int | None = None,
                 sampler=None, poll_s: float = 0.5, on_state=None, sleep=None):
        self.threshold = threshold
        self.device = device
        self.sampler = sampler or sample
        self.poll_s = poll_s
        self.on_state = on_state or (lambda state: None)
        self.sleep = sleep or time.sleep

    def memory_fraction(self) -> float | None:
        """The watched device's memory use (the fullest device when none is chosen)."""
        report = self.sampler()
        fractions = [d.memory_fraction for d in report.devices
                     if d.memory_fraction is not None
                     and (self.device is None or d.index == self.device)]
        return max(fractions) if fractions else None

    def wait(self, cancelled=lambda: False) -> float:
        """Return when memory use is at or under the threshold (or `cancelled()` is true);
        the seconds spent waiting."""
        fraction = self.memory_fraction()
        if fraction is None or fraction <= self.threshold:
            return 0.0
        self.on_state({"admission": "waiting", "gpu_memory_fraction": fraction,
                       "threshold": self.threshold})
        waited = 0.0
        while fraction is not None and fraction > self.threshold and not cancelled():
            self.sleep(self.poll_s)
            waited += self.poll_s
            fraction = self.memory_fraction()
        self.on_state({"admission": "admitted", "gpu_memory_fraction": fraction,
                       "threshold": self.threshold, "waited_s": waited})
        return waited
