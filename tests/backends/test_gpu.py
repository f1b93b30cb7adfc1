"""The NVML wrapper: the real pynvml here (no GPU), and a stand-in raising each NVML error."""

from __future__ import annotations

import types

import pynvml
import pytest

from voxline import gpu

GiB = 2**30


class FakeNvml:
    """Speaks pynvml's interface, with its real error classes; `fail` maps a function name to
    the NVML error code it raises."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, devices=2, fail=None):
        self.devices = devices
        self.fail = fail or {}
        self.shutdowns = 0

    def _maybe_fail(self, name):
        if name in self.fail:
            raise pynvml.NVMLError(self.fail[name])

    def nvmlInit(self):
        self._maybe_fail("nvmlInit")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        self._maybe_fail("nvmlDeviceGetCount")
        return self.devices

    def nvmlDeviceGetHandleByIndex(self, index):
        self._maybe_fail(f"handle{index}")
        return index

    def nvmlDeviceGetName(self, handle):
        self._maybe_fail("nvmlDeviceGetName")
        return b"NVIDIA A10" if handle == 0 else "NVIDIA L4"

    def nvmlDeviceGetMemoryInfo(self, handle):
        self._maybe_fail("nvmlDeviceGetMemoryInfo")
        return types.SimpleNamespace(used=(6 + handle) * GiB, total=24 * GiB,
                                     free=(18 - handle) * GiB)

    def nvmlDeviceGetUtilizationRates(self, handle):
        self._maybe_fail("nvmlDeviceGetUtilizationRates")
        return types.SimpleNamespace(gpu=40 + handle, memory=10)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self._maybe_fail("nvmlDeviceGetTemperature")
        return 61 + handle


def test_real_pynvml_on_a_machine_without_gpu_is_a_clean_empty_result():
    report = gpu.sample()
    if report.available:  # pragma: no cover - only on a GPU machine
        assert all(d.memory_total_bytes for d in report.devices)
        return
    assert report.devices == ()
    assert report.reason.startswith("no NVIDIA GPU")


def test_two_gpus_are_read_with_units():
    report = gpu.sample(FakeNvml())
    assert report.available and report.reason == "2 NVIDIA GPU(s)"
    first, second = report.devices
    assert (first.name, first.memory_used_bytes, first.memory_total_bytes,
            first.utilization_percent, first.temperature_c) == ("NVIDIA A10", 6 * GiB, 24 * GiB,
                                                               40, 61)
    assert second.name == "NVIDIA L4" and second.memory_fraction == pytest.approx(7 / 24)


@pytest.mark.parametrize("code, reason", [
    (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "library is not installed"),
    (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver is not loaded"),
    (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
    (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "versions differ"),
    (pynvml.NVML_ERROR_UNKNOWN, "NVML: Unknown Error"),
    (pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES, "no NVIDIA GPU (NVML: "),
])
def test_nvml_that_cannot_start_is_a_reason_not_a_crash(code, reason):
    fake = FakeNvml(fail={"nvmlInit": code})
    report = gpu.sample(fake)
    assert not report.available and report.devices == ()
    assert reason in report.reason


def test_a_device_count_error_is_reported_and_nvml_shut_down():
    fake = FakeNvml(fail={"nvmlDeviceGetCount": pynvml.NVML_ERROR_UNKNOWN})
    report = gpu.sample(fake)
    assert not report.available and "could not be listed" in report.reason
    assert fake.shutdowns == 1


@pytest.mark.parametrize("query, field", [
    ("nvmlDeviceGetMemoryInfo", "memory_used_bytes"),
    ("nvmlDeviceGetUtilizationRates", "utilization_percent"),
    ("nvmlDeviceGetTemperature", "temperature_c"),
])
@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVML_ERROR_NO_PERMISSION,
                                  pynvml.NVML_ERROR_GPU_IS_LOST, pynvml.NVML_ERROR_TIMEOUT])
def test_a_failing_query_leaves_only_its_field_empty(query, field, code):
    report = gpu.sample(FakeNvml(fail={query: code}))
    assert report.available and len(report.devices) == 2
    for device in report.devices:
        assert getattr(device, field) is None
        assert device.name.startswith("NVIDIA") and device.error is None


def test_a_lost_gpu_is_listed_with_its_error_and_the_other_is_read():
    report = gpu.sample(FakeNvml(fail={"handle1": pynvml.NVML_ERROR_GPU_IS_LOST}))
    first, lost = report.devices
    assert first.memory_total_bytes == 24 * GiB
    assert lost.error == "GPU is lost" and lost.memory_fraction is None


def test_history_keeps_a_bounded_series_per_gpu():
    history = gpu.GpuHistory(length=3)
    for _ in range(5):
        history.add(gpu.sample(FakeNvml()))
    assert history.memory_fractions(0) == [0.25] * 3
    assert history.utilization_percents(1) == [41.0] * 3
    history.add(gpu.sample(FakeNvml(fail={"nvmlInit": pynvml.NVML_ERROR_DRIVER_NOT_LOADED})))
    assert not history.latest.available and history.memory_fractions(0) == [0.25] * 3


class Memory:
    """A sampler whose first device's memory use follows a script, one value per sample."""

    def __init__(self, *used_gib):
        self.used = list(used_gib)

    def __call__(self):
        used = self.used.pop(0) if len(self.used) > 1 else self.used[0]
        return gpu.GpuReport(True, "1 NVIDIA GPU(s)", (
            gpu.GpuSample(0, "NVIDIA A10", int(used * GiB), 24 * GiB, 50, 60),))


def test_admission_lets_work_through_under_the_threshold():
    states = []
    admission = gpu.GpuAdmission(0.6, sampler=Memory(12.0), on_state=states.append,
                                 sleep=lambda s: pytest.fail("should not wait"))
    assert admission.wait() == 0.0 and states == []


def test_admission_holds_work_while_memory_is_over_the_threshold():
    states, slept = [], []
    admission = gpu.GpuAdmission(0.6, sampler=Memory(20.0, 18.0, 15.0, 12.0), poll_s=0.5,
                                 on_state=states.append, sleep=slept.append)
    assert admission.wait() == 1.5 and slept == [0.5, 0.5, 0.5]
    assert [s["admission"] for s in states] == ["waiting", "admitted"]
    assert states[0]["gpu_memory_fraction"] == pytest.approx(20 / 24)
    assert states[1]["gpu_memory_fraction"] == pytest.approx(0.5)


def test_admission_gives_up_waiting_when_the_job_is_cancelled():
    admission = gpu.GpuAdmission(0.6, sampler=Memory(23.0), sleep=lambda s: None)
    calls = iter([False, False, True])
    assert admission.wait(cancelled=lambda: next(calls)) == 1.0


def test_admission_without_a_gpu_never_waits():
    no_gpu = gpu.GpuAdmission(0.6, sampler=lambda: gpu.GpuReport(False, "no NVIDIA GPU"),
                              sleep=lambda s: pytest.fail("should not wait"))
    assert no_gpu.wait() == 0.0
    assert gpu.GpuAdmission(0.6).wait() == 0.0  # this machine, through the real NVML
