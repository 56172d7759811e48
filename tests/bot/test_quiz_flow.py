"""The quiz in the chat: offered after a module's last journey, answered with buttons, a fail
refuses a retry until the cooldown, a pass unlocks the next module and celebrates once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.helpers import import_path, quiz_course
from tests.support.harness import Harness

LEARNER = 6001


async def answer_all(h: Harness, options: list[str]) -> None:
    for text in options:
        question = [m for m in h.emu.messages_to(LEARNER) if "Question" in (m.plain_text or "")
                    and m.buttons][-1]
        await h.press(LEARNER, question, text)


async def test_quiz_flow(harness: Harness, tmp_path: Path) -> None:
    h = harness
    await import_path(h.pool, quiz_course(tmp_path / "c", cooldown=30))
    await h.say(LEARNER, "/start enroll_q")
    journey = next(m for m in h.emu.messages_to(LEARNER) if m.buttons)
    await h.press(LEARNER, journey, "Done")
    h.clock.now += timedelta(days=1)
    await h.say(LEARNER, "/today")
    journey = [m for m in h.emu.messages_to(LEARNER) if m.buttons][-1]
    await h.press(LEARNER, journey, "Done")
    offer = [m for m in h.emu.messages_to(LEARNER) if "Take the Module 1 quiz" in str(m.buttons)]
    assert offer, h.texts_to(LEARNER)
    assert any("+30 XP" in t for t in h.texts_to(LEARNER))  # hard topic: 10 x 3

    await h.press(LEARNER, offer[-1], "Take the Module 1 quiz")
    await answer_all(h, ["5", "6"])  # one wrong
    texts = h.texts_to(LEARNER)
    assert any("You scored 50%" in t and "retry at" in t for t in texts)
    assert any("Not quite — the answer is 4" in t for t in texts)

    await h.say(LEARNER, "/quiz")
    assert "retake the Module 1 quiz in 30 min" in h.texts_to(LEARNER)[-1]
    await h.say(LEARNER, "/today")  # same day: the same journey again, then the next step
    assert "already had today's journey" in h.texts_to(LEARNER)[-2]
    h.clock.now += timedelta(days=1)
    await h.say(LEARNER, "/today")  # next day: module B is locked until the quiz is passed
    locked = h.emu.messages_to(LEARNER)[-1]
    assert "🔒" in (locked.plain_text or "") and "pass the Module 1 quiz" in locked.plain_text
    assert locked.button("Take the Module 1 quiz")  # ...with the button that does it

    h.clock.now += timedelta(minutes=31)
    await h.say(LEARNER, "/quiz")
    await answer_all(h, ["4", "6"])
    texts = h.texts_to(LEARNER)
    assert any("You scored 100%" in t for t in texts)
    assert sum("New badge: Module Master" in t for t in texts) == 1

    h.clock.now += timedelta(days=1)
    await h.say(LEARNER, "/today")
    assert any("Three" in t for t in h.texts_to(LEARNER)[-2:])
    await h.say(LEARNER, "/progress")
    progress = next(t for t in reversed(h.texts_to(LEARNER)) if "Module 1: Module A" in t)
    assert "Module 1: Module A — ✅ complete" in progress
    await h.say(LEARNER, "/badges")
    assert "Module Master" in h.texts_to(LEARNER)[-1]
