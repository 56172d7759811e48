"""The daily loop through the real Dispatcher, delivery worker and Bot API emulator: taking, not
sending, advances a learner; a missed day is caught up; failed sends offer the same journey
again; every text that asks for something comes with the button that does it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg

from bot.routers.journeys import next_step_cards
from bot.workers.delivery import DeliveryWorker
from bot.workers.sender import RateLimitedSender
from storage.journeys import OpenJourney
from tests.helpers import Clock, import_path, write_course
from tests.support.botapi import SentMessage
from tests.support.harness import Harness

ADA = 8101

QUIZ = (
    '[[quiz]]\nquestion = "2+2?"\noptions = [{text = "4", correct = true}, {text = "5"}]\n\n'
    '[[quiz]]\nquestion = "3+3?"\noptions = [{text = "7"}, {text = "6", correct = true}]\n'
)


def two_module_course(root: Path, slug: str = "loop") -> Path:
    return write_course(root, {
        "course.toml": f'slug = "{slug}"\ntitle = "Loop"\npass_mark = 100\n'
                       'quiz_cooldown_minutes = 60\n',
        "01-a.md": "# Module A\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n\n## Three\n\nThird.\n",
        "01-a.toml": QUIZ,
        "02-b.md": "# Module B\n\n## Four\n\nFourth.\n\n## Five\n\nFifth.\n",
    })


def fast_worker(pool: asyncpg.Pool, h: Harness, clock: Clock) -> DeliveryWorker:
    sender = RateLimitedSender(rate_per_second=100_000, chat_interval=0)
    return DeliveryWorker(pool, h.bot, sender, h.settings, clock=clock, name="loop")


# Phrases that ask the learner to act: such a text must carry buttons.
ASKS = ("Tap one", "tap one", "Tap to", "tap to", "Tap Start")


def assert_asks_have_buttons(messages: list[SentMessage]) -> None:
    for m in messages:
        if m.method != "sendMessage":  # an edit removes a button once it was used
            continue
        text = m.plain_text or ""
        if any(a in text for a in ASKS):
            assert m.buttons, f"asks without a button: {text!r}"


def last_with(h: Harness, chat: int, needle: str) -> SentMessage:
    return next(m for m in reversed(h.emu.messages_to(chat)) if needle in (m.plain_text or ""))


async def next_day(h: Harness, worker: DeliveryWorker, hours: int = 24) -> SentMessage | None:
    """Move to the next day's 08:05 UTC and run the scheduler; the card it sent, if any."""
    before = len(h.emu.messages_to(ADA))
    h.clock.now += timedelta(hours=hours)
    await worker.run_once()
    new = h.emu.messages_to(ADA)[before:]
    return new[-1] if new else None


async def answer_quiz(h: Harness, options: list[str]) -> None:
    for text in options:
        question = [m for m in h.emu.messages_to(ADA) if "Question" in (m.plain_text or "")
                    and m.buttons][-1]
        await h.press(ADA, question, text)


async def test_missed_day_is_caught_up_and_module_two_arrives(
    harness: Harness, tmp_path: Path
) -> None:
    """The issue's scenario: ignore day 1's journey, press Done on the cards of days 2-4."""
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_loop")  # day 1: journey One is shown... and ignored
    assert any("One" in t for t in h.texts_to(ADA))

    for title in ("Two", "Three"):  # days 2 and 3: open the card, Done
        card = await next_day(h, worker)
        assert card is not None and title in (card.plain_text or ""), h.texts_to(ADA)[-3:]
        await h.press(ADA, card, "Start")
        await h.press(ADA, last_with(h, ADA, title), "Done")
    # Module A's last journey is done, but One isn't: the bot names it, with its button.
    missing = last_with(h, ADA, "Still to do in Module 1")
    assert "One" in (missing.plain_text or "") and "Two" not in (missing.plain_text or "")
    assert [b["text"] for b in missing.buttons] == ["▶️ 1. One"]

    card = await next_day(h, worker)  # day 4: module B is locked, so One is offered again
    assert card is not None and "Still waiting for you" in (card.plain_text or "")
    assert "One" in (card.plain_text or "")
    await h.press(ADA, card, "Start")
    await h.press(ADA, last_with(h, ADA, "One"), "Done")
    offer = last_with(h, ADA, "last journey of Module 1")  # ...and now the quiz
    await h.press(ADA, offer, "Take the Module 1 quiz")
    await answer_quiz(h, ["4", "6"])
    assert any("You scored 100%" in t for t in h.texts_to(ADA))

    card = await next_day(h, worker)  # day 5: module 2 arrives
    assert card is not None and "Four" in (card.plain_text or ""), h.texts_to(ADA)[-3:]
    assert_asks_have_buttons(h.emu.messages_to(ADA))


async def test_opened_but_forgot_done_is_shown_the_way(
    harness: Harness, tmp_path: Path
) -> None:
    """A learner who opened One but never pressed Done, then did Two and Three (module 2
    locked): /today offers One again, /progress names it with a button, then the quiz."""
    h = harness
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    await h.say(ADA, "/start enroll_loop")
    for _ in ("Two", "Three"):
        h.clock.now += timedelta(days=1)
        await h.say(ADA, "/today")
        await h.press(ADA, [m for m in h.emu.messages_to(ADA) if m.buttons
                            and "Done" in str(m.buttons)][-1], "Done")
    h.clock.now += timedelta(days=1)
    await h.say(ADA, "/today")
    assert "Still waiting" not in h.texts_to(ADA)[-1]
    sent = len(h.emu.messages_to(ADA))
    await h.say(ADA, "/progress")
    progress = last_with(h, ADA, "Still open")
    assert [b["text"] for b in progress.buttons] == ["▶️ 1. One"]
    # the figures and their one next step come as one message, the buttons under them
    assert len(h.emu.messages_to(ADA)) == sent + 1 and "journeys)" in progress.plain_text
    await h.press(ADA, progress, "One")
    await h.press(ADA, last_with(h, ADA, "First."), "Done")
    quiz = last_with(h, ADA, "last journey of Module 1")
    assert quiz.button("Take the Module 1 quiz")
    h.clock.now += timedelta(days=1)
    await h.say(ADA, "/today")  # locked behind the quiz: the quiz button, nothing else to do
    locked = h.emu.messages_to(ADA)[-1]
    assert "pass the Module 1 quiz" in (locked.plain_text or "")
    assert locked.button("Take the Module 1 quiz")
    assert_asks_have_buttons(h.emu.messages_to(ADA))


async def test_card_failed_with_403_then_learner_writes_gets_same_journey(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_loop")
    await h.press(ADA, last_with(h, ADA, "First."), "Done")
    h.emu.block_chat(ADA)
    report_card = await next_day(h, worker)  # day 2's card (Two) fails: 403
    assert report_card is None
    async with h.pool.acquire() as conn:
        assert await conn.fetchval("SELECT is_reachable FROM users WHERE telegram_id=$1",
                                   ADA) is False
    await next_day(h, worker)  # nothing is sent to an unreachable learner
    h.emu.unblock_chat(ADA)
    h.clock.now += timedelta(hours=2)
    await h.say(ADA, "/today")  # the learner writes again
    shown = h.texts_to(ADA)
    assert any("Two" in t for t in shown[-2:]) and not any("Three" in t for t in shown)


async def test_card_given_up_after_5xx_is_offered_again(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_loop")
    await h.press(ADA, last_with(h, ADA, "First."), "Done")
    h.emu.fail_next(1000, 502, methods={"sendMessage"})
    h.clock.now += timedelta(days=1)
    for _ in range(h.settings.delivery_max_attempts + 2):  # retries, then the sender gives up
        await worker.run_once()
        h.clock.now += timedelta(minutes=20)
    h.emu.reset_faults()
    async with h.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM journey_deliveries "
                                   "WHERE status = 'failed'") == 1
    await h.say(ADA, "/today")  # same day: the failed card's journey, taken now
    assert any("Two" in t for t in h.texts_to(ADA)[-2:])
    assert not any("Three" in t for t in h.texts_to(ADA))


async def test_failed_send_next_day_still_waiting(harness: Harness, tmp_path: Path) -> None:
    """A card that never went out (gave up on 5xx) comes back the next day, same journey."""
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_loop")
    await h.press(ADA, last_with(h, ADA, "First."), "Done")
    h.emu.fail_next(1000, 500, methods={"sendMessage"})
    h.clock.now += timedelta(days=1)
    for _ in range(h.settings.delivery_max_attempts + 2):
        await worker.run_once()
        h.clock.now += timedelta(minutes=20)
    h.emu.reset_faults()
    h.clock.now = h.clock.now.replace(hour=8, minute=5) + timedelta(days=1)
    await worker.run_once()
    card = h.emu.messages_to(ADA)[-1]
    assert "Two" in (card.plain_text or "") and card.button("Start")


async def test_pause_leave_and_course_pick(harness: Harness, tmp_path: Path) -> None:
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    await import_path(h.pool, two_module_course(tmp_path / "a", "alpha"), now=h.clock.now)
    await import_path(h.pool, two_module_course(tmp_path / "b", "beta"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/pause beta")  # not enrolled anywhere yet: where to go instead
    assert "nor in any other yet" in h.texts_to(ADA)[-1] and "/courses" in h.texts_to(ADA)[-1]
    await h.say(ADA, "/start enroll_alpha")
    await h.say(ADA, "/resume gamma")  # a course she isn't in: her courses are listed
    assert "Your courses: alpha." in h.texts_to(ADA)[-1]
    await h.say(ADA, "/start enroll_beta")
    await h.say(ADA, "/pause beta")
    assert "/resume beta" in h.texts_to(ADA)[-1]
    before = len(h.emu.messages_to(ADA))
    h.clock.now += timedelta(days=1)
    await worker.run_once()
    new = h.texts_to(ADA)[before:]
    assert len(new) == 1 and "Loop" in new[0]
    async with h.pool.acquire() as conn:
        paused = await conn.fetchval(
            "SELECT paused_at FROM course_users cu JOIN courses c ON c.id = cu.course_id "
            "WHERE c.slug = 'beta'")
    assert paused is not None
    await h.say(ADA, "/resume beta")
    await h.say(ADA, "/course beta")
    assert "typed questions are about <b>Loop</b>" in (h.emu.messages_to(ADA)[-1].text or "")
    await h.say(ADA, "/course")
    assert h.emu.messages_to(ADA)[-1].button("✔ Loop")
    await h.say(ADA, "/leave beta")
    confirm = h.emu.messages_to(ADA)[-1]
    assert "progress is kept" in (confirm.plain_text or "")
    await h.press(ADA, confirm, "Yes, leave")
    await h.say(ADA, "/today")
    async with h.pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT left_at FROM course_users cu JOIN courses c ON c.id = cu.course_id "
            "WHERE c.slug = 'beta'")
    assert left is not None
    await h.say(ADA, "/start enroll_beta")
    assert "Welcome back to" in h.texts_to(ADA)[-2] or any(
        "Welcome back to" in t for t in h.texts_to(ADA)[-3:])
    async with h.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT left_at, next_due_at FROM course_users cu JOIN courses c "
            "ON c.id = cu.course_id LEFT JOIN course_user_schedule s "
            "ON s.course_user_id = cu.id WHERE c.slug = 'beta'")
    assert row["left_at"] is None and row["next_due_at"] is not None


async def _cooling_down(h: Harness, tmp_path: Path) -> DeliveryWorker:
    """Ada enrolled, her module 1 quiz failed, the cooldown ending in an hour."""
    h.clock.now = h.clock.now.replace(hour=9, minute=0)
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_loop")
    async with h.pool.acquire() as conn:
        cu = await conn.fetchval("SELECT id FROM course_users")
        await conn.execute(
            "INSERT INTO module_progress (user_id, course_id, module_no, cooldown_until) "
            "SELECT user_id, course_id, 1, $2 FROM course_users WHERE id = $1 "
            "ON CONFLICT (user_id, course_id, module_no) DO UPDATE SET cooldown_until = $2",
            cu, h.clock.now + timedelta(minutes=60))
    return worker


def _nudges(h: Harness) -> list[SentMessage]:
    return [m for m in h.emu.messages_to(ADA) if "retake the Module 1 quiz" in
            (m.plain_text or "")]


async def test_retake_nudge_once_after_cooldown(harness: Harness, tmp_path: Path) -> None:
    h = harness
    worker = await _cooling_down(h, tmp_path)
    await worker.run_once()
    assert not any("retake" in t for t in h.texts_to(ADA))
    h.clock.now += timedelta(minutes=61)
    await worker.run_once()
    await worker.run_once()
    nudges = _nudges(h)
    assert len(nudges) == 1 and nudges[0].button("Take the Module 1 quiz")
    async with h.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM learner_activity_events "
                                   "WHERE event_type = 'quiz.retake_nudge'") == 1


async def test_retake_nudge_failing_on_5xx_comes_later(harness: Harness, tmp_path: Path
                                                      ) -> None:
    """Telegram answers 5xx when the nudge is due: it comes once the back-off has passed,
    exactly once; a 400 (retrying won't help) gives up at once."""
    h = harness
    worker = await _cooling_down(h, tmp_path)
    h.clock.now += timedelta(minutes=61)
    h.emu.fail_next(2, 502, methods=["sendMessage"])
    await worker.run_once()  # fails: tried again in a minute
    await worker.run_once()  # too early: nothing is sent, nothing fails
    assert _nudges(h) == []
    h.clock.now += timedelta(minutes=1)
    await worker.run_once()  # fails again: now two minutes
    h.clock.now += timedelta(minutes=1)
    await worker.run_once()
    assert _nudges(h) == []
    h.clock.now += timedelta(minutes=1, seconds=1)
    await worker.run_once()
    await worker.run_once()
    assert len(_nudges(h)) == 1

    async with h.pool.acquire() as conn:  # the next cooldown's nudge meets a 400
        await conn.execute("UPDATE module_progress SET cooldown_until = $1",
                           h.clock.now + timedelta(minutes=60))
    h.clock.now += timedelta(minutes=61)
    h.emu.fail_next(1, 400, methods=["sendMessage"])
    await worker.run_once()
    h.clock.now += timedelta(hours=2)
    await worker.run_once()
    assert len(_nudges(h)) == 1


async def test_reimport_pushes_new_journeys_to_finishers(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    root = write_course(tmp_path / "c", {
        "course.toml": 'slug = "short"\ntitle = "Short"\n',
        "01-a.md": "# A\n\n## One\n\nFirst.\n",
    })
    await import_path(h.pool, root, now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_short")
    await h.press(ADA, last_with(h, ADA, "First."), "Done")
    assert any("finished every journey" in t for t in h.texts_to(ADA))
    (root / "01-a.md").write_text("# A\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n")
    h.clock.now += timedelta(hours=3)
    await import_path(h.pool, root, now=h.clock.now)
    async with h.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT completed_at, next_due_at FROM course_users cu "
            "LEFT JOIN course_user_schedule s ON s.course_user_id = cu.id")
    assert row["completed_at"] is None
    assert row["next_due_at"] == (h.clock.now + timedelta(days=1)).replace(hour=8, minute=0)
    card = await next_day(h, worker, hours=21)
    assert card is not None and "Two" in (card.plain_text or "")


def test_every_next_step_text_comes_with_its_keyboard() -> None:
    """Each lock / open / quiz text names what is missing and carries a button for each."""
    one, two, three = (OpenJourney(uuid.uuid4(), title, 1, n)
                       for n, title in enumerate(("One", "Two", "Three"), 1))
    cases = [
        {"open_": [one, two], "missing": (), "locked_after": None, "quiz_module": None},
        {"open_": [one, two], "missing": [one], "locked_after": 1, "quiz_module": None},
        {"open_": [], "missing": [one, three], "locked_after": 1, "quiz_module": None},
        {"open_": [], "missing": (), "locked_after": 1, "quiz_module": 1},
        {"open_": [], "missing": (), "locked_after": None, "quiz_module": 2},
        {"open_": [two], "missing": (), "locked_after": None, "quiz_module": 2},
        {"open_": [one], "missing": [one], "locked_after": 3, "quiz_module": None,
         "has_next_module": False},
    ]
    for case in cases:
        cards = next_step_cards(course_id=uuid.uuid4(), title="T", **case)
        assert cards, case
        buttons = []
        for card in cards:
            assert card.markup is not None, (case, card.messages)
            buttons += [b.text for row in card.markup.inline_keyboard for b in row]
            text = card.messages if isinstance(card.messages, str) else "".join(card.messages)
            for o in case["missing"]:
                if "Still to do" in text or "still to do" in text:
                    assert o.topic_title in text
        for o in [*case["missing"], *case["open_"]]:
            assert any(o.topic_title in b for b in buttons), (case, buttons)
        if case["quiz_module"]:
            assert any("quiz" in b for b in buttons), (case, buttons)


async def test_farewell_then_welcome_back_where_they_left_off(
    harness: Harness, tmp_path: Path
) -> None:
    """Four weeks of unopened cards end in one farewell; any message brings the cards back at
    the learner's delivery hour, with the journey they stopped at."""
    h = harness
    h.clock.now = h.clock.now.replace(hour=8, minute=5)
    await import_path(h.pool, two_module_course(tmp_path / "c"), now=h.clock.now)
    worker = fast_worker(h.pool, h, h.clock)
    await h.say(ADA, "/start enroll_loop")
    await h.press(ADA, last_with(h, ADA, "First."), "Done")
    cards = []
    for _ in range(40):
        card = await next_day(h, worker)
        if card is not None:
            cards.append(card)
    farewell = [c for c in cards if "I'll stop sending" in (c.plain_text or "")]
    assert len(farewell) == 1 and cards[-1] is farewell[0]
    assert farewell[0].button("Continue") and "/today" in (farewell[0].plain_text or "")
    assert len(cards) <= 9  # 3 daily, 2 every other day, then weekly, then the farewell
    assert all("Two" in (c.plain_text or "") for c in cards)  # never moved past it
    h.clock.now = h.clock.now.replace(hour=15)
    await h.say(ADA, "/help")  # any message
    async with h.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT lapsed_at, next_due_at FROM course_users cu "
            "LEFT JOIN course_user_schedule s ON s.course_user_id = cu.id")
    assert row["lapsed_at"] is None
    assert row["next_due_at"] == (h.clock.now + timedelta(days=1)).replace(hour=8, minute=0)
    card = await next_day(h, worker, hours=18)
    assert card is not None and "Two" in (card.plain_text or "") and card.button("Start")
