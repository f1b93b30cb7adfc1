"""Runs the TUI's queue on a worker thread: the pipeline, one job per batch of queued
inputs, so documents added while a job runs are taken as soon as it ends."""

from __future__ import annotations

import threading

from voxline.audio import FORMATS
from voxline.control import JobControl
from voxline.errors import EXIT_OK, UsageError
from voxline.job import InputSpec, Job, JobReport, Pipeline, output_specs
from voxline.textio import find_inputs


class JobRunner:
    def __init__(self, planned, *, force: bool = False, metrics_port=None,
                 metrics_textfile=None):
        """`planned`: a `voxline.cli.synth.JobSetup` (settings, inputs, plugin manager)."""
        self.planned = planned
        self.force = force
        self.metrics_port = metrics_port
        self.metrics_textfile = metrics_textfile
        self.control = JobControl()
        self.reports: list[JobReport] = []
        self._pending: list[InputSpec] = list(planned.specs)
        self._outputs = {spec.output for spec in planned.specs}
        self._lock = threading.Lock()
        self.running = False

    @property
    def pm(self):
        return self.planned.pm

    def add(self, paths: list[str]) -> list[InputSpec]:
        """Queue more inputs (files or folders, scanned recursively) for this job's output
        folder and settings; inputs already queued are skipped."""
        if self.planned.single_file:
            raise UsageError(f"this job writes one file ({self.planned.output}); "
                             "start another to add inputs")
        inputs = find_inputs(list(paths), recursive=True)
        if not inputs:
            raise UsageError(f"no .txt or .ssml files in {', '.join(map(str, paths))}")
        specs = output_specs(inputs, self.planned.output,
                             FORMATS[self.planned.settings.format], False)
        with self._lock:
            new = [spec for spec in specs if spec.output not in self._outputs]
            self._outputs.update(spec.output for spec in new)
            self._pending.extend(new)
        return new

    @property
    def pending(self) -> list[InputSpec]:
        with self._lock:
            return list(self._pending)

    def run(self) -> int:
        """Run until the queue is empty or the job is cancelled; the worst exit code."""
        from voxline.cli.synth import metrics_export

        planned = self.planned
        pipeline = Pipeline(planned.pm, planned.registry, planned.settings, force=self.force)
        self.running = True
        try:
            with metrics_export(planned.pm, self.metrics_port, self.metrics_textfile,
                                quiet=True):
                while not self.control.cancelled:
                    with self._lock:
                        batch, self._pending = self._pending, []
                    if not batch:
                        break
                    report = pipeline.run(Job(batch, planned.settings), self.control)
                    self.reports.append(report)
        finally:
            self.running = False
        return max((r.exit_code for r in self.reports), default=EXIT_OK)
