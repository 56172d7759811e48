"""The bot's catalogues (locales/): complete in every language, with the English placeholders,
tags and the language's own plural forms; in step with the code (an extraction finds exactly
their messages) and with the compiled .mo files; a missing translation falls back to English."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface

from bot.i18n import DOMAIN, LANGUAGES, Catalogues, compile_po, i18n, locales_dir
from bot.ui import menus, texts
from tests.support.catalogue import forms, ids, load, po_path, problems

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]  # English is the msgids


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set:
    """What `pybabel extract` (the README's command, babel.cfg) finds in the code now."""
    out = tmp_path_factory.mktemp("pot") / "now.pot"
    CommandLineInterface().run([
        "pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-c", "TRANSLATORS:",
        "-o", str(out), str(ROOT)])
    return ids(load(out))


def test_every_language_is_complete_with_the_same_placeholders_and_plural_forms() -> None:
    assert TRANSLATED == ["fil"]
    for lang in TRANSLATED:
        catalog = load(po_path(lang), lang)
        assert problems(catalog) == [], lang
        # Babel's rules for Filipino: two forms, and the header says so
        assert catalog.num_plurals == 2 and "nplurals=2" in catalog.plural_forms


def test_catalogues_are_in_step_with_the_code(extracted: set) -> None:
    template = ids(load(locales_dir() / f"{DOMAIN}.pot"))
    assert extracted, "the extraction found nothing"
    assert template == extracted, ("run `make locales`", extracted ^ template)
    for lang in TRANSLATED:
        catalog = ids(load(po_path(lang), lang))
        assert catalog == extracted, (lang, "run `make locales`", extracted ^ catalog)


def test_every_named_text_and_menu_is_a_catalogue_message(extracted: set) -> None:
    singular = {forms(m)[0] for m in extracted}
    for name in texts.message_names():
        value = texts._MESSAGES[name]
        for text in value.values() if isinstance(value, dict) else [value]:
            assert text in singular, name
    for command in menus.admin_commands() + menus.group_commands():
        assert command.description in singular, command.command


def test_import_problems_are_catalogue_messages(extracted: set) -> None:
    """Every problem content/course_format.py can report is marked (N_) and so extracted:
    the checks above then hold them to the same rules; the bot renders them translated."""
    tree = ast.parse((ROOT / "content" / "course_format.py").read_text(encoding="utf-8"))
    marked = {node.args[0].value for node in ast.walk(tree)
              if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_"
              and node.args and isinstance(node.args[0], ast.Constant)}
    problems_made = sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call)
                        and getattr(node.func, "id", None) == "Problem")
    assert len(marked) > 50 and problems_made > 50
    assert marked <= extracted, marked - extracted
    fil = load(po_path("fil"), "fil")
    with i18n.use_locale("fil"):
        for msgid in marked:
            assert fil[msgid].string and i18n.gettext(msgid) == fil[msgid].string, msgid


def test_compiled_mo_files_match_the_po_files() -> None:
    for lang in TRANSLATED:
        po = po_path(lang)
        mo = po.with_suffix(".mo")
        assert mo.exists(), "loading the catalogues writes the .mo"
        assert mo.read_bytes() == compile_po(po), lang
    assert set(i18n.available_locales) == set(TRANSLATED)


def test_texts_read_in_the_current_language() -> None:
    fil = load(po_path("fil"), "fil")
    with i18n.use_locale("fil"):
        assert fil[texts._MESSAGES["NOT_ENROLLED"]].string == texts.NOT_ENROLLED
        assert texts.quiz_start(1, "Basics", 1, 80).endswith("1 tanong, pass mark 80%.")
        assert "5 na tanong" in texts.quiz_start(1, "Basics", 5, 80)
        assert texts.rewards(1200, 3) == "+1,200 XP · 🔥 3-araw na streak"
    assert texts.NOT_ENROLLED.startswith("You're not enrolled")  # English outside
    assert "1 question," in texts.quiz_start(1, "Basics", 1, 80)
    assert "5 questions," in texts.quiz_start(1, "Basics", 5, 80)


def test_a_missing_translation_falls_back_to_english_and_is_reported(tmp_path: Path) -> None:
    shutil.copytree(locales_dir(), tmp_path / "locales")
    po = po_path("fil", tmp_path / "locales")
    catalog = load(po, "fil")
    english = texts._MESSAGES["NOT_ENROLLED"]
    text = po.read_text(encoding="utf-8")
    translated = catalog[english].string
    po.write_text(text.replace(f'msgstr "{translated}"', 'msgstr ""'), encoding="utf-8")

    assert f"untranslated: {english[:60]!r}" in problems(load(po, "fil"))
    partial = Catalogues(path=tmp_path / "locales", default_locale="en", domain=DOMAIN)
    assert partial.gettext(english, locale="fil") == english  # English, never a key or blank
    other = texts._MESSAGES["NOT_YET"]
    assert partial.gettext(other, locale="fil") == catalog[other].string
    assert (po.with_suffix(".mo")).exists()  # compiled on load, no separate step
