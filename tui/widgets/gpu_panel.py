"""GPUs through NVML: memory, utilization, temperature and a short history per device; one
line when there is no GPU; GPU backends waiting for memory."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from voxline.gpu import GpuHistory, GpuSample

from ..state import JobView
from .format import gib, show


def describe(device: GpuSample) -> Text:
    if device.error:
        return Text(f"#{device.index} {device.name}: {device.error}", style="red")
    text = Text(f"#{device.index} ", style="bold")
    text.append(device.name.removeprefix("NVIDIA "))
    fraction = device.memory_fraction
    text.append(f"  mem {gib(device.memory_used_bytes)}/{gib(device.memory_total_bytes)} GiB")
    if fraction is not None:
        text.append(f" {fraction:.0%}", style="red" if fraction > 0.9 else
                    "yellow" if fraction > 0.6 else "green")
    util = device.utilization_percent
    text.append(f"  util {'?' if util is None else f'{util}%'}")
    temp = device.temperature_c
    text.append(f"  {'?' if temp is None else temp}°C")
    return text


class GpuDevice(Vertical):
    DEFAULT_CSS = """
    GpuDevice { height: auto; }
    GpuDevice .gpu-line { height: 1; }
    GpuDevice Horizontal { height: 1; }
    GpuDevice .spark-label { width: 6; color: $text-muted; }
    GpuDevice Sparkline { height: 1; }
    """

    def __init__(self, device: GpuSample, history: GpuHistory):
        super().__init__(id=f"gpu-{device.index}")
        self.index = device.index
        self._latest = (device, history)

    def on_mount(self) -> None:
        self._draw()

    def compose(self) -> ComposeResult:
        yield Static(classes="gpu-line")
        with Horizontal(classes="gpu-history"):
            yield Static("mem", classes="spark-label")
            yield Sparkline([], classes="mem-spark", summary_function=max)
        with Horizontal(classes="gpu-history"):
            yield Static("util", classes="spark-label")
            yield Sparkline([], classes="util-spark", summary_function=max)

    def refresh_from(self, device: GpuSample, history: GpuHistory) -> None:
        self._latest = (device, history)
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        device, history = self._latest
        show(self.query_one(".gpu-line", Static), describe(device))
        self.query_one(".mem-spark", Sparkline).data = history.memory_fractions(self.index)
        self.query_one(".util-spark", Sparkline).data = history.utilization_percents(self.index)


class GpuPanel(Vertical):
    DEFAULT_CSS = """
    GpuPanel { height: auto; border: round $primary; }
    GpuPanel #gpu-none { height: auto; color: $text-muted; }
    GpuPanel #gpu-admission { height: auto; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "GPU"
        yield Static("GPU: sampling…", id="gpu-none")
        yield Static(id="gpu-admission")

    def refresh_from(self, state: JobView, history: GpuHistory) -> None:
        report = history.latest
        none = self.query_one("#gpu-none", Static)
        none.display = not report.available
        if not report.available:
            show(none, f"GPU: {report.reason}", layout=True)
        shown = {child.index: child for child in self.query(GpuDevice)}
        wanted = {device.index for device in report.devices}
        for index, child in shown.items():
            if index not in wanted:
                child.remove()
        for device in report.devices:
            if device.index in shown:
                shown[device.index].refresh_from(device, history)
            else:
                self.mount(GpuDevice(device, history), before="#gpu-admission")
        waiting = [f"{row.name}: {row.health}" for row in state.backends.values()
                   if row.admission is not None]
        admission = self.query_one("#gpu-admission", Static)
        admission.display = bool(waiting)
        show(admission, Text("admission: " + "; ".join(waiting), style="yellow"), layout=True)
