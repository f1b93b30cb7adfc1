"""What `pip install voxline` (a wheel, not an editable install) carries: every package folder
and every data file the code reads at run time. An editable install finds them all anyway, so
only this check notices a folder missing from pyproject's package list."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setuptools():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folders():
    """Each package name with the source folder it is built from."""
    config = _setuptools()
    roots = config["package-dir"]
    for name in config["packages"]:
        # the nearest mapped parent names the folder (voxline.tui.widgets -> tui/widgets)
        parent = max((p for p in roots if name == p or name.startswith(p + ".")), key=len)
        rest = name[len(parent):].lstrip(".")
        yield name, ROOT / roots[parent] / Path(*rest.split(".")) if rest else ROOT / roots[parent]


def test_every_package_folder_is_listed():
    config = _setuptools()
    listed = {folder for _, folder in _folders()}
    for root in set(config["package-dir"].values()):
        for init in (ROOT / root).rglob("__init__.py"):
            assert init.parent in listed, f"{init.parent.relative_to(ROOT)} is not in pyproject's packages"


def test_every_data_file_is_packaged():
    data = _setuptools().get("package-data", {})
    for name, folder in _folders():
        for path in folder.iterdir():
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                assert any(fnmatch(path.name, pattern) for pattern in data.get(name, [])), (
                    f"{path.relative_to(ROOT)} is read from the package but not in package-data")
