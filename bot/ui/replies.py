"""Answering in group chats through the rate-limited sender.

Groups allow about 20 bot messages a minute; a reply there competes with cold-call posts, so it
goes through the same sender (which also waits out a 429). Private chats answer directly."""

from __future__ import annotations

import logging
from typing import Any

from aiogram.types import Message

from bot.workers.sender import RateLimitedSender, SendFailed

log = logging.getLogger(__name__)
GROUP_TYPES = frozenset({"group", "supergroup"})


def in_group(message: Message) -> bool:
    return message.chat.type in GROUP_TYPES


async def reply(
    message: Message, text: str, sender: RateLimitedSender | None = None, **kwargs: Any
) -> Message | None:
    """`message.answer` (same forum topic), via the sender in groups. A group that refuses the
    message (bot removed, muted) is logged, not raised: the update itself was handled."""
    if sender is None or not in_group(message):
        return await message.answer(text, **kwargs)
    try:
        return await sender.send(message.chat.id, lambda: message.answer(text, **kwargs))
    except SendFailed as exc:
        log.warning("could not answer in chat %s: %s", message.chat.id, exc)
        return None
