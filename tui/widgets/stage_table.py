"""Per-stage timing: count, total, mean, p95 and share of wall time; real-time factor and
cache hits underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ..state import STAGE_LABELS, JobState
from .format import millis


class StageTable(Vertical):
    DEFAULT_CSS = """
    StageTable { height: auto; border: round $primary; }
    StageTable DataTable { height: auto; }
    StageTable #stage-summary { height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "Stages"
        table = DataTable(id="stages", cursor_type="none", zebra_stripes=False)
        for label, key, width in (("stage", "stage", 11), ("n", "count", 6),
                                  ("total s", "total", 8), ("mean ms", "mean", 8),
                                  ("p95 ms", "p95", 8), ("% wall", "share", 6)):
            table.add_column(label, key=key, width=width)
        yield table
        yield Static(id="stage-summary")

    def refresh_from(self, state: JobState) -> None:
        table = self.query_one("#stages", DataTable)
        wall = state.elapsed_s
        for stage, stats in state.stages.items():
            cells = {
                "stage": STAGE_LABELS.get(stage, stage),
                "count": str(stats.count),
                "total": f"{stats.total_s:.2f}",
                "mean": millis(stats.mean_s),
                "p95": millis(stats.p95_s),
                # per-chunk stages run on several workers at once and can pass 100 %
                "share": f"{stats.total_s / wall:.0%}" if wall > 0 and stats.count else "-",
            }
            if stage not in table.rows:
                table.add_row(*cells.values(), key=stage)
            else:
                for column, value in cells.items():
                    table.update_cell(stage, column, value)
        rtf = state.rtf
        parts = [f"RTF {rtf:.3f}" if rtf is not None else "RTF -"]
        for row in state.backends.values():
            if row.rtf is not None:
                parts.append(f"{row.name} {row.rtf:.3f}")
        done = state.chunks_done
        parts.append(f"cache {state.cache_hits}/{done}" if done else "cache -")
        self.query_one("#stage-summary", Static).update(" · ".join(parts))
