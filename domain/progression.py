"""XP, levels, streaks and streak badges (seeds 002 and 003) as plain functions.

The database keeps them idempotent (unique award keys) and atomic (the row lock the storage
layer takes); what the numbers *are* is decided here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

JOURNEY_XP = 10  # per completed journey, times the topic's difficulty multiplier
QUIZ_XP = 25  # per passed module quiz, times the module's hardest difficulty
XP_PER_LEVEL = 100
DIFFICULTY_MULTIPLIER = {"easy": 1, "medium": 2, "hard": 3}  # seed 003


def multiplier(difficulty: str | None) -> int:
    return DIFFICULTY_MULTIPLIER.get(difficulty or "", 1)


def journey_xp(difficulty: str | None) -> int:
    return JOURNEY_XP * multiplier(difficulty)


def quiz_xp(difficulties: Iterable[str | None]) -> int:
    return QUIZ_XP * max((multiplier(d) for d in difficulties), default=1)


def level_for(xp_total: int) -> int:
    return 1 + max(0, xp_total) // XP_PER_LEVEL


@dataclass(frozen=True)
class Streak:
    current: int
    longest: int
    last_date: date | None


def count_active_day(streak: Streak, today: date) -> Streak:
    """`today` (a local date) counted as an active day. The same or an earlier date (a zone
    change that lands on a counted day): unchanged. The day after the last: +1. Else: 1."""
    last = streak.last_date
    if last is not None and last >= today:
        return streak
    current = streak.current + 1 if last == today - timedelta(days=1) else 1
    return Streak(current, max(streak.longest, current), today)


def streak_badges_due(streak_days: int, rules: Iterable[tuple[str, dict]]) -> list[str]:
    """Codes of the streak badges whose `days` criterion this streak meets."""
    out = []
    for code, criteria in rules:
        days = criteria.get("days")
        if isinstance(days, int) and streak_days >= days:
            out.append(code)
    return out
