"""The pronunciation lexicon: words, phrases and patterns of the spoken text, each with what
to say in its place and, for backends that read phonemes, how to pronounce it.

It acts between normalize and segment, on each sentence's spoken text (what `voxline
normalize` prints), in the sentence's language. A file is TOML (see `samples/lexicon.toml`):

    ["*"]                               # any language
    "R&D" = "research and development"  # a replacement
    [en]
    Nguyen = { say = "Win", ipa = "wˈɪn" }
    'Dr\\.(?= [A-Z])' = { say = "Doctor", regex = true }
    [zh]
    重庆 = { pinyin = "chong2 qing4" }

or a W3C Pronunciation Lexicon (PLS, `.pls`). Matching: a word or phrase matches whole
words (in Latin and other spaced scripts; Chinese and Japanese characters match anywhere),
any run of spaces matching its spaces; written in lower case it matches any case, with a
capital only that case (`match_case` says otherwise). Where entries overlap, the one that
starts first wins, then the longest: `银行` and `行长` in `银行行长` both apply, `重庆` wins
over `重`. Entries never apply to what another entry put in.

Phonemes reach the backends that list their alphabet in `Capabilities.phoneme_alphabets`
as `SynthesisRequest.phonemes`; the others speak the replacement text (`say`, else the
word as written). A chunk's cache key holds its text after the lexicon and the phonemes
its backend reads, so editing an entry re-synthesizes only the chunks it touches.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.etree import ElementTree

from .errors import UsageError
from .langdetect import canonical_language
from .models import PhonemeSpan, Sentence

# alphabet names as files and SSML write them → voxline's name
ALPHABETS = {"ipa": "ipa", "pinyin": "pinyin", "x-pinyin": "pinyin"}
FILE_SUFFIXES = (".toml", ".pls")
FOLDER_LEXICON = "voxline.lexicon"  # + a suffix: applies to every input in its folder
ANY_LANGUAGE = "*"
_ENTRY_KEYS = {"say", "regex", "match_case", *ALPHABETS}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACED_SCRIPT_END = re.compile(r"[^\W\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# a word character of a script written with spaces between words (not CJK): where a word
# entry must not continue
_WORD_CHAR = r"[^\W\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]"
# a Mandarin syllable in pinyin with its tone (1-4, 5 neutral), erhua allowed
_PINYIN = re.compile(
    r"(?:[bpmfdtnlgkhjqxrzcsyw]|zh|ch|sh)?"
    r"(?:a|o|e|ai|ei|ao|ou|an|en|ang|eng|ong|er|i|ia|ie|iao|iu|ian|in|iang|ing|iong|io"
    r"|u|ua|uo|uai|ui|uan|un|uang|ueng|v|ü|ve|üe|van|üan|vn|ün|ue|u:|u:e)r?[1-5]")


class LexiconError(UsageError):
    """A lexicon file that cannot be used: the message names the file and the entry."""


def check_pinyin(phonemes: str, text: str) -> str | None:
    """Why `phonemes` is not a pinyin reading of `text` (one syllable with a tone digit per
    Han character), or None."""
    syllables = phonemes.split()
    wrong = [s for s in syllables if not _PINYIN.fullmatch(s.lower())]
    if wrong:
        return (f"pinyin {wrong[0]!r} is not a syllable with its tone digit "
                "(e.g. chong2, zhong4, ma5)")
    characters = text.replace(" ", "")
    if any(not _HAN.match(ch) for ch in characters):
        return f"pinyin reads Chinese characters only, and {text!r} has others"
    if len(syllables) != len(characters):
        return (f"pinyin gives {len(syllables)} syllables for the {len(characters)} "
                f"characters of {text!r} (one each)")
    return None


@dataclass(frozen=True)
class Entry:
    """One lexicon entry: `key` (a word, phrase or regular expression) in `language`
    (`*`: any), read as `say` and, for backends that read them, as `phonemes`
    ((alphabet, phonemes) pairs)."""

    file: str
    key: str
    language: str
    say: str | None = None
    phonemes: tuple[tuple[str, str], ...] = ()
    regex: bool = False
    match_case: bool | None = None  # None: matches any case when `key` has no capital
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", self._compile())

    @property
    def label(self) -> str:
        return f"{self.file}: [{self.language}] {self.key!r}"

    def _compile(self) -> re.Pattern:
        exact = self.match_case if self.match_case is not None else self.key != self.key.lower()
        flags = 0 if exact else re.IGNORECASE
        if self.regex:
            try:
                return re.compile(self.key, flags)
            except re.error as exc:
                raise LexiconError(f"{self.label}: not a regular expression: {exc}") from None
        words = self.key.split()
        if not words:
            raise LexiconError(f"{self.file}: [{self.language}] an empty word")
        body = r"\s+".join(map(re.escape, words))
        if _SPACED_SCRIPT_END.match(words[0][0]):
            body = f"(?<!{_WORD_CHAR})" + body
        if _SPACED_SCRIPT_END.match(words[-1][-1]):
            body += f"(?!{_WORD_CHAR})"
        return re.compile(body, flags)

    def to_dict(self) -> dict:
        return {"file": self.file, "language": self.language, "key": self.key,
                "say": self.say, "phonemes": dict(self.phonemes), "regex": self.regex}


@dataclass(frozen=True)
class Hit:
    """What an entry did once: `written` (the spoken text it matched) became `said`."""

    entry: Entry
    written: str
    said: str


@dataclass(frozen=True)
class Applied:
    text: str
    phonemes: tuple[PhonemeSpan, ...]
    hits: tuple[Hit, ...]


class Lexicon:
    """The entries of some lexicon files, later files overriding earlier ones entry by
    entry (same language and key)."""

    def __init__(self, entries: Iterable[Entry] = (), files: Sequence[str] = ()):
        merged: dict[tuple[str, str, bool], Entry] = {}
        for entry in entries:
            merged.pop((entry.language, entry.key, entry.regex), None)
            merged[(entry.language, entry.key, entry.regex)] = entry
        self.entries: tuple[Entry, ...] = tuple(merged.values())
        self.files = tuple(files)
        self._by_language: dict[str, list[Entry]] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def digest(self) -> str:
        """A digest of the entries: changes when any entry does."""
        blob = json.dumps([e.to_dict() for e in self.entries], ensure_ascii=False,
                          sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def _entries(self, language: str) -> list[Entry]:
        if language not in self._by_language:
            self._by_language[language] = [
                e for e in self.entries if e.language in (language, ANY_LANGUAGE)]
        return self._by_language[language]

    def apply(self, text: str, language: str) -> Applied:
        """`text` with the entries for `language` applied: the new text, the phonemes of
        the stretches entries replaced (offsets into the new text), and what each did."""
        entries = self._entries(language)
        if not entries:
            return Applied(text, (), ())
        found = []
        for order, entry in enumerate(entries):
            for match in entry.pattern.finditer(text):
                if match.end() > match.start():
                    found.append((match.start(), -(match.end() - match.start()), order, match,
                                  entry))
        found.sort(key=lambda item: item[:3])
        out, spans, hits = [], [], []
        position = 0
        for start, _, _, match, entry in found:
            if start < position:
                continue  # overlaps an earlier, or longer, match
            out.append(text[position:start])
            written = match.group()
            said = (match.expand(entry.say) if entry.regex else entry.say) \
                if entry.say is not None else written
            at = sum(len(piece) for piece in out)
            out.append(said)
            if said:
                spans.extend(PhonemeSpan(at, at + len(said), alphabet, phonemes)
                             for alphabet, phonemes in entry.phonemes)
            hits.append(Hit(entry, written, said))
            position = match.end()
        out.append(text[position:])
        return Applied("".join(out), tuple(spans), tuple(hits))

    def apply_sentence(self, sentence: Sentence) -> Sentence:
        """`sentence` with the entries of its language applied; one that has its
        pronunciation already (SSML `<phoneme>`) is left as it is."""
        if sentence.phonemes:
            return sentence
        applied = self.apply(sentence.text, sentence.language)
        if not applied.hits:
            return sentence
        return replace(sentence, text=applied.text, phonemes=applied.phonemes)


def _entry(file: str, language: str, key: str, value) -> Entry:
    where = f"{file}: [{language}] {key!r}"
    if isinstance(value, str):
        return Entry(file, key, language, say=value)
    if not isinstance(value, dict):
        raise LexiconError(f"{where}: give the text to say, or a table such as "
                           "{ say = \"…\", ipa = \"…\" }")
    unknown = sorted(set(value) - _ENTRY_KEYS)
    if unknown:
        raise LexiconError(f"{where}: unknown key {unknown[0]!r} (phoneme alphabets: "
                           f"{', '.join(sorted(ALPHABETS))}; other keys: match_case, regex, "
                           "say)")
    for name in value:
        wanted = bool if name in ("regex", "match_case") else str
        if not isinstance(value[name], wanted):
            raise LexiconError(f"{where}: {name} must be "
                               f"{'true or false' if wanted is bool else 'a string'}")
    say = value.get("say")
    phonemes = tuple((ALPHABETS[name], " ".join(value[name].split()))
                     for name in sorted(value) if name in ALPHABETS)
    regex = value.get("regex", False)
    if say is None and not phonemes:
        raise LexiconError(f"{where}: say what? (give say, ipa or pinyin)")
    if any(not p for _, p in phonemes):
        raise LexiconError(f"{where}: empty phonemes")
    if phonemes and say == "":
        raise LexiconError(f"{where}: phonemes for an empty replacement")
    for alphabet, text in phonemes:
        if alphabet == "pinyin":
            if regex:
                raise LexiconError(f"{where}: pinyin needs a word, not a regular expression "
                                   "(one syllable per character)")
            problem = check_pinyin(text, say if say is not None else key)
            if problem:
                raise LexiconError(f"{where}: {problem}")
    return Entry(file, key, language, say, phonemes, regex, value.get("match_case"))


def _language(file: str, name: str) -> str:
    if name == ANY_LANGUAGE:
        return name
    language = canonical_language(name)
    if not re.fullmatch(r"[a-z]{2,3}", language or ""):
        raise LexiconError(f"{file}: [{name}] is not a language code (en, zh, yue, …; "
                           f"\"*\" for any language)")
    return language


def _read_toml(path: Path, text: str) -> list[Entry]:
    file = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{file}: not valid TOML: {exc}") from None
    entries = []
    for name, table in data.items():
        if not isinstance(table, dict):
            raise LexiconError(f"{file}: {name!r} is outside a language table; put entries "
                               "under [en], [zh], … or [\"*\"]")
        language = _language(file, name)
        entries.extend(_entry(file, language, key, value) for key, value in table.items())
    return entries


_PLS_NS = "{http://www.w3.org/2005/01/pronunciation-lexicon}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _read_pls(path: Path, text: str) -> list[Entry]:
    """A W3C Pronunciation Lexicon: each `<lexeme>`'s `<grapheme>`s read as its first
    `<alias>` (say) and `<phoneme>`s (in the lexicon's or the phoneme's `alphabet`)."""
    file = str(path)
    if re.search(r"<!(DOCTYPE|ENTITY)", text):
        raise LexiconError(f"{file}: DOCTYPE and entity declarations are not allowed")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise LexiconError(f"{file}: not valid XML: {exc}") from None
    if root.tag.removeprefix(_PLS_NS) != "lexicon":
        raise LexiconError(f"{file}: the root element must be <lexicon>")
    language = _language(file, root.get(_XML_LANG) or ANY_LANGUAGE)
    default_alphabet = root.get("alphabet", "ipa")
    entries = []
    for number, lexeme in enumerate(root.iter(f"{_PLS_NS}lexeme"), 1):
        graphemes = [g.text.strip() for g in lexeme.iter(f"{_PLS_NS}grapheme")
                     if g.text and g.text.strip()]
        if not graphemes:
            raise LexiconError(f"{file}: lexeme {number} has no <grapheme>")
        value: dict[str, str] = {}
        alias = next((a.text for a in lexeme.iter(f"{_PLS_NS}alias") if a.text), None)
        if alias is not None:
            value["say"] = alias.strip()
        for phoneme in lexeme.iter(f"{_PLS_NS}phoneme"):
            alphabet = phoneme.get("alphabet", default_alphabet)
            if alphabet not in ALPHABETS:
                raise LexiconError(f"{file}: [{language}] {graphemes[0]!r}: unknown phoneme "
                                   f"alphabet {alphabet!r} (known: "
                                   f"{', '.join(sorted(ALPHABETS))})")
            if phoneme.text and ALPHABETS[alphabet] not in value:
                value[ALPHABETS[alphabet]] = phoneme.text.strip()
        entries.extend(_entry(file, language, g, dict(value)) for g in graphemes)
    return entries


def read_file(path: Path | str) -> list[Entry]:
    """The entries of one lexicon file (TOML, or PLS by its `.pls` suffix)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LexiconError(f"lexicon file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(f"lexicon file {path} cannot be read: {exc}") from None
    return _read_pls(path, text) if path.suffix.lower() == ".pls" else _read_toml(path, text)


def beside(source: Path | str) -> list[Path]:
    """The lexicons that go with the input `source`: `voxline.lexicon.toml` (or `.pls`) in
    its folder, then its own, named after it (`book.txt` → `book.lexicon.toml`)."""
    if str(source) == "-":
        return []
    source = Path(source)
    found = []
    for stem in (FOLDER_LEXICON, f"{source.stem}.lexicon"):
        for suffix in FILE_SUFFIXES:
            candidate = source.parent / f"{stem}{suffix}"
            if candidate.is_file():
                found.append(candidate)
    return found


def load(paths: Iterable[Path | str]) -> Lexicon:
    """The lexicon of `paths`, in order (a later file's entry replaces an earlier one's)."""
    paths = list(dict.fromkeys(str(p) for p in paths))
    entries: list[Entry] = []
    for path in paths:
        entries.extend(read_file(path))
    return Lexicon(entries, paths)


def files_for(configured: Sequence[str], source: Path | str | None) -> list[str]:
    """The lexicon files for one input: the configured ones (`[lexicon] files`,
    `--lexicon`), then those beside the input (`beside`); later ones win."""
    return [*configured, *(str(p) for p in (beside(source) if source is not None else []))]
