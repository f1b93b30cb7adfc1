"""Broken third-party plugins, installed through real entry points: each is named with its
hook in a warning and skipped, voxline keeps working; --strict-plugins makes it exit 6."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

TONE_LIKE = '''
import voxline
from voxline import Audio, Backend, Capabilities, Voice

class {cls}(Backend):
    name = "{name}"
    capabilities = Capabilities(sample_rate_hz={rate}, languages={languages},
                                voices={voices})

    def synthesize(self, request):
        raise AssertionError("never called")
'''

BROKEN = {
    "typo": "import voxline\n\n@voxline.hookimpl\ndef register_backend(register):\n    pass\n",
    "import_error": "import voxline\nraise ImportError('needs the frobnicator package')\n",
    "raising": ("import voxline\n\n@voxline.hookimpl\ndef register_backends(register):\n"
                "    raise RuntimeError('model folder missing')\n"),
    "impossible": TONE_LIKE.format(cls="Impossible", name="impossible", rate=0, languages="()",
                                   voices="(Voice('x', 'fr'),)")
                  + "\n@voxline.hookimpl\ndef register_backends(register):\n"
                    "    register(Impossible)\n",
    "returns": TONE_LIKE.format(cls="Returns", name="returns", rate=16000,
                                languages="('en',)", voices="()")
               + "\n@voxline.hookimpl\ndef register_backends(register):\n"
                 "    return [Returns]\n",
}

EXPECTED = {
    "typo": "unknown hook 'register_backend'",
    "import_error": "failed to load: ImportError: needs the frobnicator package",
    "raising": "failed in register_backends: RuntimeError: model folder missing",
    "impossible": "declares impossible capabilities: sample_rate_hz 0 is not a positive "
                  "integer; no languages: it could speak nothing; voices for languages it "
                  "does not list: fr",
    "returns": "register_backends returned list; it should call register()",
}


@pytest.fixture
def broken_site(tmp_path):
    site = tmp_path / "site"
    info = site / "voxline_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voxline-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[voxline]\n" + "".join(f"{name} = broken_{name}\n" for name in BROKEN))
    for name, source in BROKEN.items():
        (site / f"broken_{name}.py").write_text(source)
    return {"PYTHONPATH": str(site)}


def test_broken_plugins_are_named_and_skipped(broken_site):
    result = run_cli("backends", "--no-check", "--json", env=broken_site)
    assert result.returncode == 0, result.stderr.decode()
    names = {row["name"] for row in json.loads(result.stdout)}
    assert {"piper", "espeak"} <= names and not names & {"impossible", "returns"}
    warnings = result.stderr.decode().splitlines()
    assert len(warnings) == len(BROKEN)
    for name, expected in EXPECTED.items():
        line = next(w for w in warnings if f"'{name}'" in w)
        assert line.startswith("voxline: warning: plugin ") and expected in line, line
        assert line.endswith("(plugin skipped; --strict-plugins makes this an error)")


def test_voxline_synthesizes_with_broken_plugins_installed(broken_site, tmp_path,
                                                           private_cache):
    src = tmp_path / "a.txt"
    src.write_text("Still working.", encoding="utf-8")
    result = run_cli("synth", str(src), "-o", str(tmp_path / "out"), "-q", env=broken_site)
    assert result.returncode == 0 and (tmp_path / "out" / "a.wav").exists()
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_strict_plugins_makes_the_first_problem_fatal(broken_site, how):
    env = dict(broken_site)
    args = ["backends", "--no-check"]
    if how == "flag":
        args.insert(0, "--strict-plugins")
    else:
        env["VOXLINE_STRICT_PLUGINS"] = "1"
    result = run_cli(*args, env=env)
    assert result.returncode == 6
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("voxline: error: plugin ")
    assert b"Traceback" not in result.stderr


def test_a_backend_returning_the_wrong_type_names_itself(voxline_pm, voxline_run):
    import voxline
    from voxline import Backend, Capabilities

    class Wrong(Backend):
        name = "wrong"
        capabilities = Capabilities(sample_rate_hz=16000, languages=("en",))

        def synthesize(self, request):
            return b"RIFF...."  # bytes, not voxline.Audio

    class Plugin:
        @voxline.hookimpl
        def register_backends(self, register):
            register(Wrong)

    voxline_pm.register(Plugin(), name="undo-wrong")
    result = voxline_run("Some words.", backend="wrong", fallback="")
    assert result.report.exit_code == 4
    assert ("backend 'wrong' (plugin bug): synthesize returned bytes, not voxline.Audio"
            in result.report.documents[0].error)


def test_the_tui_log_shows_skipped_plugins(broken_site, tmp_path, private_cache, monkeypatch):
    import asyncio

    from voxline.cli.synth import plan_job
    from voxline.tui.app import VoxlineApp
    from voxline.tui.runner import JobRunner

    monkeypatch.syspath_prepend(broken_site["PYTHONPATH"])
    import importlib

    importlib.invalidate_caches()
    src = tmp_path / "a.txt"
    src.write_text("Hello.", encoding="utf-8")
    planned = plan_job([str(src)], str(tmp_path / "out"), False, None, {})

    async def run():
        app = VoxlineApp(JobRunner(planned))
        async with app.run_test(size=(120, 40)) as pilot:
            while app.state.phase != "done":
                await pilot.pause(0.1)
        return [line.text for line in app.state.log if line.level == "warning"]

    warnings = asyncio.run(run())
    assert len(warnings) == len(BROKEN)
    assert any("'typo'" in w and "register_backend" in w for w in warnings)
