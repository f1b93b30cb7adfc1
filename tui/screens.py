"""The TUI's other screens: quit confirmation, a document's chunks, and the queue (file
browser and job settings)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import (Button, DataTable, DirectoryTree, Footer, Header, Input, Label,
                             ListItem, ListView, Select, Static)

from voxline.audio.formats import FORMATS

from .state import DocumentRow
from .widgets.format import millis



class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; y/enter says yes, n/escape no."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "No", show=False)]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 90%; height: auto; border: thick $warning;
                               background: $surface; padding: 1 2; }
    ConfirmScreen Horizontal { height: auto; align: center middle; margin-top: 1; }
    ConfirmScreen Button { margin: 0 2; }
    """

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class DocumentScreen(ModalScreen[None]):
    """One document's chunks and their timings; enter shows a chunk's spoken text."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close")]
    DEFAULT_CSS = """
    DocumentScreen { align: center middle; }
    DocumentScreen > Vertical { width: 95%; height: 90%; border: thick $primary;
                                background: $surface; }
    DocumentScreen #doc-title { height: auto; padding: 0 1; }
    DocumentScreen DataTable { height: 1fr; }
    DocumentScreen #chunk-text { height: auto; max-height: 8; border-top: solid $primary;
                                 padding: 0 1; }
    """

    def __init__(self, document: DocumentRow):
        super().__init__()
        self.document = document

    def compose(self) -> ComposeResult:
        doc = self.document
        with Vertical():
            title = Text(f"{doc.source}", style="bold")
            title.append(f"  → {doc.output or '?'}  · {doc.state} · {doc.chunks_label} chunks"
                         f" · {doc.audio_s:.1f}s audio · {doc.cached} from cache")
            if doc.error:
                title.append(f"\n{doc.error}", style="red")
            yield Static(title, id="doc-title")
            table = DataTable(id="chunks", cursor_type="row")
            for label, key, width in (("#", "index", 5), ("backend", "backend", 12),
                                      ("synth ms", "synth", 8), ("resample ms", "resample", 11),
                                      ("audio s", "audio", 7), ("cache", "cached", 5),
                                      ("text", "text", None)):
                table.add_column(label, key=key, width=width)
            for record in doc.chunks.values():
                table.add_row(str(record.index + 1), record.backend or "…",
                              millis(record.synthesize_s), millis(record.resample_s),
                              "-" if record.audio_s is None else f"{record.audio_s:.2f}",
                              "yes" if record.cached else "",
                              record.text.replace("\n", " ")[:60], key=str(record.index))
            yield table
            yield Static("enter: the chunk's spoken text · escape: close", id="chunk-text")

    @on(DataTable.RowSelected)
    def show_text(self, event: DataTable.RowSelected) -> None:
        record = self.document.chunks.get(int(event.row_key.value))
        if record is not None:
            self.query_one("#chunk-text", Static).update(
                Text(f"chunk {record.index + 1}: ", style="bold") + Text(record.text))


class QueueScreen(Screen):
    """Choose files or folders and the job's settings, then start; while a job runs, add
    more documents to it."""

    BINDINGS = [Binding("a", "add", "Add selected"), Binding("s", "start", "Start"),
                Binding("escape", "back", "Back")]
    DEFAULT_CSS = """
    QueueScreen #queue-body { height: 1fr; }
    QueueScreen DirectoryTree { width: 1fr; border: round $primary; }
    QueueScreen #queue-side { width: 44; }
    QueueScreen #queued { height: 1fr; min-height: 3; border: round $primary; }
    QueueScreen #form { height: auto; border: round $primary; }
    QueueScreen #form Horizontal { height: auto; }
    QueueScreen #form Label { width: 10; padding: 1 0 0 0; }
    QueueScreen #form Input, QueueScreen #form Select { width: 1fr; }
    QueueScreen #queue-error { height: auto; color: $error; padding: 0 1; }
    """

    def __init__(self, root: Path, backends: list[str], defaults: dict,
                 job_running: bool = False):
        super().__init__()
        self.root = root
        self.backends = backends
        self.defaults = defaults
        self.job_running = job_running
        self.paths: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="queue-body"):
            tree = DirectoryTree(self.root, id="browser")
            tree.border_title = "Files (a: add the highlighted file or folder)"
            yield tree
            with Vertical(id="queue-side"):
                queued = ListView(id="queued")
                queued.border_title = "Queued"
                yield queued
                with VerticalScroll(id="form") as form:
                    form.border_title = ("Job settings (fixed while the job runs)"
                                         if self.job_running else "Job settings")
                    yield from self._field("backend", Select(
                        [(name, name) for name in self.backends], allow_blank=True,
                        value=self.defaults.get("backend") or Select.NULL,
                        prompt="by language"))
                    yield from self._field("voice", Input(self.defaults.get("voice") or "",
                                                          placeholder="default"))
                    yield from self._field("lang", Input(self.defaults.get("lang") or "",
                                                         placeholder="detect"))
                    yield from self._field("workers", Input(
                        str(self.defaults.get("workers") or ""), placeholder="CPU cores",
                        type="integer"))
                    yield from self._field("output", Input(self.defaults.get("output", "out")))
                    yield from self._field("format", Select(
                        [(f, f) for f in FORMATS], allow_blank=False,
                        value=self.defaults.get("format") or "wav"))
                yield Static(id="queue-error")
                yield Button("Add to job (s)" if self.job_running else "Start (s)",
                             id="start", variant="success")
        yield Footer()

    def _field(self, name: str, widget) -> ComposeResult:
        widget.id = f"field-{name}"
        widget.disabled = self.job_running
        with Horizontal():
            yield Label(name)
            yield widget

    def action_add(self) -> None:
        node = self.query_one(DirectoryTree).cursor_node
        if node is None or node.data is None:
            return
        path = str(node.data.path)
        if path not in self.paths:
            self.paths.append(path)
            self.query_one("#queued", ListView).append(ListItem(Label(path)))

    @on(DirectoryTree.FileSelected)
    def file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.action_add()

    def options(self) -> dict:
        """The form as `synth` option values (None where left to the defaults)."""
        def text(name):
            return self.query_one(f"#field-{name}", Input).value.strip() or None

        backend = self.query_one("#field-backend", Select).value
        workers = text("workers")
        return {
            "backend": None if backend is Select.NULL else backend,
            "voice": text("voice"), "lang": text("lang"),
            "workers": int(workers) if workers else None,
            "fmt": self.query_one("#field-format", Select).value,
            "output": text("output") or "out",
        }

    def show_error(self, message: str) -> None:
        self.query_one("#queue-error", Static).update(message)

    def action_start(self) -> None:
        if not self.paths:
            self.show_error("add files or folders first (a)")
            return
        self.app.start_from_queue(self, list(self.paths), self.options())

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        self.action_start()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2 or self.app.runner is not None:
            self.app.pop_screen()
