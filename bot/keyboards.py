"""Inline keyboards, built with aiogram's builder from the typed callback factories."""

from __future__ import annotations

import uuid

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import EnrollCb, JourneyCb, TimeCb
from storage.courses import CourseRow


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
    kb.button(text="▶️ Start", callback_data=JourneyCb(action="start", delivery=delivery_id.hex))
    return kb.as_markup()


def done(delivery_id: uuid.UUID) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="✅ Done", callback_data=JourneyCb(action="done", delivery=delivery_id.hex))
    return kb.as_markup()


def hours() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for hour in (6, 7, 8, 9, 12, 18, 20, 21):
        kb.button(text=f"{hour:02d}:00", callback_data=TimeCb(hour=hour))
    kb.adjust(4)
    return kb.as_markup()
