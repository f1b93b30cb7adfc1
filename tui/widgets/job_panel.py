"""The job: one line of totals and ETA, and a row per document with its progress."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ..state import CANCELLED, DONE, FAILED, QUEUED, RESUMED, RUNNING, UP_TO_DATE, JobState
from .format import bar, clock

STATE_STYLES = {QUEUED: "dim", RUNNING: "bold cyan", DONE: "green", RESUMED: "green",
                UP_TO_DATE: "green dim", FAILED: "bold red", CANCELLED: "yellow"}
PHASE_STYLES = {"running": "bold cyan", "paused": "bold yellow", "pausing": "yellow",
                "cancelling": "yellow", "cancelled": "bold yellow", "done": "bold green",
                "failed": "bold red", "idle": "dim"}


class JobPanel(Vertical):
    DEFAULT_CSS = """
    JobPanel { height: auto; max-height: 50%; border: round $primary; border-title-color: $text; }
    JobPanel #job-summary { height: 1; padding: 0 1; }
    JobPanel DataTable { height: auto; max-height: 20; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "Job"
        yield Static(id="job-summary")
        table = DataTable(id="documents", cursor_type="row", zebra_stripes=False)
        table.add_column("file", key="file")
        table.add_column("state", key="state", width=10)
        table.add_column("progress", key="progress", width=18)
        table.add_column("chunks", key="chunks", width=9)
        table.add_column("audio s", key="audio", width=8)
        yield table

    def refresh_from(self, state: JobState) -> None:
        counts = state.counts()
        finished = sum(counts[s] for s in (DONE, RESUMED, UP_TO_DATE))
        summary = Text()
        summary.append(f"{state.phase:<10}", style=PHASE_STYLES.get(state.phase, ""))
        summary.append(f" {finished}/{len(state.documents)} files · "
                       f"{state.chunks_done} chunks · {state.audio_s:.0f}s audio · "
                       f"{clock(state.elapsed_s)}")
        if counts[FAILED]:
            summary.append(f" · {counts[FAILED]} failed", style="red")
        eta = state.eta_s()
        if eta is not None:
            summary.append(f" · ETA {clock(eta)}")
        if state.phase == "paused":
            summary.append("  (p to resume)", style="dim")
        self.query_one("#job-summary", Static).update(summary)
        table = self.query_one("#documents", DataTable)
        for doc in state.documents.values():
            cells = {
                "file": Path(doc.source).name,
                "state": Text(doc.state, style=STATE_STYLES.get(doc.state, "")),
                "progress": bar(doc.fraction, style="red" if doc.state == FAILED else "green"),
                "chunks": doc.chunks_label,
                "audio": f"{doc.audio_s:.1f}",
            }
            if doc.source not in table.rows:
                table.add_row(*cells.values(), key=doc.source)
            else:
                for column, value in cells.items():
                    table.update_cell(doc.source, column, value)

    def selected_source(self) -> str | None:
        table = self.query_one("#documents", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value
