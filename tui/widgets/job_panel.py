"""The job: one line of totals and ETA, and a row per document with its progress."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..state import CANCELLED, DONE, FAILED, QUEUED, RESUMED, RUNNING, UP_TO_DATE, JobView
from .line_table import LineTable
from .format import bar, clock, show

STATE_STYLES = {QUEUED: "dim", RUNNING: "bold cyan", DONE: "green", RESUMED: "green",
                UP_TO_DATE: "green dim", FAILED: "bold red", CANCELLED: "yellow"}
PHASE_STYLES = {"running": "bold cyan", "paused": "bold yellow", "pausing": "yellow",
                "cancelling": "yellow", "cancelled": "bold yellow", "done": "bold green",
                "failed": "bold red", "idle": "dim"}


class JobPanel(Vertical):
    DEFAULT_CSS = """
    JobPanel { height: auto; max-height: 50%; border: round $primary; border-title-color: $text; }
    JobPanel #job-summary { height: 1; padding: 0 1; }
    JobPanel #documents { max-height: 20; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "Job"
        yield Static(id="job-summary")
        yield LineTable([("file", None), ("state", 11), ("progress", 19), ("chunks", 10),
                         ("audio s", 9)], cursor=True, id="documents")

    def refresh_from(self, state: JobView) -> None:
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
        show(self.query_one("#job-summary", Static), summary)
        documents = self.query_one("#documents", LineTable)
        for doc in state.documents.values():
            documents.set_row(doc.source, (
                Path(doc.source).name,
                Text(doc.state, style=STATE_STYLES.get(doc.state, "")),
                bar(doc.fraction, style="red" if doc.state == FAILED else "green"),
                doc.chunks_label,
                f"{doc.audio_s:.1f}",
            ))

    def selected_source(self) -> str | None:
        return self.query_one("#documents", LineTable).selected()
