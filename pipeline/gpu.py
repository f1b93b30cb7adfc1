"""GPU facts through NVML (`nvidia-ml-py`, module `pynvml`), never an exception.

No library, no driver or no GPU is a result (`GpuReport.available` False with the reason),
not a crash. Every query that fails on a device leaves that field None.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    utilization_percent: int | None
    temperature_c: int | None

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


def _query(fn, *args):
    import pynvml

    try:
        return fn(*args)
    except pynvml.NVMLError:
        return None


def sample() -> GpuReport:
    """Read every NVIDIA GPU once."""
    try:
        import pynvml
    except ImportError:
        return GpuReport(False, "nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return GpuReport(False, f"no NVIDIA GPU ({exc})")
    try:
        count = pynvml.nvmlDeviceGetCount()
        devices = []
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = _query(pynvml.nvmlDeviceGetName, handle) or "NVIDIA GPU"
            memory = _query(pynvml.nvmlDeviceGetMemoryInfo, handle)
            utilization = _query(pynvml.nvmlDeviceGetUtilizationRates, handle)
            temperature = _query(pynvml.nvmlDeviceGetTemperature, handle,
                                 pynvml.NVML_TEMPERATURE_GPU)
            devices.append(GpuSample(
                index=index,
                name=name.decode() if isinstance(name, bytes) else str(name),
                memory_used_bytes=None if memory is None else int(memory.used),
                memory_total_bytes=None if memory is None else int(memory.total),
                utilization_percent=None if utilization is None else int(utilization.gpu),
                temperature_c=None if temperature is None else int(temperature),
            ))
    except pynvml.NVMLError as exc:
        return GpuReport(False, f"NVML error: {exc}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    if not devices:
        return GpuReport(False, "no NVIDIA GPU (driver loaded, no devices)")
    return GpuReport(True, f"{len(devices)} NVIDIA GPU(s)", tuple(devices))
