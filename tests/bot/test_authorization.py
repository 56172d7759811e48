"""The authorization matrix: every admin and tutor command, tried by a learner, by a tutor of
another course, by a tutor whose course access was deactivated, and against an inactive cohort.
Each gets exactly one clear refusal, and the database is left exactly as it was."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.bot.cohort_helpers import GROUP, fingerprint, group_say, last_text, rig
from tests.helpers import DEMO, import_path, tiny_course
from tests.support.harness import ADMIN, Harness

LEARNER, TUTOR, OTHER_TUTOR, INACTIVE_TUTOR = 8101, 8201, 8202, 8203
DORMANT_GROUP, NEW_GROUP = -1002000000002, -1002000000003

NOT_ADMIN = "only admins can do that"
NOT_STAFF = "Only the tutors of SQL from Zero (or an admin) can do that"
INACTIVE = "cohort dormant is inactive"

ADMIN_COMMANDS = [
    "/grant admin 424242",
    "/grant tutor 424242 sql-basics",
    f"/revoke tutor {TUTOR} sql-basics",
    f"/revoke admin {ADMIN}",
    "/cohort_new sql-basics fall",
    "/cohort_open dormant",
    "/cohort_close spring",
    "/broadcast sql-basics Hello everyone",
    "/stats",
    "/stats sql-basics",
    "/export sql-basics",
    "/page help Nothing to see here",
    "/quota sql-basics 0",
    "/import",
]
TUTOR_COMMANDS = [
    "/coldcall spring 1.1",
    "/cohort_add spring mallory@example.com",
    "/project spring 1 Takeover https://example.com/evil",
]


async def _world(h: Harness, tmp_path: Path) -> None:
    await import_path(h.pool, DEMO)
    await import_path(h.pool, tiny_course(tmp_path / "other", slug="other"))
    for command in ("/cohort_new sql-basics spring", "/cohort_new sql-basics dormant",
                    f"/grant tutor {TUTOR} sql-basics", f"/grant tutor {OTHER_TUTOR} other",
                    f"/grant tutor {INACTIVE_TUTOR} sql-basics",
                    f"/revoke tutor {INACTIVE_TUTOR} sql-basics",
                    "/cohort_add spring learner@example.com",
                    "/cohort_add dormant later@example.com"):
        await h.say(ADMIN, command)
        assert "✅" in last_text(h, ADMIN), (command, last_text(h, ADMIN))
    await group_say(h, ADMIN, "/link spring")
    await group_say(h, ADMIN, "/link dormant", chat_id=DORMANT_GROUP)
    await h.say(TUTOR, "/coldcall spring 1.1")  # a post exists, so replies have a target
    async with h.pool.acquire() as conn:
        code = await conn.fetchval(
            "SELECT invite_code FROM cohort_members WHERE email = 'learner@example.com'")
    await h.say(LEARNER, f"/start join_{code}")
    await h.say(ADMIN, "/cohort_close dormant")
    assert "now inactive" in last_text(h, ADMIN)


async def _attempt(h: Harness, actor: int, command: str, chat: int | None = None) -> str:
    """Send the command; exactly one reply must come back (no second answer from elsewhere)."""
    chat_id = chat or actor
    before = len(h.emu.messages_to(chat_id))
    if chat is None:
        await h.say(actor, command)
    else:
        await group_say(h, actor, command, chat_id=chat)
    new = h.emu.messages_to(chat_id)[before:]
    assert len(new) == 1, (actor, command, [m.plain_text for m in new])
    return new[0].plain_text or ""


@pytest.mark.parametrize("actor", [LEARNER, OTHER_TUTOR, INACTIVE_TUTOR],
                         ids=["learner", "tutor-of-another-course", "inactive-tutor"])
async def test_admin_and_tutor_commands_are_refused(
    pool: asyncpg.Pool, tmp_path: Path, actor: int
) -> None:
    async with rig(pool) as h:
        await _world(h, tmp_path)
        # the admin's own broadcast draft, whose Send button others will press
        await h.say(ADMIN, "/broadcast sql-basics Class moved to Friday")
        preview = h.emu.messages_to(ADMIN)[-1]
        async with pool.acquire() as conn:
            before = await fingerprint(conn)

        for command in ADMIN_COMMANDS:
            assert NOT_ADMIN in await _attempt(h, actor, command), command
        await group_say(h, actor, "/link spring", chat_id=NEW_GROUP)
        assert h.emu.messages_to(NEW_GROUP) == []  # an unlinked group hears nothing
        for command in TUTOR_COMMANDS:
            assert NOT_STAFF in await _attempt(h, actor, command), command
        assert NOT_STAFF in await _attempt(h, actor, "/coldcall 1.1", chat=GROUP)
        await h.press(actor, preview, "Send to")
        assert NOT_ADMIN in (h.emu.answered_callbacks[-1].text or "")
        if actor == LEARNER:
            assert "only tutors and admins" in await _attempt(h, actor, "/cohorts")

        async with pool.acquire() as conn:
            assert await fingerprint(conn) == before
        # nothing reached the learners either
        assert not any("Class moved" in (m.plain_text or "")
                       for m in h.emu.messages_to(LEARNER))


async def test_inactive_cohort_is_refused_to_its_tutors_and_admins(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with rig(pool) as h:
        await _world(h, tmp_path)
        async with pool.acquire() as conn:
            before = await fingerprint(conn)
        for actor in (TUTOR, ADMIN):
            for command in ("/coldcall dormant 1.1", "/cohort_add dormant x@example.com",
                            "/project dormant 1 Title https://example.com/p"):
                assert INACTIVE in await _attempt(h, actor, command), (actor, command)
            assert INACTIVE in await _attempt(h, actor, "/coldcall 1.1", chat=DORMANT_GROUP)
        assert INACTIVE in await _attempt(h, ADMIN, "/broadcast dormant Hello")
        assert INACTIVE in await _attempt(h, ADMIN, "/link dormant", chat=NEW_GROUP)
        async with pool.acquire() as conn:
            later = await conn.fetchval(
                "SELECT invite_code FROM cohort_members WHERE email = 'later@example.com'")
        assert "isn't active" in await _attempt(h, LEARNER, f"/start join_{later}")
        async with pool.acquire() as conn:
            assert await fingerprint(conn) == before

        # and the gate is the cohort's alone: reopened, the same tutor command works
        await h.say(ADMIN, "/cohort_open dormant")
        assert "Posted prompt 1 of 2" in await _attempt(h, TUTOR, "/coldcall dormant 1.1")


PRIVATE_ONLY_COMMANDS = [*ADMIN_COMMANDS, "/cohorts", "/cohort_add spring mallory@example.com",
                         "/project spring 1 Takeover https://example.com/evil",
                         "/downvoted sql-basics", "/my_data",
                         "/delete_me"]
PERSONAL = ("@example.com", "join_", "invite", "e-mail", "email")


async def test_groups_never_run_private_commands_nor_see_personal_data(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Every admin, tutor-management and privacy command, in a cohort's group and in a group
    that is no cohort's, by each kind of person (the admin last): nothing changes, nothing
    personal is posted, and each group gets at most one short "use a private chat" hint —
    the unlinked one only because the admin asked."""
    async with rig(pool) as h:
        await _world(h, tmp_path)
        async with pool.acquire() as conn:
            before = await fingerprint(conn)
        for chat in (GROUP, NEW_GROUP):
            seen = len(h.emu.messages_to(chat))
            for actor in (LEARNER, OTHER_TUTOR, INACTIVE_TUTOR, TUTOR, ADMIN):
                for command in PRIVATE_ONLY_COMMANDS:
                    await group_say(h, actor, command, chat_id=chat)
                if chat == NEW_GROUP and actor != ADMIN:
                    assert len(h.emu.messages_to(chat)) == seen, (actor, "spoke in unlinked")
            posted = h.emu.messages_to(chat)[seen:]
            assert [m.method for m in posted] == ["sendMessage"], [m.plain_text for m in posted]
            assert "private chat with me" in (posted[0].plain_text or "")
            for message in h.emu.messages_to(chat):
                text = (message.plain_text or message.content or "").lower()
                assert not any(p in text for p in PERSONAL), text
        # tutor commands that belong in groups stay silent in a group that is no cohort's
        for actor in (LEARNER, OTHER_TUTOR, TUTOR):
            for command in ("/coldcall 1.1", "/top", "/star", "/link spring"):
                await group_say(h, actor, command, chat_id=NEW_GROUP)
        assert len(h.emu.messages_to(NEW_GROUP)) == 1
        async with pool.acquire() as conn:
            assert await fingerprint(conn) == before
