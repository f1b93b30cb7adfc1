"""`voxline tui`: a long job on a full-screen terminal app.

The job runs in a Textual thread worker (`JobRunner`); what the app knows of it comes from
the pipeline's event hooks through `EventBridge` (a plugin like any other), applied to a
`JobView` and drawn by the widgets a few times a second. GPUs are sampled through
`voxline.gpu` on a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Footer, Header, Tab, Tabs
from textual.worker import Worker, WorkerState

from voxline import gpu
from voxline.errors import EXIT_INTERRUPTED, EXIT_OK, VoxlineError

from .bridge import EventBridge
from .messages import GpuSampled, PipelineEvent
from .runner import JobRunner
from .screens import ConfirmScreen, DocumentScreen, QueueScreen
from .state import JobView
from .widgets.backends_panel import BackendsPanel
from .widgets.gpu_panel import GpuPanel
from .widgets.job_panel import JobPanel
from .widgets.log_panel import LogPanel
from .widgets.stage_table import StageTable

PANELS = (("stages", "Stages"), ("backends", "Backends"), ("gpu", "GPU"), ("log", "Log"))


class VoxlineApp(App[int]):
    """The job monitor. `runner` None opens on the queue screen (unless `queue_first` is
    False); `gpu_sampler` and `clock` are injectable so tests and screenshots are
    repeatable."""

    CSS_PATH = "app.tcss"
    TITLE = "voxline"
    # compact (one lower panel at a time, tabs to switch) below 120×36
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("c", "cancel_job", "Cancel"),
        Binding("enter", "details", "Details", show=False),
        Binding("d", "details", "Details"),
        Binding("g", "toggle_gpu", "GPU"),
        Binding("a", "add_files", "Add"),
        Binding("1", "panel('stages')", show=False),
        Binding("2", "panel('backends')", show=False),
        Binding("3", "panel('gpu')", show=False),
        Binding("4", "panel('log')", show=False),
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+q", "quit_app", "Quit", show=False, priority=True),
    ]

    def __init__(self, runner: JobRunner | None = None, *,
                 gpu_sampler: Callable[[], gpu.GpuReport] = gpu.sample,
                 clock: Callable[[], float] = time.monotonic, gpu_interval_s: float = 2.0,
                 exit_when_done: bool = False, browse_root: Path | None = None,
                 config: str | None = None, metrics_port=None, metrics_textfile=None,
                 force: bool = False, refresh_s: float = 0.5, queue_first: bool = True):
        super().__init__()
        self.runner = runner
        self.state = JobView(clock)
        self.gpu_sampler = gpu_sampler
        self.gpu_history = gpu.GpuHistory()
        self.gpu_interval_s = gpu_interval_s
        self.exit_when_done = exit_when_done
        self.browse_root = browse_root or Path.cwd()
        self.config = config
        self.metrics = (metrics_port, metrics_textfile)
        self.force = force
        self.refresh_s = refresh_s
        self.queue_first = queue_first
        self.show_gpu = True
        self._drawn = -1
        self._quitting = False
        self._gpu_skipped = 0

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield JobPanel()
        yield Tabs(*(Tab(label, id=f"tab-{key}") for key, label in PANELS), id="panel-tabs")
        with Container(id="lower", classes="show-stages"):
            with Horizontal(id="upper"):
                yield StageTable()
                with Vertical(id="side"):
                    settings = self.runner.planned.settings if self.runner else None
                    yield BackendsPanel(verify=settings is not None and settings.verify,
                                        nodes=settings is not None
                                        and settings.executor == "ray")
                    yield GpuPanel()
            yield LogPanel()
        yield Footer()

    def on_mount(self) -> None:
        import asyncio

        from voxline.cli import signals

        loop = asyncio.get_running_loop()
        self._unhook_sigterm = signals.on_terminate(
            lambda: loop.call_soon_threadsafe(self.terminated))
        self.gpu_history.add(self.gpu_sampler())  # the first frame already says what is there
        self.set_interval(self.refresh_s, self.refresh_panels)
        self.set_interval(self.gpu_interval_s, self.sample_gpu)
        self.refresh_panels(force=True)
        if self.runner is not None:
            self.start_runner()
        elif self.queue_first:
            self.open_queue()

    @on(Tabs.TabActivated, "#panel-tabs")
    def tab_activated(self, event: Tabs.TabActivated) -> None:
        self.action_panel(event.tab.id.removeprefix("tab-"))

    def action_panel(self, key: str) -> None:
        lower = self.query_one("#lower")
        for name, _ in PANELS:
            lower.set_class(name == key, f"show-{name}")
        tabs = self.query_one("#panel-tabs", Tabs)
        if tabs.active != f"tab-{key}":
            tabs.active = f"tab-{key}"

    # -- the job -----------------------------------------------------------------------

    def start_runner(self) -> None:
        self.runner.pm.register(EventBridge(self.post_message), name="voxline.tui")
        for spec in self.runner.pending:
            self.state.queue(str(spec.source), str(spec.output))
        for message in getattr(self.runner.pm, "problems", ()):  # skipped broken plugins
            self.state.add_log("warning", f"{message} (plugin skipped)")
        self.run_jobs()

    @work(thread=True, exclusive=True, name="job")
    def run_jobs(self) -> int:
        return self.runner.run()

    @on(PipelineEvent)
    def apply_event(self, event: PipelineEvent) -> None:
        event.apply(self.state)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "job" or event.state not in (WorkerState.SUCCESS,
                                                             WorkerState.ERROR):
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            message = (str(error) if isinstance(error, VoxlineError)
                       else f"internal error: {type(error).__name__}: {error}")
            self.state.add_log("error", message)
            self.state.job_finished(getattr(error, "exit_code", 1), False, False)
        if self.runner.pending and not self.runner.control.cancelled:
            self.run_jobs()  # documents added just as the last batch ended
            return
        self.refresh_panels(force=True)
        if self._quitting:
            self.exit(EXIT_INTERRUPTED if self.state.phase == "cancelled"
                      else self.state.exit_code or EXIT_OK)
        elif self.exit_when_done:
            self.exit(self.state.exit_code or EXIT_OK)

    def sample_gpu(self) -> None:
        latest = self.gpu_history.latest
        if not self.show_gpu:
            return
        # no GPU now is very likely none for this job: look again now and then, not every tick
        if not latest.available:
            self._gpu_skipped = (self._gpu_skipped + 1) % 15
            if self._gpu_skipped:
                return
        self._sample_gpu()

    @work(thread=True, exclusive=True, group="gpu")
    def _sample_gpu(self) -> None:
        self.post_message(GpuSampled(self.gpu_sampler()))

    def on_gpu_sampled(self, message: GpuSampled) -> None:
        self.gpu_history.add(message.report)
        self.query_one(GpuPanel).refresh_from(self.state, self.gpu_history)

    def refresh_panels(self, force: bool = False) -> None:
        state = self.state
        if state.phase == "pausing" and state.in_flight == 0:
            state.set_phase("paused")
        if not force and state.version == self._drawn and not state.running:
            return  # nothing new, and no clock ticking
        self._drawn = state.version
        self.query_one(JobPanel).refresh_from(state)
        self.query_one(StageTable).refresh_from(state)
        self.query_one(BackendsPanel).refresh_from(state)
        self.query_one(GpuPanel).refresh_from(state, self.gpu_history)
        self.query_one(LogPanel).refresh_from(state)
        self.sub_title = state.phase

    # -- keys --------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if self.runner is None or not self.state.running or self.state.phase == "cancelling":
            return
        control = self.runner.control
        if control.paused:
            control.resume()
            self.state.set_phase("running")
            self.state.add_log("info", "resumed")
        else:
            control.pause()
            self.state.set_phase("pausing")
            self.state.add_log("info", "pausing: the chunks being synthesized finish, "
                                       "then the job holds (p to resume)")
        self.refresh_panels(force=True)

    def action_cancel_job(self) -> None:
        if self.runner is None or not self.state.running:
            return
        self.runner.control.cancel()
        self.state.set_phase("cancelling")
        self.state.add_log("info", "cancelling: finished chunks are kept; run the same "
                                   "command again to resume")
        self.refresh_panels(force=True)

    def action_details(self) -> None:
        source = self.query_one(JobPanel).selected_source()
        if source is not None and source in self.state.documents:
            self.push_screen(DocumentScreen(self.state.documents[source]))

    def action_toggle_gpu(self) -> None:
        self.show_gpu = not self.show_gpu
        self.screen.set_class(not self.show_gpu, "-no-gpu")
        if not self.show_gpu and self.query_one("#lower").has_class("show-gpu"):
            self.action_panel("stages")
        if self.show_gpu:
            self.sample_gpu()

    def action_add_files(self) -> None:
        self.open_queue()

    def open_queue(self) -> None:
        from voxline.pluginmanager import build_registry, get_plugin_manager

        if self.runner is not None:
            planned = self.runner.planned
            names = sorted(planned.registry.backends)
            settings = planned.settings
            defaults = {"backend": settings.backend, "voice": settings.voice,
                        "lang": settings.lang, "workers": settings.workers,
                        "output": str(planned.output), "format": settings.format}
        else:
            names = sorted(build_registry(get_plugin_manager()).backends)
            defaults = {}
        self.push_screen(QueueScreen(self.browse_root, names, defaults,
                                     job_running=self.runner is not None))

    def start_from_queue(self, screen: QueueScreen, paths: list[str], options: dict) -> None:
        """The queue screen's start: a new job from its form, or more documents for the
        running one."""
        from voxline.cli.synth import plan_job

        try:
            if self.runner is not None:
                for spec in self.runner.add(paths):
                    self.state.queue(str(spec.source), str(spec.output))
                if not self.runner.running and not self.runner.control.cancelled:
                    self.run_jobs()
            else:
                output = options.pop("output")
                planned = plan_job(paths, output, True, self.config, options)
                planned.check_writable()
                self.runner = JobRunner(planned, force=self.force,
                                        metrics_port=self.metrics[0],
                                        metrics_textfile=self.metrics[1])
                self.start_runner()
        except VoxlineError as exc:
            screen.show_error(str(exc))
            return
        self.pop_screen()

    def on_unmount(self) -> None:
        self._unhook_sigterm()
        # the process's plugin manager outlives the app: its events stop coming here
        if self.runner is not None and self.runner.pm.get_plugin("voxline.tui") is not None:
            self.runner.pm.unregister(name="voxline.tui")

    def terminated(self) -> None:
        """SIGTERM: cancel the job as quitting does, without asking, then quit (the process
        exits 143)."""
        if not self.state.running:
            self.exit(self.state.exit_code or EXIT_OK)
            return
        self._quitting = True
        self.action_cancel_job()

    def action_quit_app(self) -> None:
        if isinstance(self.screen, (ConfirmScreen, DocumentScreen)):
            return
        if not self.state.running:
            self.exit(self.state.exit_code or EXIT_OK)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._quitting = True
                self.action_cancel_job()

        self.push_screen(ConfirmScreen("A job is running. Cancel it and quit? Finished chunks "
                                       "are kept: the same command resumes it."), answer)


def run_app(planned, *, force: bool = False, metrics_port=None, metrics_textfile=None,
            exit_when_done: bool = False, config: str | None = None) -> int:
    """What `voxline tui` and `voxline synth --tui` run; the job's exit code."""
    if planned is not None:
        planned.check_writable()
    runner = None if planned is None else JobRunner(
        planned, force=force, metrics_port=metrics_port, metrics_textfile=metrics_textfile)
    app = VoxlineApp(runner, exit_when_done=exit_when_done, config=config,
                     metrics_port=metrics_port, metrics_textfile=metrics_textfile, force=force)
    code = app.run()
    if app.runner is not None and app.runner.reports:
        from voxline.cli.synth import summary

        for report in app.runner.reports:
            print(summary(report))
    return EXIT_OK if code is None else code
