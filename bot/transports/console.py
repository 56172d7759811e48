"""The console transport: the real Dispatcher and handlers, driven from a terminal or a pipe.

`ConsoleSession` is an aiogram session that, instead of calling Telegram, renders each Bot API
call as text and answers it the way Telegram would. Inline buttons are shown as numbered
choices; typing the number presses the button.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import sys
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any, TextIO

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import Update

BOT_USER = {"id": 1, "is_bot": True, "first_name": "learnbot", "username": "learnbot_console"}
_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """HTML parse-mode text as a terminal shows it."""
    return html.unescape(_TAG.sub("", text))


class ConsoleSession(BaseSession):
    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out
        self.message_ids = itertools.count(1)
        self.buttons: list[tuple[str, str]] = []  # (label, callback_data) of the latest keyboard
        self.buttons_message: dict[str, Any] | None = None
        self.messages: dict[int, dict[str, Any]] = {}

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _keyboard(self, markup: Any) -> list[tuple[str, str]]:
        if markup is None:
            return []
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        return [
            (b["text"], b.get("callback_data") or b.get("url") or "")
            for row in rows or []
            for b in row
        ]

    def _show_buttons(self, buttons: list[tuple[str, str]], message: dict[str, Any]) -> None:
        if not buttons:
            return
        self.buttons = buttons
        self.buttons_message = message
        self._print("     " + "  ".join(f"[{i}] {label}" for i, (label, _) in
                                        enumerate(buttons, 1)))

    def _message(self, chat_id: int, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        msg = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT_USER,
            **extra,
        }
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        self.messages[msg["message_id"]] = msg
        return msg

    def render(self, name: str, p: dict[str, Any]) -> Any:
        if name == "getMe":
            return BOT_USER
        if name == "sendMessage":
            msg = self._message(p["chat_id"], p, text=p["text"])
            self._print("bot> " + plain(p["text"]).replace("\n", "\n     "))
            self._show_buttons(self._keyboard(p.get("reply_markup")), msg)
            return msg
        if name in ("sendPhoto", "sendDocument"):
            caption = plain(p.get("caption") or "")
            kind = "photo" if name == "sendPhoto" else "document"
            self._print(f"bot> [{kind}] {caption}")
            return self._message(p["chat_id"], p, caption=caption)
        if name == "editMessageText":
            msg = self.messages.get(p.get("message_id") or 0) or self._message(
                p.get("chat_id") or 0, p)
            msg["text"] = p["text"]
            self._print("bot> (edited) " + plain(p["text"]).replace("\n", "\n     "))
            self._show_buttons(self._keyboard(p.get("reply_markup")), msg)
            return msg
        if name == "editMessageReplyMarkup":
            msg = self.messages.get(p.get("message_id") or 0)
            if msg is not None and self.buttons_message is msg:
                self.buttons = []
            return msg or True
        if name == "answerCallbackQuery":
            if p.get("text"):
                self._print(f"bot> ({plain(p['text'])})")
            return True
        return True  # setMyCommands, sendChatAction, deleteWebhook, ...

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None  # noqa: ASYNC109
    ) -> Any:
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files={})
            if prepared is None:
                continue
            if isinstance(prepared, str) and prepared[:1] in "{[":
                with contextlib.suppress(ValueError):
                    prepared = json.loads(prepared)
            params[key] = prepared
        for key in ("chat_id", "message_id"):
            if isinstance(params.get(key), str) and params[key].lstrip("-").isdigit():
                params[key] = int(params[key])
        result = self.render(method.__api_method__, params)
        payload = json.dumps({"ok": True, "result": result})
        return self.check_response(bot=bot, method=method, status_code=200, content=payload)

    async def stream_content(
        self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536, raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        return None


class ConsoleDriver:
    """Turns typed lines into Updates for the Dispatcher, as one private-chat user."""

    def __init__(self, dp: Dispatcher, bot: Bot, session: ConsoleSession, *, user_id: int,
                 first_name: str = "You") -> None:
        self.dp = dp
        self.bot = bot
        self.session = session
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name}
        # Update ids must not repeat across runs: the dedupe middleware remembers them.
        self.update_ids = itertools.count(time.time_ns() // 1000)
        self.user_message_ids = itertools.count(1_000_000)

    def _update(self, **body: Any) -> Update:
        return Update.model_validate({"update_id": next(self.update_ids), **body},
                                     context={"bot": self.bot})

    async def send_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        s = self.session
        if line.isdigit() and s.buttons and 1 <= int(line) <= len(s.buttons):
            label, data = s.buttons[int(line) - 1]
            s._print(f"you> [{label}]")
            update = self._update(callback_query={
                "id": str(next(self.update_ids)),
                "from": self.user,
                "chat_instance": "console",
                "message": s.buttons_message,
                "data": data,
            })
        else:
            s._print(f"you> {line}")
            entities = []
            if line.startswith("/"):
                entities = [{"type": "bot_command", "offset": 0, "length": len(line.split()[0])}]
            update = self._update(message={
                "message_id": next(self.user_message_ids),
                "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": self.user["id"], "type": "private",
                         "first_name": self.user["first_name"]},
                "from": self.user,
                "text": line,
                "entities": entities,
            })
        await self.dp.feed_update(self.bot, update)

    async def run(self, stream: TextIO = sys.stdin, prompt: bool = False) -> None:
        while True:
            if prompt:
                self.session.out.write("> ")
                self.session.out.flush()
            line = await asyncio.to_thread(stream.readline)
            if not line:
                return
            if line.strip() in ("/quit", "/exit"):
                return
            await self.send_line(line)
