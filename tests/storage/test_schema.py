"""The schema's invariants, checked against the real server (seed 004's testing chapter)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests import factories as f

pytestmark = pytest.mark.asyncio


async def test_unique_keys_reject_duplicates(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        c = await f.course(conn, "dup-course")
        t = await f.topic(conn, c)
        cases = [
            ("INSERT INTO users (email) VALUES ('a@example.com')", []),
            ("INSERT INTO users (phone) VALUES ('+100')", []),
            ("INSERT INTO courses (slug, title) VALUES ('second-course', 'X')", []),
            (
                "INSERT INTO topics (course_id, key, module_no, topic_number, title) "
                "VALUES ($1, 'other', 2, 1, 'Same place')",
                [c],
            ),
            ("INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)", [u, c]),
            ("INSERT INTO course_users (user_id, course_id) VALUES ($1, $2)", [u, c]),
            (
                "INSERT INTO topic_progress (user_id, course_id, topic_id) VALUES ($1,$2,$3)",
                [u, c, t],
            ),
            ("INSERT INTO topic_personalization (user_id, course_id) VALUES ($1, $2)", [u, c]),
            (
                "INSERT INTO learner_persona_profiles (user_id, course_id, persona_key) "
                "VALUES ($1, $2, 'rote_memorizer')",
                [u, c],
            ),
            (
                "INSERT INTO topic_content_assets (course_id, topic_id, content_key) "
                "VALUES ($1, $2, 'body')",
                [c, t],
            ),
            (
                "INSERT INTO module_prompt_usage (user_id, course_id, module_no) VALUES ($1,$2,1)",
                [u, c],
            ),
            (
                "INSERT INTO cold_call_prompts (course_id, topic_id, display_order, prompt) "
                "VALUES ($1, $2, 1, 'Why?')",
                [c, t],
            ),
            (
                "INSERT INTO cp_rag_chat_sessions (user_id, course_id, topic_id) VALUES ($1,$2,$3)",
                [u, c, t],
            ),
            ("INSERT INTO cp_rag_chat_sessions (user_id, course_id) VALUES ($1, $2)", [u, c]),
            ("INSERT INTO page_content (slug, body) VALUES ('help', 'x')", []),
        ]
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO users (telegram_id) SELECT telegram_id FROM users WHERE id=$1", u
            )
        for sql, args in cases:
            await conn.execute(sql, *args)  # first insert is fine
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(sql, *args)

        cohort = await conn.fetchval(
            "INSERT INTO cohorts (course_id, name) VALUES ($1, 'spring') RETURNING id", c
        )
        await conn.execute(
            "INSERT INTO cohort_members (cohort_id, email) VALUES ($1, 'm@example.com')", cohort
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO cohort_members (cohort_id, email) VALUES ($1, 'm@example.com')",
                cohort,
            )
        await conn.execute(
            "INSERT INTO cohort_batch_projects (cohort_id, batch_no, title, url) "
            "VALUES ($1, 1, 'P', 'https://x.test')",
            cohort,
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO cohort_batch_projects (cohort_id, batch_no, title, url) "
                "VALUES ($1, 1, 'Q', 'https://y.test')",
                cohort,
            )
        tutor = await conn.fetchval("INSERT INTO tutors (user_id) VALUES ($1) RETURNING id", u)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO tutors (user_id) VALUES ($1)", u)
        await conn.execute(
            "INSERT INTO course_tutors (course_id, tutor_id) VALUES ($1,$2)", c, tutor
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO course_tutors (course_id, tutor_id) VALUES ($1,$2)", c, tutor
            )


async def test_one_delivery_per_course_user_per_local_date(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        c = await f.course(conn)
        t1 = await f.topic(conn, c, number=1)
        t2 = await f.topic(conn, c, number=2)
        j1 = await conn.fetchval(
            "INSERT INTO journeys (course_id, topic_id, priority) VALUES ($1,$2,1) RETURNING id",
            c,
            t1,
        )
        j2 = await conn.fetchval(
            "INSERT INTO journeys (course_id, topic_id, priority) VALUES ($1,$2,2) RETURNING id",
            c,
            t2,
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO journeys (course_id, topic_id, priority) VALUES ($1,$2,1)", c, t2
            )
        cu = await conn.fetchval(
            "INSERT INTO course_users (user_id, course_id) VALUES ($1,$2) RETURNING id", u, c
        )
        uid = await conn.fetchval("SELECT uid FROM course_users WHERE id=$1", cu)
        assert uid.startswith("cu_")
        await conn.execute(
            "INSERT INTO journey_deliveries (course_user_id, journey_id, local_date) "
            "VALUES ($1, $2, '2026-03-29')",
            cu,
            j1,
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO journey_deliveries (course_user_id, journey_id, local_date) "
                "VALUES ($1, $2, '2026-03-29')",
                cu,
                j2,
            )


async def test_checks_reject_bad_values(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        c = await f.course(conn)
        t = await f.topic(conn, c)
        await conn.execute(
            "INSERT INTO topic_progress (user_id, course_id, topic_id) VALUES ($1,$2,$3)", u, c, t
        )
        bad = [
            "UPDATE topic_progress SET time_spent_seconds = -1",
            "UPDATE topic_progress SET attempts = -1",
            "UPDATE topic_progress SET score = 101",
            "UPDATE topic_progress SET score = -5",
            "UPDATE topic_progress SET last_position_s = 150",
            "UPDATE topic_progress SET is_completed = true",  # without completed_at
            "UPDATE users SET delivery_hour = 24",
            "UPDATE users SET xp_total = -10",
            "UPDATE users SET streak_current = 5, streak_longest = 2",
            "UPDATE users SET email = 'UPPER@EXAMPLE.COM'",
            "UPDATE courses SET pass_mark = 120",
            "UPDATE courses SET prompt_quota = -1",
            "UPDATE courses SET slug = 'Has Spaces'",
            "UPDATE course_users SET uid = 'xx_123'",
            "INSERT INTO module_prompt_usage (user_id, course_id, module_no, used) "
            "SELECT id, (SELECT id FROM courses LIMIT 1), 1, -1 FROM users LIMIT 1",
            "INSERT INTO module_progress (user_id, course_id, module_no, quiz_passed) "
            "SELECT id, (SELECT id FROM courses LIMIT 1), 1, true FROM users LIMIT 1",
            "INSERT INTO learner_activity_events (user_id, course_id, event_type) "
            "SELECT id, (SELECT id FROM courses LIMIT 1), 'Not An Event' FROM users LIMIT 1",
        ]
        await conn.execute("INSERT INTO course_users (user_id, course_id) VALUES ($1,$2)", u, c)
        for sql in bad:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(sql)
        with pytest.raises(asyncpg.InvalidTextRepresentationError):
            await conn.execute("UPDATE users SET role = 'superuser'")
        with pytest.raises(asyncpg.InvalidTextRepresentationError):
            await conn.execute(
                "INSERT INTO topic_personalization (user_id, course_id, persona) "
                "VALUES ($1, $2, 'pirate')",
                u,
                c,
            )
        # NULL score means "no quiz" and is allowed; 0 is a real score.
        await conn.execute("UPDATE topic_progress SET score = NULL")
        await conn.execute("UPDATE topic_progress SET score = 0")
        assert await conn.fetchval("SELECT score FROM topic_progress") == 0


async def test_cascades_and_set_null(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn, email="gone@example.com")
        c = await f.course(conn)
        t = await f.topic(conn, c)
        await conn.execute("INSERT INTO enrollments (user_id, course_id) VALUES ($1,$2)", u, c)
        await conn.execute(
            "INSERT INTO topic_progress (user_id, course_id, topic_id) VALUES ($1,$2,$3)", u, c, t
        )
        await conn.execute(
            "INSERT INTO learner_activity_events (user_id, course_id, topic_id, event_type) "
            "VALUES ($1, $2, $3, 'journey.sent')",
            u,
            c,
            t,
        )
        cohort = await conn.fetchval(
            "INSERT INTO cohorts (course_id, name) VALUES ($1, 'c1') RETURNING id", c
        )
        await conn.execute(
            "INSERT INTO cohort_members (cohort_id, email, user_id) "
            "VALUES ($1, 'gone@example.com', $2)",
            cohort,
            u,
        )
        # Deleting a topic: its progress goes, the activity event stays with topic_id NULL.
        await conn.execute("DELETE FROM topics WHERE id=$1", t)
        assert await conn.fetchval("SELECT count(*) FROM topic_progress") == 0
        assert await conn.fetchval("SELECT topic_id FROM learner_activity_events") is None
        # Deleting a user: enrollments and events go, the cohort membership stays, unbound.
        await conn.execute("DELETE FROM users WHERE id=$1", u)
        assert await conn.fetchval("SELECT count(*) FROM enrollments") == 0
        assert await conn.fetchval("SELECT count(*) FROM learner_activity_events") == 0
        row = await conn.fetchrow("SELECT email, user_id FROM cohort_members")
        assert row["email"] == "gone@example.com" and row["user_id"] is None
        # Deleting a course takes its topics, cohorts and members with it.
        await f.topic(conn, c, number=2)
        await conn.execute("DELETE FROM courses WHERE id=$1", c)
        for table in ("topics", "cohorts", "cohort_members"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_cold_call_threading_rules(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        c = await f.course(conn)
        t = await f.topic(conn, c)
        cohort = await conn.fetchval(
            "INSERT INTO cohorts (course_id, name) VALUES ($1, 'g') RETURNING id", c
        )
        p = await conn.fetchval(
            "INSERT INTO cold_call_prompts (course_id, topic_id, display_order, prompt) "
            "VALUES ($1, $2, 1, 'Q') RETURNING id",
            c,
            t,
        )
        top = await conn.fetchval(
            "INSERT INTO cold_call_messages (prompt_id, cohort_id, user_id, body, "
            "telegram_chat_id, telegram_message_id) VALUES ($1,$2,$3,'a',-100,1) RETURNING id",
            p,
            cohort,
            u,
        )
        with pytest.raises(asyncpg.CheckViolationError):  # parent without root
            await conn.execute(
                "INSERT INTO cold_call_messages (prompt_id, cohort_id, user_id, body, "
                "telegram_chat_id, telegram_message_id, parent_id) "
                "VALUES ($1,$2,$3,'b',-100,2,$4)",
                p,
                cohort,
                u,
                top,
            )
        await conn.execute(
            "INSERT INTO cold_call_stars (message_id, user_id) VALUES ($1,$2)", top, u
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO cold_call_stars (message_id, user_id) VALUES ($1,$2)", top, u
            )


async def test_updated_at_moves_on_update(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        before = await conn.fetchval("SELECT updated_at FROM users WHERE id=$1", u)
        await asyncio.sleep(0.01)
        await conn.execute("UPDATE users SET display_name='New' WHERE id=$1", u)
        after = await conn.fetchval("SELECT updated_at FROM users WHERE id=$1", u)
        assert after > before


async def test_hnsw_index_serves_knn_and_fts_finds_words(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        c = await f.course(conn)
        rows = [
            (
                f"k{i}",
                c,
                "Joins",
                f"chunk {i} about tables",
                [float((i * 7 + d) % 13) for d in range(384)],
            )
            for i in range(200)
        ]
        rows.append(
            ("kw", c, "Transactions", "A transaction is atomic: all or nothing.", [1.0] * 384)
        )
        await conn.executemany(
            "INSERT INTO course_chunks (chunk_id, course_id, heading, content, content_hash, "
            "embedding) VALUES ($1, $2, $3, $4, 'h', $5)",
            rows,
        )
        await conn.execute("ANALYZE course_chunks")
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT chunk_id FROM course_chunks ORDER BY embedding <=> $1 LIMIT 5",
                [1.0] * 384,
            )
        )
        assert "course_chunks_embedding_hnsw" in plan
        found = await conn.fetchval(
            "SELECT chunk_id FROM course_chunks WHERE tsv @@ websearch_to_tsquery('english', $1)",
            "atomic transactions",
        )
        assert found == "kw"


async def test_badges_awarded_once_per_scope(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        b = await conn.fetchval(
            "INSERT INTO badges (code, name) VALUES ('test_badge', 'Test badge') RETURNING id"
        )
        sql = "INSERT INTO user_badges (user_id, badge_id, context) VALUES ($1, $2, $3)"
        await conn.execute(sql, u, b, {"scope": "course:1"})
        await conn.execute(sql, u, b, {"scope": "course:2"})
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(sql, u, b, {"scope": "course:1"})
