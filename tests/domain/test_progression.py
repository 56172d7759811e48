"""The progression rules without a database: XP, levels, streaks, streak badges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.progression import (
    Streak,
    count_active_day,
    journey_xp,
    level_for,
    quiz_xp,
    streak_badges_due,
)

D = date(2026, 3, 29)


@pytest.mark.parametrize(("difficulty", "xp"), [("easy", 10), ("medium", 20), ("hard", 30),
                                                (None, 10), ("unknown", 10)])
def test_journey_xp_scales_with_difficulty(difficulty: str | None, xp: int) -> None:
    assert journey_xp(difficulty) == xp


def test_quiz_xp_takes_the_hardest_topic() -> None:
    assert quiz_xp(["easy", "hard", "medium"]) == 75
    assert quiz_xp([]) == 25


@pytest.mark.parametrize(("xp", "level"), [(0, 1), (99, 1), (100, 2), (250, 3), (-5, 1)])
def test_levels_every_hundred_xp(xp: int, level: int) -> None:
    assert level_for(xp) == level


def test_streak_grows_day_by_day_and_resets_after_a_gap() -> None:
    s = Streak(0, 0, None)
    for day in range(3):
        s = count_active_day(s, D + timedelta(days=day))
    assert (s.current, s.longest, s.last_date) == (3, 3, D + timedelta(days=2))
    assert count_active_day(s, D + timedelta(days=2)) == s  # same day: unchanged
    assert count_active_day(s, D + timedelta(days=1)) == s  # a zone change back: unchanged
    after_gap = count_active_day(s, D + timedelta(days=4))
    assert (after_gap.current, after_gap.longest) == (1, 3)


def test_streak_badges_need_their_days() -> None:
    rules = [("streak_3", {"days": 3}), ("streak_7", {"days": 7}), ("odd", {})]
    assert streak_badges_due(2, rules) == []
    assert streak_badges_due(3, rules) == ["streak_3"]
    assert streak_badges_due(10, rules) == ["streak_3", "streak_7"]
