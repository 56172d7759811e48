"""The bot's gettext catalogues as tests read them: every message of a language, what is wrong
with a catalogue (untranslated, fuzzy, placeholders or tags that differ, plural forms that
don't fit the language), and patterns that tell which language a text the bot sent is in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, locales_dir

PLACEHOLDER = re.compile(r"\{[^{}]*\}")
TAG = re.compile(r"</?[a-z]+[^>]*>")
LETTERS = re.compile(r"[^\W\d_]")


def po_path(lang: str, root: Path | None = None) -> Path:
    return (root or locales_dir()) / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=lang)


def ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {m.id for m in catalog if m.id}


def forms(msgid: str | tuple[str, ...]) -> tuple[str, ...]:
    return msgid if isinstance(msgid, tuple) else (msgid,)


def problems(catalog: Catalog) -> list[str]:
    """Everything that would make a learner see English (or a broken text) in this language."""
    expected = Catalog(locale=catalog.locale).num_plurals  # Babel's plural rules (CLDR)
    out = []
    if catalog.num_plurals != expected:
        out.append(f"Plural-Forms has {catalog.num_plurals} forms, the language has {expected}")
    for m in catalog:
        if not m.id:
            continue
        name = forms(m.id)[0][:60]
        if m.fuzzy:
            out.append(f"fuzzy: {name!r}")
        strings = forms(m.string) if m.string else ()
        if not any(strings):
            out.append(f"untranslated: {name!r}")
            continue
        if m.pluralizable and len(strings) != expected:
            out.append(f"{len(strings)} plural forms instead of {expected}: {name!r}")
        english = forms(m.id)
        for i, text in enumerate(strings):
            source = english[min(i, len(english) - 1)]
            if not text:
                out.append(f"form {i} untranslated: {name!r}")
            elif sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(source)):
                out.append(f"placeholders differ: {name!r} → {text[:60]!r}")
            elif sorted(TAG.findall(text)) != sorted(TAG.findall(source)):
                out.append(f"HTML tags differ: {name!r} → {text[:60]!r}")
    return out


@dataclass(frozen=True)
class Texts:
    """What a language's texts look like: one pattern per message form (placeholders match
    anything), only for texts with enough words of their own to say which language they are."""

    patterns: list[re.Pattern[str]]

    def produced(self, text: str) -> bool:
        """`text` contains one of this language's texts."""
        return any(p.search(text) for p in self.patterns)

    def whole(self, text: str) -> bool:
        """`text` is exactly one of this language's texts (a button label)."""
        return any(p.fullmatch(text) for p in self.patterns)


def _pattern(text: str) -> re.Pattern[str]:
    parts = PLACEHOLDER.split(text)
    return re.compile(".*?".join(re.escape(p) for p in parts), re.S)


def _own_letters(text: str) -> int:
    return len(LETTERS.findall(TAG.sub("", PLACEHOLDER.sub("", text))))


def language_texts(lang: str) -> Texts:
    """The texts of `lang`: the msgstrs of its catalogue, or the msgids for English."""
    catalog = load(po_path("fil"), "fil")
    found: list[str] = []
    for m in catalog:
        if not m.id:
            continue
        found += forms(m.id) if lang == "en" else [s for s in forms(m.string) if s]
    distinctive = [t for t in found if _own_letters(t) >= 4]
    return Texts(sorted({_pattern(t) for t in distinctive}, key=lambda p: -len(p.pattern)))


def english_only_fragments(also_english: str = "") -> list[str]:
    """Runs of English words from the bot's texts that its Filipino texts don't contain (nor
    `also_english`: course content, which may stay English): seeing one in a Filipino chat
    means an English text reached a Filipino learner."""
    catalog = load(po_path("fil"), "fil")
    filipino = "\n".join(s for m in catalog if m.id for s in forms(m.string) if s)
    out = set()
    for m in catalog:
        if not m.id:
            continue
        for text in forms(m.id):
            for piece in re.split(r"\{[^{}]*\}|</?[a-z]+[^>]*>|\n", text):
                piece = piece.strip(" .,:;—–-()“”\"'!?…")
                if (len(piece) >= 12 and " " in piece and piece not in filipino
                        and piece not in also_english):
                    out.add(piece)
    return sorted(out)
