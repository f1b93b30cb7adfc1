"""Small text helpers shared by the widgets."""

from __future__ import annotations

from rich.text import Text

BAR_WIDTH = 12


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def bar(fraction: float, width: int = BAR_WIDTH, style: str = "green") -> Text:
    fraction = min(1.0, max(0.0, fraction))
    filled = int(round(fraction * width))
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {fraction:4.0%}")
    return text


def millis(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f}" if seconds < 10 else f"{seconds * 1000:.2e}"



def gib(n_bytes: int | None) -> str:
    return "?" if n_bytes is None else f"{n_bytes / 2**30:.1f}"


def show(static, content, *, layout: bool = False) -> None:
    """Update a Static only when its content changed; without a layout pass unless asked
    (a layout pass re-renders the whole screen)."""
    if getattr(static, "_voxline_shown", None) != content:
        static._voxline_shown = content
        static.update(content, layout=layout)
