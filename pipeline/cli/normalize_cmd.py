"""`voxline normalize`: print what will be spoken."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-t", "--text", "texts", multiple=True, help="Text to normalize (repeatable).")
@click.option("--lang", help="Language of the text instead of detecting it per sentence.")
def normalize(paths, texts, lang):
    """Print the spoken form of the input, one line per input line (for SSML, one line per
    paragraph, markup removed).

    Input is each --text, else each of PATHS (- for stdin), else stdin.
    """
    from voxline import langdetect, segment, ssml
    from voxline.models import Document
    from voxline.normalize import NormalizerSet
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.textio import read_document

    registry = build_registry(get_plugin_manager())
    normalizers = NormalizerSet(registry.normalizers)
    forced = lang and langdetect.canonical_language(lang)

    if texts:
        documents = [Document("--text", "text", t) for t in texts]
    else:
        documents = [read_document(p if p == "-" else Path(p)) for p in (paths or ("-",))]

    for document in documents:
        dominant = forced or langdetect.dominant(document.text)
        if document.is_ssml:
            lines, current = [], []
            for item in ssml.clean_ssml(document.text).items:
                if isinstance(item, ssml.TextRun):
                    current.append((" ".join(item.text.split()), item.language))
                elif isinstance(item, ssml.Boundary) and item.kind == "p" and current:
                    lines.append(current)
                    current = []
            lines.append(current)
        else:
            lines = [[(line, None)] for line in document.text.splitlines()]
        for line in lines:
            spoken = ""
            previous = dominant
            for text, run_language in line:
                for sentence, _ in segment.split_sentences(text):
                    language = (run_language or forced or langdetect.detect(sentence, previous)
                                or dominant)
                    previous = language
                    said = normalizers.normalize(sentence, language)
                    spoken += (segment.joiner(spoken, said) if spoken else "") + said
            if spoken or not document.is_ssml:
                click.echo(spoken)
