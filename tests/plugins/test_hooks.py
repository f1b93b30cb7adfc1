"""Every hook is documented in docs/plugins.md with its exact signature and implemented by at
least one test; the hooks no other test implements are exercised here."""

from __future__ import annotations

import inspect
import re

import pytest

import voxline
from voxline import hookspecs
from voxline.audio import FORMATS
from voxline.job import Job, Pipeline, output_specs
from voxline.pluginmanager import build_registry
from voxline.settings import load_settings

from conftest import REPO, ToneBackend, run_cli

DOC = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
HOOKS = {name: inspect.signature(fn) for name, fn in vars(hookspecs).items()
         if callable(fn) and hasattr(fn, "voxline_spec")}


def test_the_hook_specs_are_found():
    assert {"register_backends", "job_started", "backend_state"} <= set(HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented_with_its_signature(name):
    heading = f"### {name}({', '.join(HOOKS[name].parameters)})"
    assert heading in DOC.splitlines(), f"docs/plugins.md lacks the heading {heading!r}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_implemented_by_a_test(name):
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("*.py"))
    assert re.search(rf"def {name}\(", sources), f"no test implements the hook {name}"


def test_no_documented_hook_is_missing_from_the_specs():
    documented = set(re.findall(r"^### (\w+)\(", DOC, flags=re.M))
    assert documented == set(HOOKS)


class Shouting(voxline.Normalizer):
    """Replaces the built-in English normalizer (registered later wins)."""

    name = "shouting"
    version = "1"
    languages = ("en",)

    def normalize(self, text, language):
        return text.upper()


def test_register_normalizers_replaces_the_builtin_for_its_language(pm_with_tone, tmp_path,
                                                                    private_cache):
    class Plugin:
        @voxline.hookimpl
        def register_normalizers(self, register):
            register(Shouting)

    pm_with_tone.register(Plugin(), name="undo-shouting")
    registry = build_registry(pm_with_tone)
    assert registry.normalizers["en"] is Shouting
    src = tmp_path / "a.txt"
    src.write_text("Quiet words.", encoding="utf-8")
    settings = load_settings(overrides={"backend": "tone", "lang": "en"}, env={})
    Pipeline(pm_with_tone, registry, settings).run(
        Job(output_specs([(src, None)], tmp_path / "out", FORMATS["wav"], False), settings))
    assert ToneBackend.calls == ["QUIET WORDS."]


def test_register_commands_adds_a_command_to_voxline(tmp_path):
    site = tmp_path / "site"
    (site / "voxline_hello-1.0.dist-info").mkdir(parents=True)
    (site / "voxline_hello-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: voxline-hello\nVersion: 1.0\n")
    (site / "voxline_hello-1.0.dist-info" / "entry_points.txt").write_text(
        "[voxline]\nhello = voxline_hello\n")
    (site / "voxline_hello.py").write_text(
        "import click\nimport voxline\n\n\n@voxline.hookimpl\ndef register_commands(cli):\n"
        "    @cli.command()\n    def hello():\n        '''Say hello.'''\n"
        "        click.echo('hello from a plugin')\n")
    env = {"PYTHONPATH": str(site)}
    assert "hello" in run_cli("--help", env=env).stdout.decode()
    result = run_cli("hello", env=env)
    assert result.returncode == 0 and result.stdout.decode().strip() == "hello from a plugin"


def test_document_finished_and_warning_report_each_input(pm_with_tone, tmp_path,
                                                         private_cache):
    seen = []

    class Listener:
        @voxline.hookimpl
        def document_finished(self, document, result):
            seen.append(("finished", None if document is None else document.name,
                         result.ok, result.status))

        @voxline.hookimpl
        def warning(self, document, message):
            seen.append(("warning", document.name if document else None, message))

    pm_with_tone.register(Listener(), name="undo-listener")
    good = tmp_path / "good.ssml"
    good.write_text('<speak><prosody pitch="+20%">High and clear.</prosody></speak>')
    bad = tmp_path / "bad.txt"
    bad.write_text("This one will FAIL now.")
    settings = load_settings(overrides={"backend": "tone", "fallback": ""}, env={})
    registry = build_registry(pm_with_tone)
    job = Job(output_specs([(good, None), (bad, None)], tmp_path / "out", FORMATS["wav"],
                           False), settings)
    Pipeline(pm_with_tone, registry, settings).run(job)
    assert ("finished", "good", True, "new") in seen
    assert ("finished", "bad", False, "new") in seen
    assert any(w[0] == "warning" and w[1] == "good" and "pitch" in w[2] for w in seen)
    seen.clear()
    Pipeline(pm_with_tone, registry, settings).run(job)  # good.ssml is now up to date
    assert ("finished", None, True, "up to date") in seen


SNIPPET = re.compile(r"<!-- from (\S+) -->\n```\w*\n(.*?)```", re.S)


def test_the_tutorials_code_is_taken_from_files_that_tests_run():
    snippets = SNIPPET.findall(DOC)
    assert len(snippets) >= 6
    for path, code in snippets:
        source = (REPO / path).read_text(encoding="utf-8")
        assert code in source, f"docs/plugins.md quotes {path}, which no longer has:\n{code}"
