"""Plugins use voxline's public API only: the names `voxline/__init__.py` lists in `__all__`.
Everything else may change without notice, so a plugin in this repository that reaches past
it fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import voxline

from conftest import REPO

PLUGINS = sorted([*(REPO / "plugins").glob("*.py"), REPO / "pipeline" / "testing" / "tone.py",
                  REPO / "pipeline" / "testing" / "mishear.py",
                  *(REPO / "samples").glob("plugin-example/src/**/*.py")])


def private_uses(path: Path) -> list[str]:
    """`line: what` for each use of voxline outside `__all__` in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    public = set(voxline.__all__)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "voxline" or node.module.startswith("voxline.")):
            if node.module != "voxline":
                found.append(f"{node.lineno}: from {node.module} import ...")
            found += [f"{node.lineno}: voxline.{a.name}" for a in node.names
                      if node.module == "voxline" and a.name not in public]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("voxline.")]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "voxline" and node.attr not in public):
            found.append(f"{node.lineno}: voxline.{node.attr}")
    return found


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_only_the_public_api(path):
    assert private_uses(path) == []


def test_the_check_catches_private_imports(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import voxline\nimport voxline.job\nfrom voxline.cache import chunk_key\n"
                   "from voxline import Backend, _secret\nx = voxline.settings\n")
    assert private_uses(bad) == ["2: import voxline.job", "3: from voxline.cache import ...",
                                 "4: voxline._secret", "5: voxline.settings"]


def test_everything_in_all_exists():
    for name in voxline.__all__:
        assert hasattr(voxline, name), name
