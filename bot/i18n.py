"""The bot's languages: gettext catalogues (aiogram's `I18n`), the learner's locale per update,
and Babel formatting of dates and numbers in that locale.

Catalogues live in `locales/<lang>/LC_MESSAGES/learnbot.po` (English is the source language:
its texts are the msgids, so it needs no catalogue). The `.po` files are the truth: loading
compiles each one (Babel), writes the `.mo` beside it when it is missing or differs, and uses
the freshly compiled bytes, so a fresh clone, an edited `.po` or a read-only install can never
run with a stale or missing `.mo`."""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import logging
import os
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.types import Chat, TelegramObject
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

DOMAIN = "learnbot"
DEFAULT = "en"
# Every language the bot speaks, in the order /language offers them, with its own name.
LANGUAGES: dict[str, str] = {"en": "English", "fil": "Filipino"}


def locales_dir() -> Path:
    env = os.environ.get("LEARNBOT_LOCALES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "locales"


def compile_po(po_path: Path) -> bytes:
    """The `.mo` bytes of one catalogue (fuzzy entries left out, as `pybabel compile` does)."""
    with po_path.open("rb") as fp:
        catalog = read_po(fp, locale=po_path.parents[1].name, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


class Catalogues(I18n):
    """aiogram's I18n, loading from the `.po` files (compiled on load, see the module doc)."""

    def find_locales(self) -> dict[str, _gettext.GNUTranslations]:
        found: dict[str, _gettext.GNUTranslations] = {}
        if not self.path.is_dir():
            return found
        for lang in sorted(self.path.iterdir()):
            po = lang / "LC_MESSAGES" / f"{self.domain}.po"
            mo = po.with_suffix(".mo")
            if po.exists():
                data = compile_po(po)
                try:
                    if not mo.exists() or mo.read_bytes() != data:
                        # atomically: several processes may start at once
                        tmp = mo.with_name(f"{mo.name}.{os.getpid()}.tmp")
                        tmp.write_bytes(data)
                        os.replace(tmp, mo)
                except OSError as exc:  # a read-only install: the in-memory copy is enough
                    log.debug("could not write %s: %s", mo, exc)
            elif mo.exists():
                data = mo.read_bytes()
            else:
                continue
            found[lang.name] = _gettext.GNUTranslations(io.BytesIO(data))
        return found


i18n = Catalogues(path=locales_dir(), default_locale=DEFAULT, domain=DOMAIN)


def gettext(message: str) -> str:
    """`message` in the current locale (English when it has no translation)."""
    return i18n.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message for `n` in the current locale's plural rules."""
    return i18n.gettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a msgid for extraction; it is translated where it is read (bot/ui/texts.py)."""
    return message


def current() -> str:
    return i18n.current_locale


def normalize(language_code: str | None) -> str:
    """A Telegram `language_code` ("tl", "fil", "fil-PH", "en-US", None) as one of LANGUAGES:
    Tagalog is Filipino here; anything the bot doesn't speak is English."""
    tag = (language_code or "").lower().replace("_", "-").split("-")[0]
    if tag in ("tl", "fil"):
        return "fil"
    return tag if tag in LANGUAGES else DEFAULT


def speakable(locale: str | None) -> str:
    """A stored locale the bot can use now (a language removed since falls back to English)."""
    return locale if locale in LANGUAGES else DEFAULT


def speaking(locale: str | None) -> AbstractContextManager[None]:
    """Texts built inside speak a stored locale: for what is sent outside the recipient's own
    update (daily cards, nudges, background reports, private hints from a group)."""
    return i18n.use_locale(speakable(locale))


def fmt_datetime(moment: datetime, tz: str, pattern: str) -> str:
    """`moment` in zone `tz`, as a CLDR `pattern`, with the current locale's day/month names."""
    return format_datetime(moment, pattern, tzinfo=ZoneInfo(tz), locale=_babel(babel_locale()))


def fmt_number(value: float) -> str:
    return format_decimal(value, locale=_babel(babel_locale()))


@functools.cache
def _babel(code: str) -> Locale:
    """Babel parses a locale given by name on every call: 26 µs a date against 11 µs."""
    return Locale.parse(code)


def babel_locale() -> str:
    return current() if current() in LANGUAGES else DEFAULT


class LocaleMiddleware(I18nMiddleware):
    """Sets the update's locale: the stored learner's choice once `user` is loaded, before
    that (flood and database-trouble replies) the language Telegram reports for the sender.
    Group chats are shared, so what the bot says there is in the default language."""

    def __init__(self) -> None:
        super().__init__(i18n, i18n_key=None, middleware_key="locale_middleware")

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        return locale_of(data)


def locale_of(data: dict[str, Any]) -> str:
    """The locale an update is answered in, from what the middlewares have put in `data`."""
    chat: Chat | None = data.get("event_chat")
    if chat is not None and chat.type in ("group", "supergroup", "channel"):
        return DEFAULT
    user = data.get("user")
    if user is not None:
        return speakable(user.locale)
    tg: TgUser | None = data.get("event_from_user")
    return normalize(tg.language_code if tg else None)
