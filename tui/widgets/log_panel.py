"""Recent warnings and errors (short lines: no audio, no server bodies)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from ..state import JobView
from .format import clock

LEVEL_STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}


class LogPanel(RichLog):
    DEFAULT_CSS = """
    LogPanel { border: round $primary; height: 1fr; min-height: 3; }
    """

    def __init__(self, **kwargs):
        super().__init__(max_lines=500, wrap=False, markup=False, **kwargs)
        self.border_title = "Log"
        self._shown = 0

    def refresh_from(self, state: JobView) -> None:
        new = state.log_count - self._shown
        if new <= 0:
            return
        start = state.started_at or 0.0
        for line in list(state.log)[-min(new, len(state.log)):]:
            text = Text(f"{clock(max(0.0, line.at_s - start))} ", style="dim")
            text.append(line.text, style=LEVEL_STYLES.get(line.level, ""))
            self.write(text)
        self._shown = state.log_count
