"""A learner simulator: seeded random behaviours over 60 simulated days, driven through the real
Dispatcher, DeliveryWorker and Bot API emulator with an injected clock; then the daily loop's
invariants are checked by SQL over what the database recorded.

Behaviours: diligent; opens every other day; lapses 10 days then returns; opens but forgets
Done; fails quizzes and retries after the cooldown; blocks the bot for a week then unblocks;
changes time zone (across DST too); and a ghost who never opens anything (the back-off and the
farewell). A run with a deliberately broken rule (the claim advancing on send) must fail the
checker."""

from __future__ import annotations

import asyncio
import functools
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from bot.workers.delivery import DeliveryWorker
from bot.workers.sender import RateLimitedSender
from storage import deliveries, pg
from tests.helpers import Clock, import_path, write_course
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.harness import TOKEN, Harness

START = datetime(2026, 3, 16, 0, 5, tzinfo=UTC)  # US DST already on; EU (29 Mar), AU (5 Apr)
DAYS = 60
MODULES = 3
TOPICS = 3  # per module: 9 journeys; modules 1 and 2 have a quiz, the last doesn't
QUIZ_MODULES = (1, 2)
BASE_ID = 9_300_000
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo",
         "America/Los_Angeles", "Australia/Sydney", "Pacific/Kiritimati"]
KINDS = ["diligent", "every_other", "lapser", "forgetful", "quiz_failer", "blocker",
         "tz_changer", "ghost", "comeback"]
COMEBACK_DAY = 36  # silent until then (gets the farewell), then writes and keeps going
ENGAGED = set(KINDS) - {"ghost"}  # keep engaging: each of them must finish the course
ANSWERS = {"2+2?": ("4", "5"), "3+3?": ("6", "7")}  # (right, wrong)


def sim_course(root: Path) -> Path:
    files = {"course.toml": 'slug = "sim"\ntitle = "Sim"\npass_mark = 100\n'
                            'quiz_cooldown_minutes = 60\n'}
    quiz = (
        '[[quiz]]\nquestion = "2+2?"\noptions = [{text = "4", correct = true}, '
        '{text = "5"}]\n\n'
        '[[quiz]]\nquestion = "3+3?"\noptions = [{text = "7"}, {text = "6", correct = true}]\n'
    )
    for m in range(1, MODULES + 1):
        files[f"{m:02d}-m.md"] = f"# Module {m}\n\n" + "\n".join(
            f"## Topic {m}.{t}\n\nBody {m}.{t}.\n" for t in range(1, TOPICS + 1))
        if m in QUIZ_MODULES:
            files[f"{m:02d}-m.toml"] = quiz
    return write_course(root, files)


@dataclass
class Learner:
    tid: int
    kind: str
    rng: random.Random
    tz: str
    hour: int
    d0: int  # the day this learner's special event starts
    cursor: int = 0
    failed_quiz: set[str] = field(default_factory=set)
    blocked: bool = False

    def active(self, day: int) -> bool:
        if self.kind == "ghost":
            return False
        if self.kind == "comeback":
            return day >= COMEBACK_DAY
        if self.kind == "lapser":
            return not self.d0 <= day < self.d0 + 10
        if self.kind == "blocker":
            return not self.blocked
        return True


class Simulation:
    def __init__(self, h: Harness, worker: DeliveryWorker, learners: list[Learner],
                 days: int = DAYS) -> None:
        self.days = days
        self.h = h
        self.worker = worker
        self.learners = learners
        self.gate = asyncio.Semaphore(8)

    @property
    def day(self) -> int:
        return (self.h.clock() - START).days

    async def enroll(self, ln: Learner) -> None:
        if ln.kind == "tz_changer":  # the commands once; the others' settings come from SQL
            await self.h.say(ln.tid, f"/timezone {ln.tz}")
            await self.h.say(ln.tid, f"/time {ln.hour}")
        await self.h.say(ln.tid, "/start enroll_sim")
        await self.react(ln)

    async def events(self, ln: Learner) -> None:
        """This hour's scheduled acts (at the start of a UTC day)."""
        if self.h.clock().hour != 0:
            return
        day = self.day
        if ln.kind == "lapser" and day == ln.d0 + 10:
            await self.h.say(ln.tid, "/today")
        elif ln.kind == "comeback" and day == COMEBACK_DAY:
            await self.h.say(ln.tid, "/progress")  # any message: cards resume
        elif ln.kind == "blocker" and day == ln.d0:
            ln.blocked = True
            self.h.emu.block_chat(ln.tid)
        elif ln.kind == "blocker" and day == ln.d0 + 7:
            ln.blocked = False
            self.h.emu.unblock_chat(ln.tid)
            await self.h.say(ln.tid, "/today")
        elif ln.kind == "tz_changer" and day == ln.d0:
            ln.tz = ln.rng.choice([z for z in ZONES if z != ln.tz])
            await self.h.say(ln.tid, f"/timezone {ln.tz}")
        elif ln.active(day) and ln.rng.random() < 0.05:
            await self.h.say(ln.tid, "/today")  # a pull at a random moment

    async def react(self, ln: Learner) -> None:
        """Handle every new message to this learner, as its behaviour says (presses may bring
        more messages; those are handled too)."""
        while True:
            sent = self.h.emu.messages_to(ln.tid)
            if ln.cursor >= len(sent):
                return
            m = sent[ln.cursor]
            ln.cursor += 1
            choice = self.choose(ln, m)
            if choice is not None:
                await self.h.press(ln.tid, m, choice)

    def choose(self, ln: Learner, m: SentMessage) -> str | None:
        if m.method != "sendMessage" or not m.buttons or not ln.active(self.day):
            return None
        first = str(m.buttons[0].get("text", ""))
        text = m.plain_text or ""
        if "Start" in first or "Continue" in first:
            if ln.kind == "every_other" and self.h.clock().toordinal() % 2:
                return None
            return first
        if "Done" in first:
            if ln.kind == "forgetful" and ln.rng.random() < 0.5:
                return None
            return first
        if "quiz" in first:
            return first
        if text.startswith("Question"):
            prompt = text.split("\n")[-1].strip()
            right, wrong = ANSWERS[prompt]
            key = f"{text.split('·')[-1].splitlines()[0]}:{prompt}"
            if ln.kind == "quiz_failer" and key not in ln.failed_quiz:
                ln.failed_quiz.add(key)
                return wrong
            return right
        if first.startswith("▶️"):  # an open journey: finish it
            return first
        return None

    async def step(self) -> None:
        await self.worker.run_once()

        async def one(ln: Learner) -> None:
            async with self.gate:
                await self.events(ln)
                await self.react(ln)

        await asyncio.gather(*(one(ln) for ln in self.learners))

    async def run(self) -> None:
        async with self.h.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO users (telegram_id, display_name, timezone, delivery_hour) "
                "VALUES ($1, $2, $3, $4)",
                [(ln.tid, f"L{ln.tid}", ln.tz, ln.hour) for ln in self.learners
                 if ln.kind != "tz_changer"])
        await asyncio.gather(*(self.enroll_gated(ln) for ln in self.learners))
        hour = timedelta(hours=1)
        while self.h.clock() < START + timedelta(days=self.days):
            # The next hour (at :05) when anything can happen: a card or retry or quiz nudge
            # due, or a new UTC day (the learners' own plans); idle hours are skipped.
            now = self.h.clock()
            midnight = START + timedelta(days=(now - START).days + 1)
            async with self.h.pool.acquire() as conn:
                due = await conn.fetchval(_NEXT_WAKE_SQL)
            nxt = now + hour
            if due is not None and due > nxt:
                nxt += hour * -(-(due - nxt) // hour)  # round up to the hour grid
            self.h.clock.now = min(nxt, midnight)
            await self.step()

    async def enroll_gated(self, ln: Learner) -> None:
        async with self.gate:
            await self.enroll(ln)


_NEXT_WAKE_SQL = """
SELECT least(
    (SELECT min(s.next_due_at) FROM course_user_schedule s
     JOIN course_users cu ON cu.id = s.course_user_id JOIN users u ON u.id = cu.user_id
     WHERE NOT s.paused AND cu.completed_at IS NULL AND cu.lapsed_at IS NULL
       AND cu.paused_at IS NULL AND cu.left_at IS NULL AND u.is_reachable AND NOT u.paused),
    (SELECT min(visible_at) FROM journey_deliveries WHERE status = 'claimed'),
    (SELECT min(greatest(cooldown_until, retake_nudge_retry_at)) FROM module_progress
     WHERE NOT quiz_passed
     AND (retake_nudged_at IS NULL OR retake_nudged_at < cooldown_until)))
"""


def make_learners(seed: int, n: int) -> list[Learner]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        tz = rng.choice(ZONES)
        hour = rng.choice([8, 8, 8, 7, 12, 18, 21, 23, 2, 6])
        if kind == "tz_changer" and (i // len(KINDS)) % 2 == 0:
            tz, hour = "Europe/Berlin", 2  # 02:00 doesn't exist on 29 March
        out.append(Learner(BASE_ID + i, kind, random.Random(rng.random()), tz, hour,
                           d0=rng.randint(2, 12)))
    return out


# --- the invariants --------------------------------------------------------------------------

async def check_invariants(conn: asyncpg.Connection, kinds: dict[int, str]) -> list[str]:
    """Every violated invariant, as readable lines (empty: all hold)."""
    bad: list[str] = []
    # 1. Never two new journeys taken on one local date per course-user.
    for r in await conn.fetch(
        """
        SELECT u.telegram_id, e.payload ->> 'local_date' AS day, count(*) AS n
        FROM learner_activity_events e JOIN users u ON u.id = e.user_id
        WHERE e.event_type = 'journey.taken'
        GROUP BY 1, 2, e.course_id HAVING count(*) > 1
        """
    ):
        bad.append(f"{r['telegram_id']}: {r['n']} journeys taken on {r['day']}")
    # 2. Never more than one card per local date, and local dates only move forward.
    rows = await conn.fetch(
        """
        SELECT u.telegram_id, d.local_date, d.kind::text AS kind, d.source::text AS source,
               d.opened_at IS NOT NULL AS opened, d.status::text AS status,
               CASE WHEN d.source = 'pulled' THEN d.sent_at ELSE d.claimed_at END AS at
        FROM journey_deliveries d JOIN course_users cu ON cu.id = d.course_user_id
        JOIN users u ON u.id = cu.user_id
        ORDER BY u.telegram_id, d.created_at
        """
    )
    by_learner: dict[int, list[asyncpg.Record]] = {}
    for r in rows:
        by_learner.setdefault(r["telegram_id"], []).append(r)
    for tid, items in by_learner.items():
        dates = [r["local_date"] for r in items]
        if len(dates) != len(set(dates)):
            bad.append(f"{tid}: two deliveries on one local date {dates}")
        if kinds.get(tid) != "tz_changer" and dates != sorted(dates):
            bad.append(f"{tid}: local dates go backwards {dates}")
    # 3. No journey ever skipped: what was taken is exactly the course's journeys in order,
    #    `last_priority` is the last one taken, and nothing is done that wasn't taken.
    for r in await conn.fetch(
        """
        SELECT u.telegram_id, cu.last_priority,
               array(SELECT j.priority FROM journey_deliveries d JOIN journeys j
                     ON j.id = d.journey_id WHERE d.course_user_id = cu.id
                     AND d.taken_at IS NOT NULL ORDER BY d.taken_at) AS taken,
               array(SELECT j.priority FROM journeys j WHERE j.course_id = cu.course_id
                     AND j.is_active ORDER BY j.priority) AS course,
               (SELECT count(*) FROM topic_progress tp JOIN journeys j ON j.topic_id = tp.topic_id
                WHERE tp.user_id = cu.user_id AND tp.is_completed
                  AND j.priority > coalesce(cu.last_priority, -2147483648)) AS done_untaken
        FROM course_users cu JOIN users u ON u.id = cu.user_id
        """
    ):
        taken, course = list(r["taken"]), list(r["course"])
        if taken != course[: len(taken)]:
            bad.append(f"{r['telegram_id']}: journeys taken out of order {taken}")
        if (taken[-1] if taken else None) != r["last_priority"]:
            bad.append(f"{r['telegram_id']}: last_priority {r['last_priority']} but last "
                       f"taken {taken[-1:] or None}")
        if r["done_untaken"]:
            bad.append(f"{r['telegram_id']}: {r['done_untaken']} journeys done, never taken")
    # 4. Every learner who keeps engaging can finish the course.
    for r in await conn.fetch(
        """
        SELECT u.telegram_id, e.status::text AS status,
               (SELECT count(*) FROM topic_progress tp WHERE tp.user_id = u.id
                AND tp.is_completed) AS done
        FROM enrollments e JOIN users u ON u.id = e.user_id
        """
    ):
        if kinds.get(r["telegram_id"]) in ENGAGED and r["status"] != "completed":
            bad.append(f"{r['telegram_id']} ({kinds[r['telegram_id']]}) did not finish: "
                       f"{r['done']} journeys done")
    # 5. A lapsed learner gets no more cards than the back-off allows: after 3 unopened cards
    #    in a row the next comes 2+ days later, after 5 a week later; one farewell after 4
    #    weeks, then nothing until the learner comes back (a pull, or any message).
    back: dict[int, list[datetime]] = {}
    for r in await conn.fetch(
        "SELECT u.telegram_id, e.created_at FROM learner_activity_events e JOIN users u "
        "ON u.id = e.user_id WHERE e.event_type = 'course.welcome_back' ORDER BY 2"
    ):
        back.setdefault(r["telegram_id"], []).append(r["created_at"])
    for tid, items in by_learner.items():
        if kinds.get(tid) == "tz_changer":
            continue
        bad += _backoff_violations(tid, items, back.get(tid, []))
    return bad


def _backoff_violations(tid: int, items: list[asyncpg.Record], back: list[datetime]
                        ) -> list[str]:
    bad = []
    run = 0
    prev: date | None = None
    prev_at: datetime | None = None
    last_engaged: date | None = None
    farewell = False
    for r in items:
        came_back = prev_at is not None and any(prev_at < t <= r["at"] for t in back)
        if r["source"] == "pulled" or came_back:
            farewell, run = False, 0
        elif farewell:
            bad.append(f"{tid}: a card on {r['local_date']} after the farewell")
        if r["source"] == "scheduled" and prev is not None and not came_back:
            gap = (r["local_date"] - prev).days
            need = 7 if run >= deliveries.BACKOFF_WEEKLY else (
                2 if run >= deliveries.BACKOFF_EVERY_OTHER_DAY else 1)
            if gap < need:
                bad.append(f"{tid}: card on {r['local_date']} {gap} day(s) after the last, "
                           f"with {run} unopened in a row (back-off: {need})")
        if r["kind"] == "farewell":
            farewell = True
            if last_engaged and (r["local_date"] - last_engaged).days < deliveries.LAPSE_DAYS - 1:
                bad.append(f"{tid}: farewell on {r['local_date']}, engaged {last_engaged}")
        if r["opened"]:
            run, last_engaged = 0, r["local_date"]
        elif r["status"] == "sent" and r["kind"] == "card":
            run += 1
        prev, prev_at = r["local_date"], r["at"]
        last_engaged = last_engaged or r["local_date"]
    return bad


# --- running it ---------------------------------------------------------------------------------

@pytest.fixture
async def sim_pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The test's own database, without waiting for the disk on every commit (durability
    means nothing to a simulation; the commits and their order are unchanged)."""
    conn = await pg.connect(db_url)
    try:
        await conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
                           "synchronous_commit = off', current_database()); END $$")
    finally:
        await conn.close()
    p = await pg.create_pool(db_url, max_size=8)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def sim_harness(sim_pool: asyncpg.Pool) -> AsyncIterator[Harness]:
    pool = sim_pool
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url,
                                 flood_messages_per_minute=600, delivery_max_attempts=5)
        clock = Clock(START)
        bot = make_bot(settings)
        dp = build_dispatcher(settings, pool, clock=clock)
        try:
            yield Harness(emu, bot, dp, settings, clock, pool)
        finally:
            await bot.session.close()


async def simulate(h: Harness, tmp_path: Path, seed: int, n: int, days: int = DAYS
                   ) -> list[str]:
    await import_path(h.pool, sim_course(tmp_path / "sim"), now=h.clock())
    sender = RateLimitedSender(rate_per_second=100_000, chat_interval=0)
    worker = DeliveryWorker(h.pool, h.bot, sender, h.settings, clock=h.clock, name="sim")
    learners = make_learners(seed, n)
    await Simulation(h, worker, learners, days).run()
    async with h.pool.acquire() as conn:
        return await check_invariants(conn, {ln.tid: ln.kind for ln in learners})


# Per seed: 8 of each behaviour by default, 216 learners over the three seeds (the whole file
# takes about 1.5 minutes on an idle 2-core machine); SIM_LEARNERS=n sets the number per seed.
LEARNERS = int(os.environ.get("SIM_LEARNERS", str(8 * len(KINDS))))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_invariants_hold(sim_harness: Harness, tmp_path: Path, seed: int) -> None:
    bad = await simulate(sim_harness, tmp_path, seed, LEARNERS)
    assert not bad, "\n".join(bad[:40])
    async with sim_harness.pool.acquire() as conn:  # the behaviours really happened
        seen = dict(await conn.fetch(
            """
            SELECT 'farewell', count(*) FROM journey_deliveries WHERE kind = 'farewell'
            UNION ALL SELECT 'blocked', count(*) FROM journey_deliveries
                WHERE status = 'failed' AND last_error LIKE '%blocked%'
            UNION ALL SELECT 'still waiting', count(*) FROM learner_activity_events
                WHERE event_type = 'journey.sent' AND payload ->> 'waiting' = 'true'
            UNION ALL SELECT 'retake nudge', count(*) FROM learner_activity_events
                WHERE event_type = 'quiz.retake_nudge'
            UNION ALL SELECT 'quiz failed', count(*) FROM quiz_attempts WHERE status = 'failed'
            UNION ALL SELECT 'welcome back', count(*) FROM learner_activity_events
                WHERE event_type = 'course.welcome_back'
            """))
    assert all(seen.values()), seen


async def test_broken_rule_is_caught(sim_harness: Harness, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Advancing on send (the old rule) must fail the checker."""
    monkeypatch.setattr(deliveries, "claim_due",
                        functools.partial(deliveries.claim_due, advance_on_send=True))
    bad = await simulate(sim_harness, tmp_path, 4, len(KINDS), days=15)
    assert any("taken" in line for line in bad), bad
