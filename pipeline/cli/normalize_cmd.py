"""`voxline normalize`: print what will be spoken."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-t", "--text", "texts", multiple=True, help="Text to normalize (repeatable).")
@click.option("--lang", help="Language of the text instead of detecting it per sentence.")
@click.option("--lexicon", "lexicons", multiple=True, type=click.Path(dir_okay=False),
              help="Apply this pronunciation lexicon too (repeatable), and say on standard "
                   "error what each entry did.")
def normalize(paths, texts, lang, lexicons):
    """Print the spoken form of the input, one line per input line (for SSML, one line per
    paragraph, markup removed), after the pronunciation lexicon: [lexicon] files of the
    config, each --lexicon, and those beside each input file (see `voxline synth --help`).

    Input is each --text, else each of PATHS (- for stdin), else stdin.
    """
    from voxline import langdetect, segment, ssml
    from voxline import lexicon as lexicon_mod
    from voxline.settings import load_settings
    from voxline.models import Document
    from voxline.normalize import NormalizerSet
    from voxline.pluginmanager import build_registry, get_plugin_manager
    from voxline.textio import read_document

    registry = build_registry(get_plugin_manager())
    normalizers = NormalizerSet(registry.normalizers)
    forced = lang and langdetect.canonical_language(lang)

    configured = load_settings(overrides={"lexicon": lexicons}).lexicon
    if texts:
        documents = [Document("--text", "text", t) for t in texts]
    else:
        documents = [read_document(p if p == "-" else Path(p)) for p in (paths or ("-",))]
    sources = [None] * len(texts) if texts else [p if p != "-" else None
                                                 for p in (paths or ("-",))]
    hits: dict[lexicon_mod.Entry, Counter] = {}
    used: list[lexicon_mod.Entry] = []

    for document, source in zip(documents, sources):
        lexicon = lexicon_mod.load(lexicon_mod.files_for(configured, source))
        used.extend(e for e in lexicon.entries if e not in used)
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
                    applied = lexicon.apply(normalizers.normalize(sentence, language),
                                            language)
                    for hit in applied.hits:
                        hits.setdefault(hit.entry, Counter())[(hit.written, hit.said)] += 1
                    said = applied.text
                    spoken += (segment.joiner(spoken, said) if spoken else "") + said
            if spoken or not document.is_ssml:
                click.echo(spoken)
    if used:
        click.echo("\n".join(lexicon_report(used, hits)), err=True)


def lexicon_report(entries, hits) -> list[str]:
    """What each lexicon entry did: each text it matched, what it became, how often."""
    lines = [f"lexicon: {len(entries)} entries, {sum(1 for e in entries if e in hits)} used"]
    for entry in entries:
        key = f"/{entry.key}/" if entry.regex else repr(entry.key)
        phonemes = "".join(f" [{alphabet} {ph}]" for alphabet, ph in entry.phonemes)
        if entry not in hits:
            lines.append(f"  {entry.label}: not used")
            continue
        for (written, said), count in hits[entry].items():
            change = f" → {said!r}" if said != written else ""
            lines.append(f"  {entry.file}: [{entry.language}] {key}: {written!r}{change}"
                         f"{phonemes} ×{count}")
    return lines
