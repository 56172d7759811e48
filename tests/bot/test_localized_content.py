"""Course content in the learner's language, through the real Dispatcher and the Bot API
emulator: a Filipino learner (users.locale = 'fil') reads module 1 of the demo course — its
journeys, quiz and feedback, /progress — in Filipino and module 2, which has no Filipino
version, in English; the delivery worker's daily cards follow each learner's language; an
English learner reads English throughout; a cohort whose members read
Filipino gets its cold calls in Filipino; questions asked in Filipino are answered from the
Filipino passages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg

from bot.app import make_bot
from bot.config import load_settings
from bot.i18n import i18n
from bot.ui import texts as catalogue
from bot.workers.delivery import DeliveryWorker
from bot.workers.sender import RateLimitedSender
from tests.bot.cohort_helpers import (
    ADA,
    BOB,
    GROUP,
    TUTOR,
    bot_posts,
    cohort_with_members,
    last_text,
    rig,
)
from tests.helpers import (
    DEMO,
    DUE_AT,
    DUE_BASE,
    Clock,
    copy_demo,
    import_path,
    seed_learners,
    zip_course,
)
from tests.support.botapi import BotAPIEmulator
from tests.support.fake_llm import FakeLLM
from tests.support.harness import ADMIN, Harness

FIL = 8101
ENG = 8102

# The correct options of module 1's quiz, as the buttons show them (60 characters at most).
FIL_ANSWERS = [
    "SELECT title FROM books;",
    "Ang paghahambing sa NULL gamit ang = ay nagbibigay ng unknown"[:60],
    "Ang mga title ng tatlong pinakamahal na libro.",
    "title ILIKE '%war%'",
]
ENG_ANSWERS = [
    "SELECT title FROM books;",
    "Comparing with NULL using = gives unknown (NULL), never true"[:60],
    "The titles of the three most expensive books.",
    "title ILIKE '%war%'",
]


async def set_locale(pool: asyncpg.Pool, telegram_id: int, locale: str) -> None:
    async with pool.acquire() as conn:
        done = await conn.execute("UPDATE users SET locale = $2 WHERE telegram_id = $1",
                                  telegram_id, locale)
        assert done == "UPDATE 1"


def last_with_buttons(h: Harness, who: int):
    return [m for m in h.emu.messages_to(who) if m.buttons][-1]


async def walk_module_one(h: Harness, who: int, answers: list[str], lang: str) -> list[str]:
    """Four days of journeys with Done, then the quiz answered right; returns the texts of
    the journey cards. Buttons are labelled in the learner's language (the catalogue's)."""
    with i18n.use_locale(lang):
        done = str(catalogue.BTN_DONE)
    cards = []
    for day in range(4):
        if day:
            h.clock.now += timedelta(days=1)
            await h.say(who, "/today")
        card = next(m for m in reversed(h.emu.messages_to(who))
                    if any(b["text"] == done for b in m.buttons))
        cards.append(card.plain_text or "")
        await h.press(who, card, done)
    await h.say(who, "/quiz")
    for text in answers:
        question = [m for m in h.emu.messages_to(who)
                    if any(text in b["text"] for b in m.buttons)][-1]
        await h.press(who, question, text)
    return cards


async def test_a_filipino_learner_reads_module_one_in_filipino_and_module_two_in_english(
    harness: Harness,
) -> None:
    h = harness
    await import_path(h.pool, DEMO)
    await h.say(FIL, "/start")
    await set_locale(h.pool, FIL, "fil")
    await h.say(FIL, "/start enroll_sql-basics")

    cards = await walk_module_one(h, FIL, FIL_ANSWERS, "fil")
    assert "Mga table, row at SELECT" in cards[0]
    assert "Pagtatanong sa isang table" in cards[0]  # the module's title
    assert "Sa isang relational database, nakaimbak ang data sa mga table" in cards[0]
    assert "SELECT title, published_year" in cards[0]  # code stays as it is
    assert "Pagsala ng mga row gamit ang WHERE" in cards[1]
    assert "Paghahanap ng pattern at mga expression" in cards[3]
    assert not any("Tables, rows and SELECT" in c or "relational database stores" in c
                   for c in cards)
    texts = h.texts_to(FIL)
    assert any("Aling query ang nagbabalik lang ng title ng bawat libro" in t for t in texts)
    assert any("Ang mga column na gusto mo ay isinusulat pagkatapos ng SELECT" in t
               for t in texts)  # the feedback's explanation
    assert any("Nakakuha ka ng 100%" in t for t in texts)  # the bot's own text too

    h.clock.now += timedelta(days=1)
    await h.say(FIL, "/today")  # module 2 has no Filipino version: English
    card = last_with_buttons(h, FIL).plain_text or ""
    assert "Aggregate functions" in card and "Summaries and joins" in card

    mark = len(h.texts_to(FIL))
    await h.say(FIL, "/progress")
    progress = "\n".join(h.texts_to(FIL)[mark:])
    assert "Pagtatanong sa isang table" in progress and "Summaries and joins" in progress
    assert "Asking questions of a table" not in progress


async def test_an_english_learner_reads_english_throughout(harness: Harness) -> None:
    h = harness
    await import_path(h.pool, DEMO)
    await h.say(ENG, "/start enroll_sql-basics")
    # the second question answered wrong: its feedback shows
    cards = await walk_module_one(h, ENG, [ENG_ANSWERS[0], "NULL must be written",
                                           *ENG_ANSWERS[2:]], "en")
    assert "Tables, rows and SELECT" in cards[0] and "Asking questions of a table" in cards[0]
    assert all("Mga " not in c and "Pagsala" not in c for c in cards)
    texts = h.texts_to(ENG)
    assert any("Which query returns just the title of every book" in t for t in texts)
    # a wrong answer's feedback, in English
    assert any("the answer is <b>Comparing with NULL" in (m.text or "") or
               "the answer is Comparing with NULL" in (m.plain_text or "")
               for m in h.emu.messages_to(ENG))
    assert any("NULL means unknown, so comparing anything to NULL" in t for t in texts)
    assert not any("Aling query" in t or "Ang NULL ay" in t for t in texts)
    mark = len(h.texts_to(ENG))
    await h.say(ENG, "/progress")
    assert "Asking questions of a table" in "\n".join(h.texts_to(ENG)[mark:])


async def test_a_cohort_reading_filipino_gets_its_cold_calls_in_filipino(
    pool: asyncpg.Pool,
) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
        await h.say(TUTOR, "/coldcall spring 1.1")
        english = bot_posts(h)[-1].plain_text or ""
        assert "what is the difference between a row and a column" in english
        for member in (ADA, BOB):  # two of the three members read Filipino
            await set_locale(pool, member, "fil")
        await h.say(TUTOR, "/coldcall spring 1.1")  # the topic's next prompt
        post = bot_posts(h)[-1].plain_text or ""
        assert "Mabilis i-type ang SELECT *" in post, post
        assert "Mga table, row at SELECT" in post
        assert "Posted prompt" in last_text(h, TUTOR)
        await h.say(TUTOR, "/coldcall spring 2.1")  # module 2: no Filipino version
        assert "Aggregate functions" in (bot_posts(h)[-1].plain_text or "")
        assert GROUP  # posts went to the cohort's group


async def test_asking_in_filipino_is_answered_from_filipino_passages(
    asker: Harness, fake_llm: FakeLLM,
) -> None:
    h = asker
    await h.say(FIL, "/start")
    await set_locale(h.pool, FIL, "fil")
    await h.say(FIL, "/start enroll_sql-basics")
    mark = h.emu.mark()
    await h.say(FIL, "Bakit walang natutugma kailanman ang = NULL?")
    answer = await h.emu.wait_for("Sources", since=mark)
    assert "Pagsala ng mga row gamit ang WHERE" in (answer.plain_text or "")  # cited, in fil
    prompt = fake_llm.prompts("answer")[-1]["messages"]
    assert "write your answer in Filipino" in prompt[0]["content"]
    passages = prompt[-1]["content"]
    first = passages.split("\n\n[2]")[0]
    assert first.startswith("Course passages:\n\n[1] (Pagsala ng mga row gamit ang WHERE")
    assert "NULL" in first and "hindi alam" in first, first
    assert "silently matches nothing" not in passages  # no English passage of module 1
    # The suggested questions under the answer are Filipino too.
    assert any(b["text"].startswith("💡") and ("Paano" in b["text"] or "Bakit" in b["text"]
                                                or "Ano" in b["text"])
               for b in answer.buttons), answer.buttons

    # Nothing in the course: "I don't know" (the bot's own text, in the learner's language
    # from its catalogue), not an excerpt of a Filipino passage.
    mark = h.emu.mark()
    await h.say(FIL, "what's the best pizza place in Rome?")
    reply = (await h.emu.wait_for(lambda m: m.chat_id == FIL, since=mark)).plain_text or ""
    assert "Sources" not in reply and "Pagsala" not in reply
    async with h.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT mode FROM rag_answers ORDER BY created_at DESC LIMIT 1") == "unknown"

    # An English learner asking the same in English gets English passages, as before.
    await h.say(ENG, "/start enroll_sql-basics")
    mark = h.emu.mark()
    await h.say(ENG, "Why does = NULL never match anything?")
    answer = await h.emu.wait_for("Sources", since=mark)
    assert "Filtering rows with WHERE" in (answer.plain_text or "")
    prompt = fake_llm.prompts("answer")[-1]["messages"]
    assert "Filipino" not in prompt[0]["content"]
    assert "Pagsala" not in prompt[-1]["content"]


async def test_the_daily_card_is_delivered_in_the_learners_language(pool: asyncpg.Pool) -> None:
    report = await import_path(pool, DEMO)
    await seed_learners(pool, report.course_id, 2)
    await set_locale(pool, DUE_BASE + 1, "fil")
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token="123456:TEST", telegram_api_url=emu.url)
        bot = make_bot(settings)
        worker = DeliveryWorker(pool, bot, RateLimitedSender(rate_per_second=100), settings,
                                clock=Clock(DUE_AT + timedelta(minutes=5)), name="test")
        try:
            assert (await worker.run_once()).sent == 2
        finally:
            await bot.session.close()
        filipino = "\n".join(m.plain_text or "" for m in emu.messages_to(DUE_BASE + 1))
        english = "\n".join(m.plain_text or "" for m in emu.messages_to(DUE_BASE + 2))
    assert "Mga table, row at SELECT" in filipino and "Tables, rows" not in filipino
    assert "Tables, rows and SELECT" in english and "Mga table" not in english


FIL_TITLE = "SQL mula sa Simula"
FIL_DESCRIPTION = "Isang hands-on na pagpapakilala sa SQL gamit ang PostgreSQL"
ENG_TITLE = "SQL from Zero"
ENG_DESCRIPTION = "A hands-on introduction to SQL with PostgreSQL"


async def test_the_course_title_and_description_follow_the_learners_language(
    harness: Harness, tmp_path: Path,
) -> None:
    """courses/sql-basics/course.fil.toml: /courses (text and buttons), the enrollment
    confirmation and /progress name the course in Filipino for a Filipino learner, in English
    for an English one; a course without a Filipino title falls back to its own."""
    h = harness
    await import_path(h.pool, DEMO)
    plain = copy_demo(tmp_path)
    (plain / "course.fil.toml").unlink()
    manifest = plain / "course.toml"
    manifest.write_text(manifest.read_text().replace('slug = "sql-basics"', 'slug = "plain"')
                        .replace(f'title = "{ENG_TITLE}"', 'title = "Plain SQL"'))
    await import_path(h.pool, plain)
    await h.say(FIL, "/start")
    await set_locale(h.pool, FIL, "fil")

    for who, title, description, other in ((FIL, FIL_TITLE, FIL_DESCRIPTION, ENG_TITLE),
                                           (ENG, ENG_TITLE, ENG_DESCRIPTION, FIL_TITLE)):
        mark = len(h.texts_to(who))
        await h.say(who, "/courses")
        listing = h.emu.messages_to(who)[-1]
        labels = [b["text"] for b in listing.buttons]
        assert any(title in label for label in labels), labels
        assert any("Plain SQL" in label for label in labels), labels  # no Filipino title
        assert not any(other in label for label in labels), labels
        assert title in (listing.plain_text or "") and description in (listing.plain_text or "")
        assert "Plain SQL" in (listing.plain_text or "")
        await h.say(who, "/start enroll_sql-basics")
        await h.say(who, "/progress")
        said = h.texts_to(who)[mark:]
        enrolled = next(t for t in said if "enroll" in t.lower() or "naka-enroll" in t.lower())
        assert title in enrolled and other not in enrolled, enrolled
        assert title in said[-1] and other not in said[-1], said[-1]


async def test_a_broken_translation_is_reported_to_an_admin_in_their_language(
    harness: Harness, tmp_path: Path,
) -> None:
    """The import's problems (and its summary) are catalogue messages: a Filipino admin reads
    them in Filipino, with file and line, an English admin in English."""
    h = harness
    root = copy_demo(tmp_path)
    md = root / "01-asking-questions.fil.md"
    text = md.read_text()
    cut = text.rindex("\n## ")
    md.write_text(text[:cut + 1])
    line = [i for i, row in enumerate(text[:cut + 1].splitlines(), 1)
            if row.startswith("## ")][-1]

    async def send(admin_locale: str, data: bytes) -> str:
        await set_locale(h.pool, ADMIN, admin_locale)
        mark = len(h.texts_to(ADMIN))
        message = h.emu.push_document(ADMIN, "course.zip", data, caption="/import")
        message["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": 7}]
        await h.feed({"update_id": h._next(), "message": message})
        return [t for t in h.texts_to(ADMIN)[mark:] if not t.startswith("⏳")][-1]

    await h.say(ADMIN, "/start")
    fil = await send("fil", zip_course(root))
    assert (f"01-asking-questions.fil.md:{line}: may 3 na topic dito pero 4 ang nasa "
            "01-asking-questions.md: walang salin ang 'Pattern matching and expressions' "
            "(01-asking-questions.md:") in fil, fil
    assert "has 3 topics" not in fil and "not imported" not in fil
    eng = await send("en", zip_course(root))
    assert (f"01-asking-questions.fil.md:{line}: has 3 topics where 01-asking-questions.md "
            "has 4: no translation of 'Pattern matching and expressions'") in eng, eng
    async with h.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM courses") == 0
    # and what a good import did, in the admin's language too
    done = await send("fil", zip_course(DEMO))
    assert done.startswith("✅ Na-import: nagawa ang course na 'sql-basics', 12 na topic ang "
                           "nadagdag"), done
    assert "4 na topic sa 'fil'" in done, done
