"""Per-stage timing: count, total, mean, p95 and share of wall time; real-time factor and
cache hits underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..state import STAGE_LABELS, JobView
from .format import millis, show
from .line_table import LineTable


class StageTable(Vertical):
    DEFAULT_CSS = """
    StageTable { height: auto; border: round $primary; }
    StageTable LineTable { height: auto; }
    StageTable #stage-summary { height: 1; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "Stages"
        yield LineTable([("stage", 13), ("n", 8), ("total s", 10), ("mean ms", 10),
                         ("p95 ms", 10), ("% wall", None)], id="stages")
        yield Static(id="stage-summary")

    def refresh_from(self, state: JobView) -> None:
        table = self.query_one("#stages", LineTable)
        wall = state.elapsed_s
        for stage, stats in state.stages.items():
            table.set_row(stage, (
                STAGE_LABELS.get(stage, stage), str(stats.count), f"{stats.total_s:.2f}",
                millis(stats.mean_s), millis(stats.p95_s),
                # per-chunk stages run on several workers at once and can pass 100 %
                f"{stats.total_s / wall:.0%}" if wall > 0 and stats.count else "-"))
        rtf = state.rtf
        parts = [f"RTF {rtf:.3f}" if rtf is not None else "RTF -"]
        for row in state.backends.values():
            if row.rtf is not None:
                parts.append(f"{row.name} {row.rtf:.3f}")
        done = state.chunks_done
        parts.append(f"cache {state.cache_hits}/{done}" if done else "cache -")
        show(self.query_one("#stage-summary", Static), " · ".join(parts))
