"""`voxline normalize`: print what will be spoken."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-t", "--text", "texts", multiple=True, help="Text to normalize (repeatable).")
@click.option("--lang", help="Language of the text instead of detecting it per sentence.")
def normalize(paths, texts, lang):
    """Print the spoken form of the input, one line per input line.

    Input is each --text, else each of PATHS (- for stdin), else stdin.
    """
    from voxline import langdetect, segment
    from voxline.normalize import NormalizerSet
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.textio import read_document

    registry = build_registry(get_plugin_manager())
    normalizers = NormalizerSet(registry.normalizers)
    forced = lang and langdetect.canonical_language(lang)

    if texts:
        bodies = list(texts)
    else:
        bodies = [read_document(p if p == "-" else Path(p)).text
                  for p in (paths or ("-",))]
    for body in bodies:
        dominant = forced or langdetect.dominant(body)
        for line in body.splitlines():
            previous = dominant
            spoken = ""
            for sentence, _ in segment.split_sentences(line):
                language = forced or langdetect.detect(sentence, previous) or dominant
                previous = language
                said = normalizers.normalize(sentence, language)
                spoken += (segment.joiner(spoken, said) if spoken else "") + said
            click.echo(spoken)
