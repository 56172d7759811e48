"""Inline keyboards, built with aiogram's builder from the typed callback factories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.ui.callbacks import (
    AskCb,
    BroadcastCb,
    CourseCb,
    EnrollCb,
    JourneyCb,
    LeaveCb,
    PersonaCb,
    QuizCb,
    QuizStartCb,
    TimeCb,
)
from bot.ui.texts import PERSONA_LABELS, PROFILE_LABELS
from storage.courses import CourseRow
from storage.journeys import OpenJourney
from storage.suggestions import Suggestion


def courses(rows: list[CourseRow], enrolled: set[str]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for c in rows:
        mark = "✔ " if c.slug in enrolled else ""
        kb.button(
            text=f"{mark}{c.title} ({c.journeys} journeys)", callback_data=EnrollCb(slug=c.slug)
        )
    kb.adjust(1)
    return kb.as_markup()


def start(delivery_id: uuid.UUID) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="▶️ Start", callback_data=JourneyCb(action="start", delivery=delivery_id))
    return kb.as_markup()


def done(delivery_id: uuid.UUID) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="✅ Done", callback_data=JourneyCb(action="done", delivery=delivery_id))
    return kb.as_markup()


def continue_(delivery_id: uuid.UUID) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="▶️ Continue", callback_data=JourneyCb(action="start", delivery=delivery_id))
    return kb.as_markup()


def next_steps(items: Sequence[OpenJourney], quiz: tuple[str, int] | None = None
               ) -> InlineKeyboardMarkup | None:
    """One button per open journey (opens it again), plus the quiz when it is the next step."""
    kb = InlineKeyboardBuilder()
    for o in items:
        kb.button(text=f"▶️ {o.position}. {o.topic_title}"[:60],
                  callback_data=JourneyCb(action="start", delivery=o.delivery_id))
    if quiz is not None:
        slug, module = quiz
        kb.button(text=f"📝 Take the Module {module} quiz",
                  callback_data=QuizStartCb(course=slug, module=module))
    if not items and quiz is None:
        return None
    kb.adjust(1)
    return kb.as_markup()


def leave_pick(slugs: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for slug, title in slugs:
        kb.button(text=f"🚪 {title}"[:60], callback_data=LeaveCb(course=slug, action="ask"))
    kb.adjust(1)
    return kb.as_markup()


def leave_confirm(slug: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="🚪 Yes, leave", callback_data=LeaveCb(course=slug, action="yes"))
    kb.button(text="✖️ Stay", callback_data=LeaveCb(course=slug, action="no"))
    return kb.as_markup()


def course_pick(slugs: list[tuple[str, str]], current: str | None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for slug, title in slugs:
        mark = "✔ " if slug == current else ""
        kb.button(text=f"{mark}{title}"[:60], callback_data=CourseCb(course=slug))
    kb.adjust(1)
    return kb.as_markup()


def hours() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for hour in (6, 7, 8, 9, 12, 18, 20, 21):
        kb.button(text=f"{hour:02d}:00", callback_data=TimeCb(hour=hour))
    kb.adjust(4)
    return kb.as_markup()


def quiz_options(attempt_id: uuid.UUID, index: int, options: list[str]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, text in enumerate(options):
        kb.button(text=text[:60], callback_data=QuizCb(attempt=attempt_id, q=index, o=i))
    kb.adjust(1)
    return kb.as_markup()


def quiz_start(course_slug: str, module: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=f"📝 Take the Module {module} quiz",
              callback_data=QuizStartCb(course=course_slug, module=module))
    return kb.as_markup()


def broadcast_confirm(broadcast_id: uuid.UUID, recipients: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=f"📣 Send to {recipients}",
              callback_data=BroadcastCb(action="send", id=broadcast_id))
    kb.button(text="✖️ Cancel", callback_data=BroadcastCb(action="cancel", id=broadcast_id))
    return kb.as_markup()


def broadcast_stop(broadcast_id: uuid.UUID) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="⏹ Stop", callback_data=BroadcastCb(action="stop", id=broadcast_id))
    return kb.as_markup()


# --- ask the course ---------------------------------------------------------------------------

def suggestions(items: list[Suggestion]) -> InlineKeyboardMarkup | None:
    """One button per suggested question (free to tap); None when there are none."""
    if not items:
        return None
    kb = InlineKeyboardBuilder()
    for s in items:
        kb.button(text=f"💡 {s.text[:60]}", callback_data=AskCb(suggestion=s.id))
    kb.adjust(1)
    return kb.as_markup()


def persona_choices(course_id: uuid.UUID, personas: list[str], current: str,
                    profile: str | None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for p in personas:
        mark = "✔ " if p == current else ""
        kb.button(text=f"{mark}{PERSONA_LABELS.get(p, p)}",
                  callback_data=PersonaCb(course=course_id, kind="p", value=p))
    for key, label in [*PROFILE_LABELS.items(), ("none", "🙅 No profile")]:
        mark = "✔ " if key == (profile or "none") else ""
        kb.button(text=f"{mark}{label}",
                  callback_data=PersonaCb(course=course_id, kind="l", value=key))
    kb.adjust(2)
    return kb.as_markup()
