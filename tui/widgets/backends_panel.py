"""Backends: health, chunks served, cache hits, retries, fallbacks, real-time factor, a
router's current choice, with --verify the error rates the recognizer measured, and with
--executor ray the cluster nodes that served each backend."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from ..state import JobView
from .line_table import LineTable

HEALTH_STYLES = {"ok": "green", "idle": "dim", "circuit open": "bold red", "probing": "yellow"}


class BackendsPanel(Vertical):
    DEFAULT_CSS = """
    BackendsPanel { height: auto; border: round $primary; }
    BackendsPanel LineTable { height: auto; }
    """

    def __init__(self, *, verify: bool = False, nodes: bool = False, **kwargs):
        """`verify`: the job runs with --verify; a column shows each backend's chunks heard,
        mean and worst error rate, and chunks rejected. `nodes`: the job runs with
        --executor ray; a column shows the nodes that served each backend and their chunks."""
        super().__init__(**kwargs)
        self.verify = verify
        self.nodes = nodes

    def compose(self) -> ComposeResult:
        self.border_title = "Backends"
        columns = [("backend", 15), ("health", 24), ("done", 7), ("cache", 7),
                   ("retry", 7), ("fallb", 7), ("RTF", 8)]
        if self.verify:
            columns.append(("verified", 23))
        if self.nodes:
            columns.append(("nodes", 30))
        yield LineTable(columns + [("route", None)], id="backends")

    def refresh_from(self, state: JobView) -> None:
        table = self.query_one("#backends", LineTable)
        for row in state.backends.values():
            health = row.health
            style = HEALTH_STYLES.get(health, "red" if health.startswith("failing")
                                      else "yellow" if health.startswith("waiting") else "")
            table.set_row(row.name, (
                row.name, Text(health, style=style), str(row.chunks), str(row.cached),
                str(row.retries), str(row.fallbacks),
                "-" if row.rtf is None else f"{row.rtf:.3f}",
                *((row.verify_label,) if self.verify else ()),
                *((row.nodes_label or "-",) if self.nodes else ()),
                "" if row.choice is None else f"→ {row.choice}"))
