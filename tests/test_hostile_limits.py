"""Limits that must hold against hostile or unlucky use (issue 19, items 4-9): silence a
document asks for, WAVs past 4 GiB, the cache's size bound, damaged databases, two
processes on one job, SIGTERM, and jobs run one after another on one Pipeline."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli
from voxline.job import InputSpec, Job, Pipeline
from voxline.pluginmanager import build_registry
from voxline.settings import load_settings


def test_one_pipeline_runs_two_jobs_without_sharing_their_state(tmp_path, pm_with_tone):
    """The TUI's queue runs job after job on one Pipeline: adaptive quality's measurements
    and switches, and warnings given once a job, belong to each job."""
    slow = tmp_path / "slow.txt"  # short chunks: tone's 100 ms a call is a high RTF
    slow.write_text("\n\n".join(f"Go {i}." for i in range(8)))
    fast = tmp_path / "fast.txt"  # long chunks: the same 100 ms is a low RTF
    fast.write_text("\n\n".join(f"This sentence is long enough {i}." for i in range(4)))
    pitch = tmp_path / "pitch.ssml"
    pitch.write_text('<speak><prosody pitch="high">Raised voice here.</prosody></speak>')
    settings = load_settings(
        overrides={"backend": "tone", "workers": 1, "max_rtf": 0.1, "degrade_to": "espeak",
                   "cache": "off"},
        env={}, backend_overrides={"tone": {"delay_s": 0.1}})
    pipeline = Pipeline(pm_with_tone, build_registry(pm_with_tone), settings)

    def run(*sources: Path, out: str):
        specs = [InputSpec(s, tmp_path / out / f"{s.stem}.wav") for s in sources]
        return pipeline.run(Job(specs, settings)).to_dict()

    first = run(slow, pitch, out="one")
    [switch] = first["adaptive"]
    assert switch["backend"] == "tone" and switch["chunks"] > 0
    assert first["documents"][0]["backends"].get("espeak", 0) > 0

    second = run(fast, pitch, out="two")
    assert second["adaptive"] == []  # job 1's switch is not job 2's
    assert [d["backends"] for d in second["documents"]] == [{"tone": 4}, {"tone": 1}]
    for report in (first, second):  # each job warns about its own documents
        assert any("no pitch control" in w for w in report["documents"][1]["warnings"])
