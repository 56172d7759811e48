"""Typed callback payloads. Validated by aiogram on the way in (a forged or stale payload
doesn't parse and gets the "button no longer works" answer), and never trusted for *who*: the
acting user always comes from the update itself. Ids travel as UUID hex (32 characters), so
every payload stays well inside Telegram's 64 bytes."""

from __future__ import annotations

import uuid
from typing import Literal

from aiogram.filters.callback_data import CallbackData


class EnrollCb(CallbackData, prefix="enr"):
    course: uuid.UUID


class JourneyCb(CallbackData, prefix="jr"):
    action: Literal["start", "done"]
    delivery: uuid.UUID


class LeaveCb(CallbackData, prefix="lv"):
    course: uuid.UUID
    action: Literal["ask", "yes", "no"]


class CourseCb(CallbackData, prefix="co"):
    course: uuid.UUID  # the course typed questions are about


class TimeCb(CallbackData, prefix="tm"):
    hour: int


class QuizCb(CallbackData, prefix="qz"):
    attempt: uuid.UUID
    q: int  # question index
    o: int  # option index


class QuizStartCb(CallbackData, prefix="qs"):
    course: uuid.UUID
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


class DeleteMeCb(CallbackData, prefix="del"):
    action: Literal["yes", "no"]
    user: uuid.UUID  # who asked: a forwarded or forged button can't erase anyone else


class VoteCb(CallbackData, prefix="fb"):
    answer: uuid.UUID  # rag_answers id; only its asker's vote counts (storage.feedback.vote)
    v: Literal["up", "down"]


class LanguageCb(CallbackData, prefix="lang"):
    lang: str  # one of bot.i18n.LANGUAGES; anything else is forged or from a removed language
