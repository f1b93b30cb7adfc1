"""Text normalization against public test suites: exact-match accuracy per file.

    python -m benchmarks tn PATH...     files or folders of test cases

Two public formats are read, each line one case:

- NVIDIA NeMo-text-processing (`tests/nemo_text_processing/en/data_text_normalization/
  test_cases_*.txt`): `written~spoken`, English;
- WeTextProcessing (`tn/chinese/test/data/*.txt`): `written => spoken`, Chinese.

The suites are Apache-2.0 but are not copied into voxline: fetch the repositories and point
this at the files. The language comes from the format (`--lang` overrides it). Each case goes
through the normalizer voxline registers for that language (the one `voxline normalize` uses),
and counts as a match when both sides are equal after a neutral comparison: case, punctuation,
hyphens against spaces, full/half width, and spacing (all of it, in Chinese). The comparison is
deliberately no looser than that: "one hundred and five" against "one hundred five" is a miss.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = {"~": "en", "=>": "zh"}


@dataclass
class FileScore:
    path: str
    language: str
    cases: int = 0
    matched: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # written, expected, got

    @property
    def accuracy(self) -> float:
        return self.matched / self.cases if self.cases else 0.0

    def to_dict(self) -> dict:
        return {"file": self.path, "language": self.language, "cases": self.cases,
                "matched": self.matched, "accuracy": round(self.accuracy, 4),
                "misses": [{"written": w, "expected": e, "got": g} for w, e, g in self.misses]}


def read_cases(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """The cases of one file and the language its format implies."""
    lines = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line.strip()]
    delimiter = "=>" if all("=>" in line for line in lines) else "~"
    cases = []
    for line in lines:
        written, _, spoken = line.partition(delimiter)
        cases.append((written.strip(), spoken.strip()))
    return FORMATS[delimiter], cases


def neutral(text: str, language: str) -> str:
    """What both sides are compared as: no case, punctuation, hyphens or width."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    if language == "zh":
        return re.sub(r"\s+", "", text)
    return " ".join(text.split())


def expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files.extend(sorted(path.glob("*.txt")) if path.is_dir() else [path])
    return files


def score(paths: list[str], language: str | None = None) -> list[FileScore]:
    from voxline.normalize import NormalizerSet
    from voxline.pluginmanager import build_registry, get_plugin_manager

    normalizers = NormalizerSet(build_registry(get_plugin_manager()).normalizers)
    results = []
    for path in expand(paths):
        implied, cases = read_cases(path)
        lang = language or implied
        result = FileScore(str(path), lang)
        for written, expected in cases:
            got = normalizers.normalize(written, lang)
            result.cases += 1
            if neutral(got, lang) == neutral(expected, lang):
                result.matched += 1
            else:
                result.misses.append((written, expected, got))
        results.append(result)
    return results


def print_table(results: list[FileScore], show_misses: bool = False) -> None:
    width = max([len(Path(r.path).name) for r in results] + [4])
    print(f"{'file':<{width}}  lang  matched / cases  accuracy")
    for r in results:
        print(f"{Path(r.path).name:<{width}}  {r.language:<4}  {r.matched:>7} / {r.cases:<5}"
              f"  {r.accuracy:7.1%}")
        if show_misses:
            for written, expected, got in r.misses:
                print(f"    {written!r}\n      want {expected!r}\n      got  {got!r}")
    for lang in sorted({r.language for r in results}):
        mine = [r for r in results if r.language == lang]
        cases, matched = sum(r.cases for r in mine), sum(r.matched for r in mine)
        print(f"{'all ' + lang:<{width}}  {lang:<4}  {matched:>7} / {cases:<5}"
              f"  {matched / cases if cases else 0:7.1%}")
