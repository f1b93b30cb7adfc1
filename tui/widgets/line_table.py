"""A table drawn with Textual's line API: a header line and one line per row, each row
rendered again only when its cells changed. The monitor's tables change several times a
second during a job; a DataTable renders every visible row through Rich on any change, which
cost 10-15 % of a 2-core job's wall time, this costs well under 1 %."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = Text | str


class LineTable(ScrollView):
    """`columns`: (label, width) pairs; one width may be None, taking what is left. With
    `cursor`, the table is focusable and up/down move a highlighted row."""

    BINDINGS = [Binding("up", "move(-1)", show=False), Binding("down", "move(1)", show=False),
                Binding("pageup", "move(-10)", show=False),
                Binding("pagedown", "move(10)", show=False),
                Binding("home", "move(-1000000)", show=False),
                Binding("end", "move(1000000)", show=False)]
    COMPONENT_CLASSES = {"line-table--cursor", "line-table--header"}
    DEFAULT_CSS = """
    LineTable { height: auto; overflow-x: hidden; }
    LineTable > .line-table--header { background: $panel; text-style: bold; }
    LineTable > .line-table--cursor { background: $secondary 25%; }
    LineTable:focus > .line-table--cursor { background: $primary 50%; }
    """

    def __init__(self, columns: list[tuple[str, int | None]], *, cursor: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.can_focus = cursor
        self.cursor = cursor
        self.cursor_row = 0
        self.columns = columns
        self.keys: list[str] = []
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._versions: dict[str, int] = {}
        self._strips: dict[tuple, Strip] = {}
        self.virtual_size = Size(0, 1)

    # -- content -----------------------------------------------------------------------

    def set_row(self, key: str, cells: tuple[Cell, ...]) -> None:
        """Show `cells` on `key`'s line (added at the end when new)."""
        if self._cells.get(key) == cells:
            return
        self._cells[key] = cells
        self._versions[key] = self._versions.get(key, 0) + 1
        if key not in self.keys:
            self.keys.append(key)
            self.virtual_size = Size(self.size.width, len(self.keys) + 1)
            self.refresh(layout=True)
        else:
            self.refresh_line(self.keys.index(key) + 1 - self.scroll_offset.y)

    def row_text(self, key: str) -> str:
        """A row as plain text (for tests and copy)."""
        return self._line(self._cells[key], 200).plain

    def selected(self) -> str | None:
        return self.keys[self.cursor_row] if self.keys else None

    # -- drawing -----------------------------------------------------------------------

    def _widths(self, width: int) -> list[int]:
        fixed = sum(w for _, w in self.columns if w is not None)
        return [w if w is not None else max(5, width - fixed) for _, w in self.columns]

    def _line(self, cells: tuple[Cell, ...], width: int, bold: bool = False) -> Text:
        line = Text()
        for cell, size in zip(cells, self._widths(width)):
            text = Text(" ", style="bold" if bold else "")
            text.append_text(cell if isinstance(cell, Text) else Text(str(cell)))
            text.truncate(size, pad=True)
            line.append_text(text)
        return line

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        segments = [Segment(s.text, style + s.style if s.style else style)
                    for s in text.render(self.app.console) if s.text != "\n"]
        return Strip(segments).adjust_cell_length(width, style)

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header, fixed; rows scroll under it."""
        width = self.size.width
        if y == 0:
            style = self.rich_style + self.get_component_rich_style("line-table--header")
            labels = tuple(label for label, _ in self.columns)
            return self._strip(self._line(labels, width), width, style)
        index = y - 1 + self.scroll_offset.y
        if index >= len(self.keys):
            return Strip.blank(width, self.rich_style)
        key = self.keys[index]
        selected = self.cursor and index == self.cursor_row
        cache_key = (key, self._versions[key], width, selected, self.has_focus)
        strip = self._strips.get(cache_key)
        if strip is None:
            style = self.rich_style + (self.get_component_rich_style("line-table--cursor")
                                       if selected else Style())
            strip = self._strip(self._line(self._cells[key], width), width, style)
            if len(self._strips) > 4 * max(64, len(self.keys)):
                self._strips.clear()
            self._strips[cache_key] = strip
        return strip

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.keys) + 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        if not self.cursor or not self.keys:
            return
        before = self.cursor_row
        self.cursor_row = max(0, min(len(self.keys) - 1, self.cursor_row + delta))
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + self.size.height - 1:
            self.scroll_to(y=self.cursor_row - self.size.height + 2, animate=False)
        self.refresh_line(before + 1 - self.scroll_offset.y)
        self.refresh_line(self.cursor_row + 1 - self.scroll_offset.y)
