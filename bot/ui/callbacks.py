"""Typed callback payloads. Validated by aiogram on the way in (a forged or stale payload
doesn't parse and gets the "button no longer works" answer), and never trusted for *who*: the
acting user always comes from the update itself. Ids travel as UUID hex (32 characters), so
every payload stays well inside Telegram's 64 bytes."""

from __future__ import annotations

import uuid
from typing import Literal

from aiogram.filters.callback_data import CallbackData


class EnrollCb(CallbackData, prefix="enr"):
    slug: str


class JourneyCb(CallbackData, prefix="jr"):
    action: Literal["start", "done"]
    delivery: uuid.UUID


class LeaveCb(CallbackData, prefix="lv"):
    course: str  # course slug
    action: Literal["ask", "yes", "no"]


class CourseCb(CallbackData, prefix="co"):
    course: str  # course slug: the course typed questions are about


class TimeCb(CallbackData, prefix="tm"):
    hour: int


class QuizCb(CallbackData, prefix="qz"):
    attempt: uuid.UUID
    q: int  # question index
    o: int  # option index


class QuizStartCb(CallbackData, prefix="qs"):
    course: str  # course slug
    module: int


class BroadcastCb(CallbackData, prefix="bc"):
    action: Literal["send", "cancel", "stop"]
    id: uuid.UUID


class AskCb(CallbackData, prefix="ask"):
    suggestion: uuid.UUID  # topic_prompt_suggestions id


class PersonaCb(CallbackData, prefix="per"):
    course: uuid.UUID
    kind: Literal["p", "l"]  # content persona | learner profile
    value: str  # a persona / profile name, or "none" (profile only)
