"""Backends: health, chunks served, cache hits, retries, fallbacks, real-time factor, and a
router's current choice."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from ..state import JobState

HEALTH_STYLES = {"ok": "green", "idle": "dim", "circuit open": "bold red", "probing": "yellow"}


class BackendsPanel(Vertical):
    DEFAULT_CSS = """
    BackendsPanel { height: auto; border: round $primary; }
    BackendsPanel DataTable { height: auto; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "Backends"
        table = DataTable(id="backends", cursor_type="none", zebra_stripes=False)
        for label, key, width in (("backend", "name", 14), ("health", "health", 22),
                                  ("done", "chunks", 5), ("cache", "cached", 5),
                                  ("retry", "retries", 5), ("fallb", "fallbacks", 5),
                                  ("RTF", "rtf", 6), ("route", "route", 12)):
            table.add_column(label, key=key, width=width)
        yield table

    def refresh_from(self, state: JobState) -> None:
        table = self.query_one("#backends", DataTable)
        for row in state.backends.values():
            health = row.health
            style = HEALTH_STYLES.get(health, "red" if health.startswith("failing")
                                      else "yellow" if health.startswith("waiting") else "")
            cells = {
                "name": row.name,
                "health": Text(health, style=style),
                "chunks": str(row.chunks),
                "cached": str(row.cached),
                "retries": str(row.retries),
                "fallbacks": str(row.fallbacks),
                "rtf": "-" if row.rtf is None else f"{row.rtf:.3f}",
                "route": "" if row.choice is None else f"→ {row.choice}",
            }
            if row.name not in table.rows:
                table.add_row(*cells.values(), key=row.name)
            else:
                for column, value in cells.items():
                    table.update_cell(row.name, column, value)
