"""The bot speaks the learner's language: taken from Telegram on first contact, changed with
/language, kept afterwards; every text of the learner flow comes from that language's catalogue
(checked against the catalogue, not by eye), and the command menus are set per language."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.ui import menus
from bot.ui.menus import set_commands
from storage import users
from tests.support.catalogue import english_only_fragments, language_texts
from tests.support.harness import Harness

ROOT = Path(__file__).resolve().parents[2]
DEMO_TEXT = "\n".join(p.read_text(encoding="utf-8")
                      for p in sorted((ROOT / "courses" / "sql-basics").glob("*.*")))
# Buttons whose label is course content or a language's own name, by design
CONTENT_BUTTONS = ("qz:", "ask:", "lang:")
OPEN_JOURNEY = re.compile(r"▶️ \d+\. .+")  # "▶️ 2. <topic title>": a number and content
FAKE_LLM_ANSWER = "Use ORDER BY with DESC to sort from the highest value down [1]."


def _button(message, prefix: str) -> str:
    return next(b["text"] for b in message.buttons if b.get("callback_data", "").startswith(prefix))


def _last_with(h: Harness, uid: int, prefix: str):
    return next(m for m in reversed(h.emu.messages_to(uid))
                if any(b.get("callback_data", "").startswith(prefix) for b in m.buttons))


async def _learner_flow(h: Harness, uid: int, language_code: str) -> None:
    """start, enroll, today + Done for module 1's journeys (one a day), progress, the module
    quiz, a typed question, badges, help."""
    say = lambda text: h.say(uid, text, language_code=language_code)  # noqa: E731

    async def tap(message, prefix: str) -> None:
        await h.press(uid, message, _button(message, prefix), language_code=language_code)

    await say("/start")
    await say("/courses")
    await tap(_last_with(h, uid, "enr:"), "enr:")
    for day in range(4):  # module 1 of the demo course has four journeys
        if day:
            h.clock.now += timedelta(days=1)
            await say("/today")
        await tap(_last_with(h, uid, "jr:done"), "jr:done")
    await say("/progress")
    await tap(_last_with(h, uid, "qs:"), "qs:")
    while True:
        question = h.emu.messages_to(uid)[-1]
        if not any(b.get("callback_data", "").startswith("qz:") for b in question.buttons):
            break
        await tap(question, "qz:")
    await say("/quiz")
    await say("how do I list each genre only once?")
    await say("/badges")
    await say("/help")


def _sent(h: Harness, uid: int) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """The chat as the learner saw it: message texts (as sent, HTML), button labels with their
    payloads, and the callback answers (toasts)."""
    messages = h.emu.messages_to(uid)
    bodies = [m.text or "" for m in messages if m.text]
    buttons = [(b["text"], b.get("callback_data", "")) for m in messages for b in m.buttons]
    toasts = [c.text for c in h.emu.answered_callbacks if c.text]
    return bodies, buttons, toasts


@pytest.mark.parametrize(("lang", "language_code"), [("en", "en"), ("fil", "fil")])
async def test_the_learner_flow_speaks_the_learners_language(
    asker: Harness, lang: str, language_code: str,
) -> None:
    uid = 8801 if lang == "en" else 8802
    await _learner_flow(asker, uid, language_code)
    bodies, buttons, toasts = _sent(asker, uid)
    mine = language_texts(lang)
    other = language_texts("fil" if lang == "en" else "en")
    assert not any(other.whole(label) for label, data in buttons if data.startswith("jr:"))

    assert len(bodies) >= 15, bodies
    for text in bodies:  # each message carries one of the language's own texts …
        assert mine.produced(text), (lang, text[:300])
    for label, data in buttons:  # … each button is one of them
        if data.startswith(CONTENT_BUTTONS) or OPEN_JOURNEY.fullmatch(label):
            continue
        assert mine.whole(label.removeprefix("✔ ")), (lang, label, data)
    for toast in toasts:
        if re.search(r"[^\W\d_]", toast):
            assert mine.whole(toast), (lang, toast)
    flow = "\n".join([*bodies, *(label for label, _ in buttons), *toasts])
    if lang == "fil":  # … and no English text slipped in (course content may stay English)
        english = english_only_fragments(DEMO_TEXT + FAKE_LLM_ANSWER)
        assert len(english) > 200 and "Tap one to finish it" in english
        leaked = [f for f in english if f in flow]
        assert leaked == [], leaked
    # the milestones of the flow really happened, in that language
    done, passed, badge = {
        "en": ("✅ Done: ", "You scored", "New badge"),
        "fil": ("✅ Tapos na: ", "Nakakuha ka ng", "Bagong badge"),
    }[lang]
    assert sum(done in t for t in bodies) == 4
    assert any(passed in t for t in bodies)
    assert any(badge in t for t in bodies)
    assert any("Sources" in t for t in bodies)  # the answer to the typed question
    async with asker.pool.acquire() as conn:
        user = await users.get_by_telegram_id(conn, uid)
    assert user is not None and user.locale == lang


async def test_command_menus_are_set_per_language(asker: Harness) -> None:
    assert await set_commands(asker.bot, asker.settings) is True
    private = {"type": "all_private_chats"}
    codes = {c.params.get("language_code") for c in asker.emu.calls("setMyCommands")}
    assert codes == {None, "fil", "tl"}
    english = {c["command"]: c["description"] for c in asker.emu.get_commands(private)}
    fil = load_fil()
    for code in ("fil", "tl"):
        menu = {c["command"]: c["description"] for c in asker.emu.get_commands(private, code)}
        assert menu.keys() == english.keys() and "language" in menu
        for command, description in menu.items():
            assert description == fil[english[command]], command
    groups = asker.emu.get_commands({"type": "all_group_chats"}, "tl")
    assert [c["command"] for c in groups] == [c.command for c in menus.group_commands()]
    assert english["language"] == "Choose your language"


def load_fil() -> dict[str, str]:
    from tests.support.catalogue import load, po_path

    return {m.id: m.string for m in load(po_path("fil"), "fil") if m.id}


async def test_language_comes_from_telegram_once_and_language_switches_it(
    asker: Harness,
) -> None:
    h = asker
    tl, en = 8811, 8812
    await h.say(tl, "/help", language_code="tl")  # Telegram's Tagalog is Filipino
    assert "Mga kaya kong gawin" in h.texts_to(tl)[-1]
    h.clock.now += timedelta(minutes=2)  # past users.TOUCH_EVERY: the row is written again
    await h.say(tl, "/help", language_code="en")  # a later app language doesn't override
    assert "Mga kaya kong gawin" in h.texts_to(tl)[-1]

    await h.say(en, "/progress", language_code="de")  # a language the bot lacks: English
    assert "not enrolled" in h.texts_to(en)[-1]
    await h.say(en, "/language", language_code="de")
    picker = h.emu.messages_to(en)[-1]
    assert "English" in picker.plain_text and "✔ English" in str(picker.buttons)
    await h.press(en, picker, "Filipino", language_code="de")
    assert "Filipino" in h.texts_to(en)[-1] and "simula ngayon" in h.texts_to(en)[-1]
    await h.say(en, "/progress", language_code="en")  # the choice is remembered
    assert "Hindi ka pa naka-enroll" in h.texts_to(en)[-1]
    chat = {"type": "chat", "chat_id": en}  # … and their menu follows it, whatever the app says
    menu = {c["command"]: c["description"] for c in h.emu.get_commands(chat)}
    assert menu["language"] == "Piliin ang wika mo" and menu["today"] == "Ang journey mo ngayon"
    await h.say(en, "/language en")
    assert "from now on" in h.texts_to(en)[-1]
    menu = {c["command"]: c["description"] for c in h.emu.get_commands(chat)}
    assert menu["language"] == "Choose your language"
    await h.say(en, "/progress", language_code="fil")
    assert "not enrolled" in h.texts_to(en)[-1]
    async with h.pool.acquire() as conn:
        assert (await users.get_by_telegram_id(conn, tl)).locale == "fil"
        assert (await users.get_by_telegram_id(conn, en)).locale == "en"


async def test_daily_cards_sent_outside_an_update_use_the_recipients_language(
    asker: Harness,
) -> None:
    from bot.workers.delivery import DeliveryWorker
    from bot.workers.sender import RateLimitedSender

    h = asker
    fil, en = 8821, 8822
    await h.say(fil, "/start enroll_sql-basics", language_code="fil")
    await h.say(en, "/start enroll_sql-basics", language_code="en")
    h.clock.now += timedelta(days=1, hours=3)  # past everyone's next delivery hour
    sender = RateLimitedSender(rate_per_second=1000, chat_interval=0, group_per_minute=1000)
    worker = DeliveryWorker(h.pool, h.bot, sender, h.settings, clock=h.clock)
    report = await worker.run_once()
    assert report.sent >= 2, report
    card = {uid: h.emu.messages_to(uid)[-1] for uid in (fil, en)}
    assert "Ang journey mo ngayong araw" in card[fil].plain_text
    assert card[fil].button("Simulan")
    assert "Today's journey" in card[en].plain_text and card[en].button("Start")
