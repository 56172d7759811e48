"""Typed callback payloads. Validated by aiogram on the way in, and never trusted for *who*:
the acting user always comes from the update itself."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class EnrollCb(CallbackData, prefix="enr"):
    slug: str


class JourneyCb(CallbackData, prefix="jr"):
    action: str  # "start" | "done"
    delivery: str  # delivery id, hex


class TimeCb(CallbackData, prefix="tm"):
    hour: int


class QuizCb(CallbackData, prefix="qz"):
    attempt: str  # attempt id, hex
    q: int  # question index
    o: int  # option index (-1: start the quiz)


class QuizStartCb(CallbackData, prefix="qs"):
    course: str  # course slug
    module: int



class BroadcastCb(CallbackData, prefix="bc"):
    action: str  # "send" | "cancel" | "stop"
    id: str  # broadcast id, hex


class AskCb(CallbackData, prefix="ask"):
    suggestion: str  # topic_prompt_suggestions id, hex


class PersonaCb(CallbackData, prefix="per"):
    course: str  # course id, hex
    kind: str  # "p": content persona | "l": learner profile
    value: str  # a persona / profile name, or "none" (profile only)
