"""An answer shown while the LLM writes it, in a private chat.

Telegram's `sendMessageDraft` shows an ephemeral, animated draft; the answer is then sent
whole, with its citations, as an ordinary message (which replaces the draft). A Bot API server
that doesn't know drafts (an older self-hosted one) gets one message instead, edited in place
at most once per `edit_interval` and turned into the answer's first part at the end.

Updates come faster than Telegram should be called: a piece arriving sooner than the interval
after the last call is held, and the next piece after the interval carries it along. Nothing
is waited for between pieces, so the stream is never slowed down by Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNotFound
from aiogram.types import InlineKeyboardMarkup, Message

from bot.ui import texts

log = logging.getLogger(__name__)

DRAFT_INTERVAL = 0.3
EDIT_INTERVAL = 1.0
STREAM_CURSOR = " ▍"


class AnswerStream:
    def __init__(self, bot: Bot, chat_id: int, draft_id: int, *,
                 draft_interval: float = DRAFT_INTERVAL, edit_interval: float = EDIT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.draft_id = draft_id or 1  # must be non-zero
        self.draft_interval = draft_interval
        self.edit_interval = edit_interval
        self.clock = clock
        self.drafts = True  # until the server says it has no drafts
        self.message: Message | None = None  # the edited message, without drafts
        self.shown = ""
        self._last = float("-inf")
        self._failed = False

    async def update(self, text: str) -> None:
        """The answer so far (Markdown-ish, citations checked)."""
        if self._failed or not text.strip():
            return
        interval = self.draft_interval if self.drafts else self.edit_interval
        if self.clock() - self._last < interval:
            return
        body = texts.snippet(text, texts.TELEGRAM_LIMIT - 8)
        try:
            await self._show(texts.esc(body) + STREAM_CURSOR)
        except TelegramAPIError as exc:  # a preview is a nicety: the answer still comes
            log.info("streaming the answer stopped: %s", exc)
            self._failed = True
            return
        self._last = self.clock()
        self.shown = body

    async def _show(self, html: str) -> None:
        if self.drafts:
            try:
                await self.bot.send_message_draft(chat_id=self.chat_id, draft_id=self.draft_id,
                                                  text=html)
                return
            except (TelegramNotFound, TelegramBadRequest) as exc:
                log.info("no message drafts on this server (%s): editing a message", exc)
                self.drafts = False
        if self.message is None:
            self.message = await self.bot.send_message(self.chat_id, html)
        else:
            await self.bot.edit_message_text(html, chat_id=self.chat_id,
                                             message_id=self.message.message_id)

    async def finish(self, parts: list[str], reply_markup: InlineKeyboardMarkup | None
                     ) -> None:
        """The whole answer: sent (drafts vanish when it arrives), or, where a message was
        edited instead, its first part edited in and the rest sent after it."""
        rest = parts
        if self.message is not None and parts:
            # the last edit keeps the pace too
            await asyncio.sleep(max(0.0, self._last + self.edit_interval - self.clock()))
            markup = reply_markup if len(parts) == 1 else None
            try:
                await self.bot.edit_message_text(parts[0], chat_id=self.chat_id,
                                                 message_id=self.message.message_id,
                                                 reply_markup=markup)
                rest = parts[1:]
            except TelegramAPIError as exc:
                log.info("could not finish the streamed message in place: %s", exc)
        for i, part in enumerate(rest):
            last = i == len(rest) - 1
            await self.bot.send_message(self.chat_id, part,
                                        reply_markup=reply_markup if last else None)
