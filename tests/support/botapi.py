"""A local Telegram Bot API emulator for tests.

The bot under test talks HTTP to this server exactly as it would to api.telegram.org
(aiogram: ``AiohttpSession(api=TelegramAPIServer.from_base(emu.url))``); tests push updates in
and assert on what the bot sent.

Requests: ``/bot<token>/<method>`` (GET or POST; query string, JSON, urlencoded or
multipart/form-data bodies; method names are case-insensitive) and file downloads at
``/file/bot<token>/<file_path>``.  Responses use Telegram's shapes:
``{"ok": true, "result": ...}`` and ``{"ok": false, "error_code": N, "description": "...",
"parameters": {...}}``.

It implements only the methods the bot calls (``_METHODS``); any other answers 404 "method not
found", as Telegram does for a method it doesn't know, so a new call in the bot shows up here
first.

Faithfulness notes (things the real server does that are emulated here):

* text/caption ``parse_mode`` HTML (the bot's only mode) is parsed the way Telegram parses it:
  malformed markup is a 400 "Bad Request: can't parse entities: ..." and the returned Message
  carries the plain text plus entities.  The raw text the bot sent is kept in
  ``SentMessage.text``; the rendered text in ``SentMessage.plain_text``.
* editMessageText/ReplyMarkup with identical content is a 400 "message is not modified";
  editMessageText without reply_markup removes the inline keyboard.
* answerCallbackQuery of an unknown or already answered query is a 400.
* getUpdates: offset confirms, negative offsets, limit, long polling, ``allowed_updates`` (sticky
  between calls; when never given, chat_member / message_reaction / message_reaction_count are not
  delivered, like Telegram), 409 when a webhook is set, 409 for the older of two concurrent
  getUpdates requests.
* Inline keyboards are validated (callback_data 1-64 bytes, a button needs an action), bot
  commands must match ``[a-z0-9_]{1,32}``.

Fault injection (other Bot API servers, a bad day at Telegram): ``block_chat`` (403),
``rate_limit`` (429 with retry_after), ``fail_next`` (N failures with a status), ``fail_for``
(every call fails for a period, e.g. 5xx), ``delay`` (slow answers), ``unsupported`` (404
"method not found"), ``garbage`` (200 with a body that isn't JSON), ``chat_fault`` (one chat's
calls fail or come back garbled), ``revoke_token`` (401 from now on); ``reset_faults`` clears
them.

Everything public on :class:`BotAPIEmulator` is thread-safe, so the same object works in a
pytest-asyncio test (``async with BotAPIEmulator() as emu``) and in synchronous code
(``emu.run_in_thread()`` / ``emu.stop_thread()`` or ``with BotAPIEmulator() as emu``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import mimetypes
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "AnsweredCallback",
    "BotAPIEmulator",
    "Call",
    "SentMessage",
    "StoredFile",
    "UploadedFile",
]

log = logging.getLogger(__name__)

BOT_ID = 999000
BOT_USERNAME = "learnbot_test_bot"
BOT_FIRST_NAME = "LearnBot Test"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

# Update types Telegram does not deliver unless explicitly listed in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

# Parameter coercion for form-encoded requests (every value arrives as a string there).
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "direct_messages_topic_id",
        "reply_to_message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "until_date",
        "max_connections",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "show_caption_above_media",
        "has_spoiler",
        "show_alert",
        "is_big",
        "drop_pending_updates",
        "only_if_banned",
    }
)
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
        "commands",
        "scope",
        "reaction",
        "allowed_updates",
        "message_ids",
        "media",
    }
)
_INT_RE = re.compile(r"-?\d+\Z")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,64})?(?=\s|\Z)")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}\Z")
_URL_RE = re.compile(r"(?:(?:https?|tg|ton)://\S+|[\w-]+(?:\.[\w-]+)+(?:[/?#]\S*)?)\Z", re.I)

_MISSING = object()


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part the bot uploaded."""

    filename: str | None
    data: bytes = field(repr=False)
    content_type: str | None = None

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes, {self.content_type!r})"


@dataclass
class Call:
    """One HTTP call the bot made.  ``status`` is 0 while the call is still being handled."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() at arrival
    token: str = ""
    status: int = 0
    result: Any = field(default=None, repr=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Answered 200 with a real result (a garbage body is not ok: nothing was done)."""
        return self.status == 200 and self.error is None


@dataclass
class SentMessage:
    """A message the bot sent (send*) or edited (edit*).  Edits are separate records."""

    method: str
    chat_id: int | str | None
    message_id: int | None
    text: str | None = None  # raw ``text`` parameter as sent (markup included)
    caption: str | None = None  # raw ``caption`` parameter
    parse_mode: str | None = None
    plain_text: str | None = None  # text/caption after parse_mode rendering
    entities: list[dict[str, Any]] | None = None  # rendered entities
    reply_markup: dict[str, Any] | None = None
    thread_id: int | None = None
    reply_to: int | None = None
    photo: bytes | None = field(default=None, repr=False)
    document: bytes | None = field(default=None, repr=False)
    filename: str | None = None
    file_id: str | None = None
    file_ref: str | None = None  # file_id / URL string when the bot did not upload bytes
    inline_message_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    message: dict[str, Any] | None = field(default=None, repr=False)  # returned Message JSON
    at: float = 0.0

    @property
    def content(self) -> str | None:
        """``text`` for text messages, ``caption`` for media."""
        return self.text if self.text is not None else self.caption

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline (or reply) keyboard buttons, flattened row by row."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        out: list[dict[str, Any]] = []
        for row in rows:
            for button in row:
                out.append(button if isinstance(button, dict) else {"text": button})
        return out

    def button(self, text: str) -> dict[str, Any]:
        """First button whose text contains ``text``; LookupError if none."""
        for button in self.buttons:
            if text in str(button.get("text", "")):
                return button
        raise LookupError(f"no button containing {text!r} in {self.describe()}")

    def describe(self) -> str:
        body = self.content
        if body is not None and len(body) > 300:
            body = body[:300] + "..."
        parts = [f"{self.method} chat={self.chat_id} id={self.message_id}"]
        if self.thread_id is not None:
            parts.append(f"thread={self.thread_id}")
        if self.reply_to is not None:
            parts.append(f"reply_to={self.reply_to}")
        if self.filename or self.file_ref:
            parts.append(f"file={self.filename or self.file_ref!r}")
        parts.append(f"text={body!r}")
        if self.buttons:
            shown = [(b.get("text"), b.get("callback_data") or b.get("url")) for b in self.buttons]
            parts.append(f"buttons={shown!r}")
        return " ".join(parts)


@dataclass
class AnsweredCallback:
    callback_query_id: str
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None
    at: float = 0.0


@dataclass
class Draft:
    """One sendMessageDraft: an ephemeral preview of a message being written."""

    chat_id: int
    draft_id: int
    text: str  # raw, markup included
    plain_text: str
    at: float = 0.0



@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes = field(repr=False)
    filename: str | None = None
    mime_type: str | None = None
    kind: str = "document"
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        return len(self.data)


class _APIError(Exception):
    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def _bad(description: str) -> _APIError:
    return _APIError(400, "Bad Request: " + description)


# --------------------------------------------------------------------------------------------
# Cross-thread / cross-loop wake-ups
# --------------------------------------------------------------------------------------------


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Signal:
    """A version counter whose waiters may be coroutines on any loop or plain threads.

    Usage: read ``version``, check the condition, then ``wait(version)``; a notify that happened
    after the read makes the wait return immediately, so wake-ups are never lost.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.version = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def notify(self) -> None:
        with self._cond:
            self.version += 1
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        if not waiters:
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, fut in waiters:
            if loop is current:
                _wake(fut)
            else:
                with contextlib.suppress(RuntimeError):  # loop closed
                    loop.call_soon_threadsafe(_wake, fut)

    async def wait(self, version: int, timeout: float) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        with self._cond:
            if self.version != version:
                return
            fut: asyncio.Future[None] = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            if not fut.done() or fut.cancelled():
                with self._cond, contextlib.suppress(ValueError):
                    self._waiters.remove(entry)

    def wait_sync(self, version: int, timeout: float) -> None:
        with self._cond:
            if self.version == version:
                self._cond.wait(timeout)


# --------------------------------------------------------------------------------------------
# parse_mode rendering (mirrors tdlib's parsers closely enough to reject what Telegram rejects)
# --------------------------------------------------------------------------------------------


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _ParseError(Exception):
    pass


class _Builder:
    __slots__ = ("entities", "parts", "u16")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.u16 = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.u16 += len(chunk) if chunk.isascii() else _u16(chunk)

    def entity(self, etype: str, offset: int, arg: Any = None) -> None:
        length = self.u16 - offset
        if length <= 0 or not etype:
            return
        ent: dict[str, Any] = {"type": etype, "offset": offset, "length": length}
        if etype == "text_link":
            if not arg:
                return
            ent["url"] = arg
        elif etype == "pre" and arg:
            ent["language"] = arg
        elif etype == "custom_emoji":
            if not arg:
                return
            ent["custom_emoji_id"] = arg
        self.entities.append(ent)

    def result(self) -> tuple[str, list[dict[str, Any]] | None]:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ents or None


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NEXT = re.compile(r"[<&]")
_HTML_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _html_unescape_at(text: str, i: int) -> tuple[str, int] | None:
    m = _HTML_ENTITY.match(text, i)
    if not m:
        return None
    dec, hexa, name = m.groups()
    if name:
        return _HTML_NAMED[name], m.end()
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end()


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]] | None]:
    if "<" not in text and "&" not in text:
        return text, None
    b = _Builder()
    stack: list[list[Any]] = []  # [tag, etype, offset, arg]
    i, n = 0, len(text)
    while i < n:
        m = _HTML_NEXT.search(text, i)
        j = m.start() if m else n
        if j > i:
            b.add(text[i:j])
            i = j
        if i >= n:
            break
        if text[i] == "&":
            dec = _html_unescape_at(text, i)
            if dec is None:
                b.add("&")
                i += 1
            else:
                b.add(dec[0])
                i = dec[1]
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise _ParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            k = i + 2
            while k < n and not text[k].isspace() and text[k] != ">":
                k += 1
            name = text[i + 2 : k].lower()
            while k < n and text[k].isspace():
                k += 1
            if k >= n or text[k] != ">":
                raise _ParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            tag, etype, offset, arg = stack.pop()
            if name and name != tag:
                raise _ParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{tag}>", found "</{name}>"'
                )
            b.entity(etype, offset, arg)
            i = k + 1
            continue
        k = i + 1
        while k < n and not text[k].isspace() and text[k] != ">":
            k += 1
        if k >= n:
            raise _ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[i + 1 : k].lower()
        if tag not in _HTML_TAGS:
            raise _ParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        etype = _HTML_TAGS[tag]
        arg: Any = None
        span_class: str | None = None
        while True:
            while k < n and text[k].isspace():
                k += 1
            if k >= n:
                raise _ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            if text[k] == ">":
                k += 1
                break
            a0 = k
            while k < n and not text[k].isspace() and text[k] not in "=>":
                k += 1
            attr = text[a0:k].lower()
            if not attr:
                raise _ParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            while k < n and text[k].isspace():
                k += 1
            if tag == "blockquote" and attr == "expandable" and (k >= n or text[k] != "="):
                etype = "expandable_blockquote"
                continue
            if k >= n or text[k] != "=":
                raise _ParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {_byte_offset(text, begin)}"
                )
            k += 1
            while k < n and text[k].isspace():
                k += 1
            if k >= n:
                raise _ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            if text[k] in "'\"":
                quote = text[k]
                k += 1
                vparts: list[str] = []
                while k < n and text[k] != quote:
                    dec = _html_unescape_at(text, k) if text[k] == "&" else None
                    if dec is None:
                        vparts.append(text[k])
                        k += 1
                    else:
                        vparts.append(dec[0])
                        k = dec[1]
                if k < n:
                    k += 1
                value = "".join(vparts)
            else:
                v0 = k
                while k < n and (text[k].isalnum() or text[k] in ".-"):
                    k += 1
                value = text[v0:k].lower()
                if k < n and not text[k].isspace() and text[k] != ">":
                    raise _ParseError(
                        f"Unexpected end of name token at byte offset {_byte_offset(text, v0)}"
                    )
            if tag == "a" and attr == "href":
                arg = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                arg = value[len("language-") :]
            elif tag == "span" and attr == "class":
                span_class = value
            elif tag == "tg-emoji" and attr == "emoji-id":
                arg = value
        if tag == "span" and span_class != "tg-spoiler":
            raise _ParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        if tag == "code" and stack and stack[-1][1] == "pre":
            if arg:
                stack[-1][3] = arg  # <pre><code class="language-x"> → pre with language
            etype, arg = "", None  # merged into the enclosing pre
        stack.append([tag, etype, b.u16, arg])
        i = k
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return b.result()


_MDV2_NEXT = re.compile(r"[\\_*\[\]()~`>#+\-=|{}.!]")
_MDV2_CODE_NEXT = re.compile(r"[\\`]")
_TD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}




_MD_NEXT = re.compile(r"[\\_*`\[]")
_MD_TYPES = {"_": "italic", "*": "bold", "`": "code", "[": "text_link"}



def _command_entities(text: str) -> list[dict[str, Any]] | None:
    m = _COMMAND_RE.match(text)
    if not m:
        return None
    return [{"type": "bot_command", "offset": 0, "length": _u16(m.group(0))}]


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height of PNG, GIF or JPEG bytes; (0, 0) when unknown."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        if data[:2] == b"\xff\xd8":
            i, n = 2, len(data)
            while i + 9 < n:
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD):
                    height = int.from_bytes(data[i + 5 : i + 7], "big")
                    width = int.from_bytes(data[i + 7 : i + 9], "big")
                    return width, height
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                    i += 2 if marker != 0xFF else 1
                    continue
                i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    except (IndexError, ValueError):
        pass
    return 0, 0


def _safe(predicate: Callable[[Any], Any], item: Any) -> bool:
    """Predicates that raise (e.g. ``"x" in m.text`` on a photo with text None) don't match."""
    try:
        return bool(predicate(item))
    except Exception:
        return False


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------

_METHODS = (
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "setMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "sendMessageDraft",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "sendChatAction",
    "sendPhoto",
    "sendDocument",
    "getFile",
)

# Methods that act in a chat and therefore fail with 403 when the chat is blocked.
_CHAT_PREFIXES = ("send", "edit", "copy", "forward")


class BotAPIEmulator:
    """In-process fake of api.telegram.org for one bot.  See the module docstring."""

    def __init__(
        self,
        *,
        bot_id: int = BOT_ID,
        bot_username: str = BOT_USERNAME,
        bot_first_name: str = BOT_FIRST_NAME,
        token: str | None = None,
        strict_chats: bool = False,
        strict_parse_mode: bool = True,
    ) -> None:
        """``token``: when given, other tokens get 401 Unauthorized (default: accept any).
        ``strict_chats``: sending to a chat nobody pushed from (see ``add_chat``) is a 400
        "chat not found" like on Telegram; by default such chats are created on the fly.
        ``strict_parse_mode``: malformed HTML/Markdown is a 400 (default) instead of being
        delivered verbatim."""
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._bot_from = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.expected_token = token
        self.strict_chats = strict_chats
        self.strict_parse_mode = strict_parse_mode
        self.drafts_supported = True  # False: sendMessageDraft is "method not found"

        self._lock = threading.RLock()
        self._updates_sig = _Signal()
        self._sent_sig = _Signal()
        self._calls_sig = _Signal()

        # server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

        self._handlers: dict[str, tuple[str, Callable[..., Any], bool]] = {}
        for name in _METHODS:
            fn = getattr(self, "_m_" + name)
            self._handlers[name.lower()] = (name, fn, asyncio.iscoroutinefunction(fn))

        self._reset_state()
        self.reset_faults()

    # ---------------------------------------------------------------- lifecycle (async)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on a real TCP socket in the running loop; returns ``url``."""
        if self._runner is not None:
            raise RuntimeError("BotAPIEmulator already started")
        self._loop = asyncio.get_running_loop()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            site = web.SockSite(runner, sock, backlog=1024)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
        self._runner = runner
        self._url = f"http://{shown}:{bound_port}"
        return self._url

    async def stop(self) -> None:
        """Stop listening; pending long polls return an empty result first."""
        runner = self._runner
        if runner is None:
            return
        self._closing = True
        self._updates_sig.notify()
        try:
            await runner.cleanup()
        finally:
            self._runner = None
            self._url = None

    async def __aenter__(self) -> BotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (for ``TelegramAPIServer.from_base``)."""
        if self._url is None:
            raise RuntimeError("BotAPIEmulator is not running")
        return self._url

    @property
    def running(self) -> bool:
        return self._runner is not None

    # ---------------------------------------------------------------- lifecycle (thread)

    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> str:
        """Serve from a daemon thread with its own event loop; returns ``url``."""
        if self._thread is not None:
            raise RuntimeError("BotAPIEmulator thread already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="BotAPIEmulator", daemon=True)
        self._thread, self._thread_loop = thread, loop
        thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("BotAPIEmulator thread did not start")
        if errors:
            self._thread = self._thread_loop = None
            raise errors[0]
        return self.url

    def stop_thread(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            return
        try:
            if not loop.is_closed():
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        finally:
            self._thread = self._thread_loop = None

    def __enter__(self) -> BotAPIEmulator:
        self.run_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # ---------------------------------------------------------------- state

    def _reset_state(self) -> None:
        with self._lock:
            self._calls: list[Call] = []
            self._calls_by_method: dict[str, list[Call]] = {}
            self._sent: list[SentMessage] = []
            self._sent_by_chat: dict[Any, list[SentMessage]] = {}
            self._sent_by_method: dict[str, list[SentMessage]] = {}
            self._last_record: dict[tuple[Any, int], SentMessage] = {}
            self._answered: list[AnsweredCallback] = []
            self._drafts: list[Draft] = []

            self._users: dict[int, dict[str, Any]] = {}
            self._chats: dict[int, dict[str, Any]] = {}
            self._messages: dict[tuple[int, int], dict[str, Any]] = {}
            self._next_mid: dict[int, int] = {}

            self._updates: deque[dict[str, Any]] = deque()
            self._next_update_id = 1
            self._allowed_updates: frozenset[str] | None = None
            self._poll_generation = 0
            self._webhook: dict[str, Any] = {}
            self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
            self._pending_callbacks: dict[str, dict[str, Any]] = {}
            self._callback_seq = itertools.count(4_000_000_000_000_001)

            self._files: dict[str, StoredFile] = {}
            self._files_by_path: dict[str, StoredFile] = {}
            self._file_seq = itertools.count(1)

    def reset(self) -> None:
        """Forget everything (records, chats, messages, files, pending updates, commands,
        webhook, faults) except the update_id counter and the current poller, so a bot that keeps
        polling across tests is unaffected."""
        with self._lock:
            next_update_id, generation = self._next_update_id, self._poll_generation
            self._reset_state()
            self._next_update_id, self._poll_generation = next_update_id, generation
            self.reset_faults()
        for sig in (self._updates_sig, self._sent_sig, self._calls_sig):
            sig.notify()

    def clear_records(self) -> None:
        """Forget recorded calls, sent messages, answered callbacks and reactions (keeps chats,
        stored messages, pending updates and faults)."""
        with self._lock:
            self._calls = []
            self._calls_by_method = {}
            self._sent = []
            self._sent_by_chat = {}
            self._sent_by_method = {}
            self._answered = []
            self._drafts = []

    def _chat_default(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": f"Test supergroup {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Test group {chat_id}"}

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        """Register a chat (needed with ``strict_chats=True`` for chats nobody pushed from)."""
        with self._lock:
            chat = self._chat_default(chat_id)
            if chat_type is not None:
                chat["type"] = chat_type
            if chat["type"] == "private":
                chat.pop("title", None)
                chat["first_name"] = first_name or chat.get("first_name") or f"User{chat_id}"
            else:
                chat.pop("first_name", None)
                chat["title"] = title or chat.get("title") or f"Test {chat['type']} {chat_id}"
            if username:
                chat["username"] = username
            if is_forum:
                chat["is_forum"] = True
            self._chats[chat_id] = chat
            return dict(chat)

    def _resolve_chat(self, chat_id: Any, *, param: str = "chat_id") -> dict[str, Any]:
        if chat_id is None or chat_id == "":
            raise _bad(f"{param} is empty")
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                uname = chat_id[1:].lower()
                for chat in self._chats.values():
                    if str(chat.get("username", "")).lower() == uname:
                        return chat
            raise _bad("chat not found")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.strict_chats or chat_id == 0:
                raise _bad("chat not found")
            chat = self._chats[chat_id] = self._chat_default(chat_id)
        return chat

    def _take_mid(self, chat_id: int) -> int:
        mid = self._next_mid.get(chat_id, 0) + 1
        self._next_mid[chat_id] = mid
        return mid

    def _upsert_user(
        self,
        user_id: int,
        first_name: str | None,
        username: str | None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        old = self._users.get(user_id)
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or (old or {}).get("first_name") or "Tester",
        }
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is None and old is not None:
                value = old.get(key)
            if value is not None:
                user[key] = value
        self._users[user_id] = user
        return user

    def _upsert_chat(
        self,
        user: dict[str, Any],
        chat_id: int | None,
        chat_type: str | None,
        title: str | None,
        forum: bool,
    ) -> dict[str, Any]:
        if chat_id is None:
            chat_id = user["id"]
        if chat_type is None:
            chat_type = self._chat_default(chat_id)["type"]
            existing = self._chats.get(chat_id)
            if existing is not None:
                chat_type = existing["type"]
        if chat_type == "private":
            chat: dict[str, Any] = {"id": chat_id, "type": "private"}
            for key in ("first_name", "last_name", "username"):
                if key in user:
                    chat[key] = user[key]
        else:
            existing = self._chats.get(chat_id) or {}
            chat = {
                "id": chat_id,
                "type": chat_type,
                "title": title or existing.get("title") or f"Test {chat_type} {chat_id}",
            }
            if existing.get("username"):
                chat["username"] = existing["username"]
            if forum or existing.get("is_forum"):
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        return chat

    def _embed(self, msg: dict[str, Any]) -> dict[str, Any]:
        out = dict(msg)
        out.pop("reply_to_message", None)
        return out

    def _store(self, msg: dict[str, Any]) -> None:
        self._messages[(msg["chat"]["id"], msg["message_id"])] = msg

    def _enqueue(self, payload: dict[str, Any]) -> int:
        uid = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": uid, **payload})
        self._updates_sig.notify()
        return uid

    def _record_sent(self, rec: SentMessage) -> None:
        self._sent.append(rec)
        self._sent_by_chat.setdefault(rec.chat_id, []).append(rec)
        self._sent_by_method.setdefault(rec.method, []).append(rec)
        if rec.message_id is not None:
            self._last_record[(rec.chat_id, rec.message_id)] = rec
        self._sent_sig.notify()

    # ---------------------------------------------------------------- pushing updates

    def push_message(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        chat_type: str | None = None,
        first_name: str = "Tester",
        username: str | None = None,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
        is_topic_message: bool = False,
        *,
        last_name: str | None = None,
        language_code: str | None = None,
        chat_title: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A user message (``message`` update; ``channel_post`` for channels).  ``chat_id``
        defaults to the user's private chat; ``chat_type`` defaults to what the id implies
        (positive: private, -100…: supergroup, other negative: group).  A leading /command gets
        a bot_command entity.  ``extra`` keys are merged into the Message.  Returns the Message."""
        with self._lock:
            msg = self._new_user_message(
                user_id,
                chat_id,
                chat_type,
                first_name,
                username,
                last_name,
                language_code,
                chat_title,
                reply_to_message_id,
                thread_id,
                is_topic_message,
            )
            msg["text"] = text
            ents = entities if entities is not None else _command_entities(text)
            if ents:
                msg["entities"] = ents
            msg.update(extra)
            self._store(msg)
            kind = "channel_post" if msg["chat"]["type"] == "channel" else "message"
            self._enqueue({kind: msg})
            return msg

    def _new_user_message(
        self,
        user_id: int,
        chat_id: int | None,
        chat_type: str | None,
        first_name: str | None,
        username: str | None,
        last_name: str | None,
        language_code: str | None,
        chat_title: str | None,
        reply_to_message_id: int | None,
        thread_id: int | None,
        is_topic_message: bool,
    ) -> dict[str, Any]:
        user = self._upsert_user(user_id, first_name, username, last_name, language_code)
        chat = self._upsert_chat(user, chat_id, chat_type, chat_title, is_topic_message)
        cid = chat["id"]
        msg: dict[str, Any] = {
            "message_id": self._take_mid(cid),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        }
        if chat["type"] == "channel":
            del msg["from"]
            msg["sender_chat"] = chat
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            if is_topic_message:
                msg["is_topic_message"] = True
        if reply_to_message_id is not None:
            target = self._messages.get((cid, reply_to_message_id))
            if target is not None:
                msg["reply_to_message"] = self._embed(target)
        return msg

    def push_callback(
        self,
        user_id: int,
        message_id: int,
        data: str,
        chat_id: int | None = None,
        *,
        first_name: str = "Tester",
        username: str | None = None,
    ) -> str:
        """A ``callback_query`` update for a button on message ``message_id`` in ``chat_id``
        (default: the user's private chat).  Returns the callback query id."""
        with self._lock:
            cid = user_id if chat_id is None else chat_id
            msg = self._messages.get((cid, message_id))
            if msg is None:
                known = sorted(mid for (c, mid) in self._messages if c == cid)[-20:]
                raise LookupError(
                    f"push_callback: no message {message_id} in chat {cid} (known: {known})"
                )
            user = self._upsert_user(user_id, first_name, username)
            cb_id = str(next(self._callback_seq))
            callback = {
                "id": cb_id,
                "from": user,
                "message": copy.deepcopy(msg),
                "chat_instance": str(-abs(cid) * 7919 - 17),
                "data": data,
            }
            self._pending_callbacks[cb_id] = callback
            self._enqueue({"callback_query": callback})
            return cb_id

    def push_document(
        self,
        user_id: int,
        filename: str,
        data: bytes,
        caption: str | None = None,
        chat_id: int | None = None,
        *,
        mime_type: str | None = None,
        chat_type: str | None = None,
        first_name: str = "Tester",
        username: str | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A user message carrying a document (downloadable via getFile).  Returns the
        Message; ``msg["document"]["file_id"]`` is the file id."""
        with self._lock:
            rec = self._store_file("document", bytes(data), filename, mime_type)
            msg = self._new_user_message(
                user_id,
                chat_id,
                chat_type,
                first_name,
                username,
                None,
                None,
                None,
                None,
                thread_id,
                False,
            )
            msg["document"] = self._document_json(rec)
            if caption is not None:
                msg["caption"] = caption
            self._store(msg)
            self._enqueue({"message": msg})
            return msg

    def push_photo(
        self,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        chat_id: int | None = None,
        *,
        first_name: str = "Tester",
        username: str | None = None,
    ) -> dict[str, Any]:
        """A user message carrying a photo.  Returns the Message."""
        with self._lock:
            rec = self._store_file("photo", bytes(data), None, "image/jpeg")
            msg = self._new_user_message(
                user_id, chat_id, None, first_name, username, None, None, None, None, None, False
            )
            msg["photo"] = [self._photo_json(rec)]
            if caption is not None:
                msg["caption"] = caption
            self._store(msg)
            self._enqueue({"message": msg})
            return msg

    def push_reaction(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        emoji: str | Iterable[str] | None,
        old_emoji: str | Iterable[str] | None = None,
        *,
        first_name: str = "Tester",
    ) -> int:
        """A ``message_reaction`` update (only delivered when the bot lists it in
        allowed_updates, as on Telegram).  ``emoji`` None/[] means the reaction was removed.
        Returns the update_id."""

        def reactions(value: str | Iterable[str] | None) -> list[dict[str, Any]]:
            if value is None:
                return []
            items = [value] if isinstance(value, str) else list(value)
            return [{"type": "emoji", "emoji": e} for e in items]

        with self._lock:
            user = self._upsert_user(user_id, first_name, None)
            chat = self._chats.get(chat_id)
            if chat is None:
                chat = self._upsert_chat(user, chat_id, None, None, False)
            return self._enqueue(
                {
                    "message_reaction": {
                        "chat": chat,
                        "message_id": message_id,
                        "user": user,
                        "date": int(time.time()),
                        "old_reaction": reactions(old_emoji),
                        "new_reaction": reactions(emoji),
                    }
                }
            )

    def push_raw(self, update: dict[str, Any]) -> int:
        """Queue an arbitrary Update dict (``update_id`` assigned when missing)."""
        with self._lock:
            upd = copy.deepcopy(update)
            callback = upd.get("callback_query")
            if isinstance(callback, dict) and callback.get("id") is not None:
                self._pending_callbacks[str(callback["id"])] = callback
            if "update_id" not in upd:
                return self._enqueue(upd)
            self._next_update_id = max(self._next_update_id, int(upd["update_id"]) + 1)
            self._updates.append(upd)
            self._updates_sig.notify()
            return int(upd["update_id"])

    # ---------------------------------------------------------------- configuration


    # ---------------------------------------------------------------- fault injection

    def block_chat(self, chat_id: int, description: str | None = None) -> None:
        """Every send*/edit*/copy*/forward*/setMessageReaction to ``chat_id`` gets a 403."""
        with self._lock:
            self._blocked[chat_id] = description

    def unblock_chat(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.pop(chat_id, None)

    def rate_limit(
        self, next_n_calls: int, retry_after: int, *, methods: Iterable[str] | None = None
    ) -> None:
        """The next ``next_n_calls`` send* calls (or ``methods``) get a 429 with retry_after."""
        with self._lock:
            self._rate_left = int(next_n_calls)
            self._retry_after = int(retry_after)
            self._rate_methods = frozenset(methods) if methods is not None else None

    def fail_next(
        self,
        n: int,
        status: int = 500,
        *,
        description: str | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """The next ``n`` send* calls (or ``methods``) fail with ``status``."""
        with self._lock:
            self._fail_left = int(n)
            self._fail_status = int(status)
            self._fail_description = description
            self._fail_methods = frozenset(methods) if methods is not None else None

    def delay(self, seconds: float, *, methods: Iterable[str] | None = None) -> None:
        """Answer send* calls (or ``methods``) only after ``seconds``; 0 turns it off."""
        with self._lock:
            self._delay = float(seconds)
            self._delay_methods = frozenset(methods) if methods is not None else None

    def unsupported(self, methods: Iterable[str]) -> None:
        """``methods`` answer 404 "Not Found: method not found", like a Bot API server that
        doesn't implement them."""
        with self._lock:
            self._unsupported |= {m.lower() for m in methods}

    def garbage(self, methods: Iterable[str], body: bytes = b"<html>502 oops</html>") -> None:
        """``methods`` answer 200 with ``body``: not JSON, not a Bot API response."""
        with self._lock:
            for m in methods:
                self._garbage[m.lower()] = body

    def chat_fault(
        self, chat_id: int, status: int = 400, description: str | None = None, *,
        garbage: bool = False,
    ) -> None:
        """Every send*/edit* call to ``chat_id`` fails with ``status`` (default 400), or with
        ``garbage=True`` answers 200 with a body that is not JSON (nothing is delivered)."""
        with self._lock:
            self._chat_faults[chat_id] = (status, description or "Bad Request: chat fault",
                                          garbage)

    def revoke_token(self) -> None:
        """Every call from now on gets 401 Unauthorized (the token was revoked)."""
        with self._lock:
            self._revoked = True

    def fail_for(
        self, seconds: float, status: int = 502, *, methods: Iterable[str] | None = None
    ) -> None:
        """For the next ``seconds``, every call (or ``methods``) fails with ``status``."""
        with self._lock:
            self._fail_until = time.monotonic() + float(seconds)
            self._fail_until_status = int(status)
            self._fail_until_methods = (frozenset(methods) if methods is not None else None)

    def reset_faults(self) -> None:
        with self._lock:
            self._unsupported: set[str] = set()
            self._chat_faults: dict[int, tuple[int, str, bool]] = {}
            self._garbage: dict[str, bytes] = {}
            self._revoked = False
            self._fail_until = 0.0
            self._fail_until_status = 502
            self._fail_until_methods: frozenset[str] | None = None
            self._blocked: dict[int, str | None] = {}
            self._rate_left = 0
            self._retry_after = 0
            self._rate_methods: frozenset[str] | None = None
            self._fail_left = 0
            self._fail_status = 500
            self._fail_description: str | None = None
            self._fail_methods: frozenset[str] | None = None
            self._delay = 0.0
            self._delay_methods: frozenset[str] | None = None

    @staticmethod
    def _matches(methods: frozenset[str] | None, name: str) -> bool:
        return name.startswith("send") if methods is None else name in methods

    def _blocked_error(self, chat_id: int) -> _APIError:
        description = self._blocked.get(chat_id)
        if description is None:
            chat_type = (self._chats.get(chat_id) or self._chat_default(chat_id))["type"]
            description = {
                "private": "Forbidden: bot was blocked by the user",
                "group": "Forbidden: bot was kicked from the group chat",
                "supergroup": "Forbidden: bot was kicked from the supergroup chat",
                "channel": "Forbidden: bot is not a member of the channel chat",
            }.get(chat_type, "Forbidden: bot was blocked by the user")
        return _APIError(403, description)

    async def _apply_faults(self, name: str, params: dict[str, Any]) -> None:
        if self._delay > 0 and self._matches(self._delay_methods, name):
            await asyncio.sleep(self._delay)
        with self._lock:
            if self._fail_left > 0 and self._matches(self._fail_methods, name):
                self._fail_left -= 1
                status = self._fail_status
                try:
                    phrase = HTTPStatus(status).phrase
                except ValueError:
                    phrase = "Error"
                raise _APIError(status, self._fail_description or phrase)
            if self._rate_left > 0 and self._matches(self._rate_methods, name):
                self._rate_left -= 1
                raise _APIError(
                    429,
                    f"Too Many Requests: retry after {self._retry_after}",
                    {"retry_after": self._retry_after},
                )
            if self._blocked and name.startswith(_CHAT_PREFIXES):
                chat_id = params.get("chat_id")
                if chat_id in self._blocked:
                    raise self._blocked_error(chat_id)

    # ---------------------------------------------------------------- inspection

    @property
    def sent(self) -> list[SentMessage]:
        """All sent/edited messages in order (a copy)."""
        with self._lock:
            return list(self._sent)

    def mark(self) -> int:
        """Current length of ``sent``; pass as ``since=`` to only wait for newer messages."""
        with self._lock:
            return len(self._sent)

    def messages_to(self, chat_id: int, method: str | None = None) -> list[SentMessage]:
        with self._lock:
            items = list(self._sent_by_chat.get(chat_id, ()))
        return items if method is None else [m for m in items if m.method == method]

    def last_sent(self, chat_id: int | None = None) -> SentMessage | None:
        with self._lock:
            items = self._sent if chat_id is None else self._sent_by_chat.get(chat_id, [])
            return items[-1] if items else None

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            if method is None:
                return list(self._calls)
            return list(self._calls_by_method.get(method, ()))

    @property
    def answered_callbacks(self) -> list[AnsweredCallback]:
        with self._lock:
            return list(self._answered)

    @property
    def drafts(self) -> list[Draft]:
        """Accepted sendMessageDraft calls, in order (none while ``drafts_supported`` is off:
        the method is then "not found", as on a Bot API server that predates drafts)."""
        with self._lock:
            return list(self._drafts)


    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot (a deep copy)."""
        with self._lock:
            return copy.deepcopy(list(self._updates))

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of a stored message (after edits), or None (unknown or deleted)."""
        with self._lock:
            msg = self._messages.get((chat_id, message_id))
            return copy.deepcopy(msg) if msg is not None else None


    def get_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def webhook_url(self) -> str:
        with self._lock:
            return str(self._webhook.get("url", ""))

    def file(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def dump(self, last: int = 15) -> str:
        """Human-readable tail of sent messages and failed calls (used in timeouts)."""
        with self._lock:
            sent = self._sent[-last:]
            total = len(self._sent)
            failed = [c for c in self._calls[-200:] if c.status not in (0, 200)][-last:]
        lines = [f"{total} sent/edited message(s); last {len(sent)}:"]
        lines += ["  " + m.describe() for m in sent] or ["  (none)"]
        if failed:
            lines.append("recent failed calls:")
            lines += [f"  {c.method} {c.status} {c.error} params={c.params!r:.200}" for c in failed]
        return "\n".join(lines)

    # ---------------------------------------------------------------- waiting

    @staticmethod
    def _as_predicate(
        predicate: Callable[[SentMessage], bool] | str,
    ) -> Callable[[SentMessage], bool]:
        if isinstance(predicate, str):
            needle = predicate

            def contains(m: SentMessage) -> bool:
                return any(needle in s for s in (m.content, m.plain_text) if s)

            return contains
        return predicate

    def _sent_finder(
        self, predicate: Callable[[SentMessage], bool] | str, since: int
    ) -> Callable[[], Any]:
        pred = self._as_predicate(predicate)
        pos = since

        def check() -> Any:
            nonlocal pos
            with self._lock:
                items = self._sent[pos:]
            for idx, m in enumerate(items):
                if _safe(pred, m):
                    pos += idx
                    return m
            pos += len(items)
            return _MISSING

        return check

    def _count_checker(self, n: int, method: str, chat_id: int | None) -> Callable[[], Any]:
        def check() -> Any:
            with self._lock:
                if chat_id is None:
                    items = list(self._sent_by_method.get(method, ()))
                else:
                    items = [m for m in self._sent_by_chat.get(chat_id, ()) if m.method == method]
            return items if len(items) >= n else _MISSING

        return check

    def _call_finder(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None,
        since: int,
        completed: bool = True,
    ) -> Callable[[], Any]:
        pos = since

        def check() -> Any:
            nonlocal pos
            with self._lock:
                items = self._calls_by_method.get(method, [])[pos:]
            for idx, c in enumerate(items):
                if completed and c.status == 0:  # in flight; look again after it completes
                    pos += idx
                    return _MISSING
                if predicate is None or _safe(predicate, c):
                    pos += idx
                    return c
            pos += len(items)
            return _MISSING

        return check

    async def _await(
        self,
        sig: _Signal,
        check: Callable[[], Any],
        timeout: float,  # noqa: ASYNC109
        what: Callable[[], str],
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            version = sig.version
            found = check()
            if found is not _MISSING:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what()}")
            await sig.wait(version, remaining)

    def _block(
        self, sig: _Signal, check: Callable[[], Any], timeout: float, what: Callable[[], str]
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            version = sig.version
            found = check()
            if found is not _MISSING:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what()}")
            sig.wait_sync(version, remaining)

    async def wait_for(
        self,
        predicate: Callable[[SentMessage], bool] | str,
        timeout: float = 10,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> SentMessage:
        """First recorded sent/edited message (index >= ``since``) satisfying ``predicate`` (a
        callable, or a substring of the text/caption).  AssertionError with a dump on timeout."""
        return await self._await(
            self._sent_sig,
            self._sent_finder(predicate, since),
            timeout,
            lambda: f"a sent message matching {predicate!r}\n{self.dump()}",
        )

    def wait_for_sync(
        self,
        predicate: Callable[[SentMessage], bool] | str,
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> SentMessage:
        return self._block(
            self._sent_sig,
            self._sent_finder(predicate, since),
            timeout,
            lambda: f"a sent message matching {predicate!r}\n{self.dump()}",
        )

    async def wait_for_count(
        self,
        n: int,
        method: str = "sendMessage",
        timeout: float = 10,  # noqa: ASYNC109
        *,
        chat_id: int | None = None,
    ) -> list[SentMessage]:
        """Wait until at least ``n`` records with ``method`` exist (optionally in ``chat_id``);
        returns all of them."""
        return await self._await(
            self._sent_sig,
            self._count_checker(n, method, chat_id),
            timeout,
            lambda: f"{n} x {method} (chat {chat_id})\n{self.dump()}",
        )

    def wait_for_count_sync(
        self,
        n: int,
        method: str = "sendMessage",
        timeout: float = 10,
        *,
        chat_id: int | None = None,
    ) -> list[SentMessage]:
        return self._block(
            self._sent_sig,
            self._count_checker(n, method, chat_id),
            timeout,
            lambda: f"{n} x {method}\n{self.dump()}",
        )

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10,  # noqa: ASYNC109
        *,
        since: int = 0,
        completed: bool = True,
    ) -> Call:
        """First call of ``method`` (index >= ``since`` within that method's calls) satisfying
        ``predicate``; e.g. ``await emu.wait_for_call("answerCallbackQuery")``.  By default only
        completed calls count (``status``/``result`` set); ``completed=False`` also matches calls
        in flight: ``wait_for_call("getUpdates", completed=False)`` means "the bot is polling"."""
        return await self._await(
            self._calls_sig,
            self._call_finder(method, predicate, since, completed),
            timeout,
            lambda: f"a {method} call matching {predicate!r}\n{self.dump()}",
        )

    def wait_for_call_sync(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10,
        *,
        since: int = 0,
        completed: bool = True,
    ) -> Call:
        return self._block(
            self._calls_sig,
            self._call_finder(method, predicate, since, completed),
            timeout,
            lambda: f"a {method} call matching {predicate!r}\n{self.dump()}",
        )

    # ---------------------------------------------------------------- HTTP layer

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query) if request.query_string else {}
        files: dict[str, UploadedFile] = {}
        if request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise _bad("can't parse JSON object") from exc
                if isinstance(body, dict):
                    params.update(body)
                elif body is not None:
                    raise _bad("JSON object expected")
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            value.filename, value.file.read(), value.content_type
                        )
                    else:
                        params[key] = value
        if files:
            for key, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    ref = files.pop(value[len("attach://") :], None)
                    if ref is not None:
                        params[key] = ref
            for key, ref in files.items():
                params.setdefault(key, ref)
        for key, value in params.items():
            if isinstance(value, str):
                if key in _INT_FIELDS:
                    if _INT_RE.match(value):
                        params[key] = int(value)
                elif key in _BOOL_FIELDS:
                    low = value.lower()
                    if low in ("true", "1"):
                        params[key] = True
                    elif low in ("false", "0", ""):
                        params[key] = False
                elif key in _JSON_FIELDS:
                    try:
                        params[key] = json.loads(value)
                    except ValueError as exc:
                        if key == "reply_markup":
                            raise _bad("can't parse reply keyboard markup JSON object") from exc
                        raise _bad(f"can't parse {key} JSON object") from exc
            elif isinstance(value, float) and key in _INT_FIELDS and value.is_integer():
                params[key] = int(value)
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        entry = self._handlers.get(raw_method.lower())
        name = entry[0] if entry is not None else raw_method
        failure: _APIError | None = None
        try:
            params = await self._read_params(request)
        except _APIError as exc:
            params, failure = {}, exc
        call = Call(name, params, time.monotonic(), token)
        with self._lock:
            self._calls.append(call)
            self._calls_by_method.setdefault(name, []).append(call)
        self._calls_sig.notify()
        status = 200
        try:
            if self._revoked or (self.expected_token is not None
                                 and token != self.expected_token):
                raise _APIError(401, "Unauthorized")
            if failure is not None:
                raise failure
            if entry is None or name.lower() in self._unsupported:
                raise _APIError(404, "Not Found: method not found")
            if time.monotonic() < self._fail_until and (
                    self._fail_until_methods is None or name in self._fail_until_methods):
                raise _APIError(self._fail_until_status, "Bad Gateway"
                                if self._fail_until_status == 502 else "Server Error")
            fault = (self._chat_faults.get(params.get("chat_id"))
                     if name.startswith(("send", "edit")) else None)
            if fault is not None and not fault[2]:
                raise _APIError(fault[0], fault[1])
            if name.lower() in self._garbage or fault is not None:
                if self._delay > 0 and self._matches(self._delay_methods, name):
                    await asyncio.sleep(self._delay)
                call.status = 200
                call.error = "garbage response"
                self._calls_sig.notify()
                return web.Response(body=self._garbage.get(name.lower(), b"{not json"),
                                    status=200, content_type="text/html")
            _, fn, is_async = entry
            await self._apply_faults(name, params)
            if is_async:
                result, body = await fn(params)
            else:
                with self._lock:
                    result = fn(params)
                    body = _dumps({"ok": True, "result": result})
            call.result = result
        except _APIError as exc:
            status = exc.code
            call.error = exc.description
            body = _dumps(exc.payload())
        except Exception as exc:  # a bug in the emulator: make it loud in the test output
            log.exception("BotAPIEmulator: %s failed", name)
            status = 500
            call.error = f"emulator error: {exc!r}"
            body = _dumps(
                {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"}
            )
        call.status = status
        self._calls_sig.notify()
        return web.Response(
            body=body, status=status, content_type="application/json", charset="utf-8"
        )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if self.expected_token is not None and token != self.expected_token:
            return web.Response(
                body=_dumps({"ok": False, "error_code": 401, "description": "Unauthorized"}),
                status=401,
                content_type="application/json",
            )
        with self._lock:
            rec = self._files_by_path.get(request.match_info["path"])
        if rec is None:
            return web.Response(
                body=_dumps({"ok": False, "error_code": 404, "description": "Not Found"}),
                status=404,
                content_type="application/json",
            )
        return web.Response(body=rec.data, content_type=rec.mime_type or "application/octet-stream")

    async def _handle_other(self, request: web.Request) -> web.Response:
        return web.Response(
            body=_dumps({"ok": False, "error_code": 404, "description": "Not Found"}),
            status=404,
            content_type="application/json",
        )

    # ---------------------------------------------------------------- helpers for methods

    def _render(
        self, text: str, parse_mode: Any, entities: Any
    ) -> tuple[str, list[dict[str, Any]] | None]:
        if parse_mode:
            mode = str(parse_mode).lower()
            if mode != "html":  # the bot only ever sends HTML; anything else is a bug here
                raise _bad(f"unsupported parse_mode {parse_mode!r}")
            try:
                return _parse_html(text)
            except _ParseError as exc:
                if self.strict_parse_mode:
                    raise _bad(f"can't parse entities: {exc}") from exc
                return text, None
        if isinstance(entities, list) and entities:
            return text, entities
        return text, None

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("object expected as reply markup")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise _bad(
                            "can't parse inline keyboard button: "
                            'InlineKeyboardButton must be an Object with a String field "text"'
                        )
                    if not any(k in button for k in _INLINE_ACTIONS) and "disabled" not in button:
                        raise _bad(
                            "can't parse inline keyboard button: "
                            "Text buttons are unallowed in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and (
                        not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64
                    ):
                        raise _bad("BUTTON_DATA_INVALID")
                    url = button.get("url")
                    if url is not None and (not isinstance(url, str) or not _URL_RE.match(url)):
                        raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
            for row in rows:
                for button in row:
                    if not isinstance(button, str) and not (
                        isinstance(button, dict) and isinstance(button.get("text"), str)
                    ):
                        raise _bad('can\'t parse keyboard button: Field "text" must be a String')
        elif "remove_keyboard" not in markup and "force_reply" not in markup:
            raise _bad("object expected as reply markup")
        return markup

    def _reply_target(
        self, chat_id: int, params: dict[str, Any]
    ) -> tuple[int | None, dict[str, Any] | None]:
        rp = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply", False))
        target_chat = chat_id
        mid: Any = None
        if isinstance(rp, dict):
            mid = rp.get("message_id")
            allow = bool(rp.get("allow_sending_without_reply", allow))
            if rp.get("chat_id") not in (None, ""):
                target_chat = self._resolve_chat(rp["chat_id"])["id"]
        elif params.get("reply_to_message_id") is not None:
            mid = params["reply_to_message_id"]
        if mid is None:
            return None, None
        if isinstance(mid, str) and _INT_RE.match(mid):
            mid = int(mid)
        msg = self._messages.get((target_chat, mid)) if isinstance(mid, int) else None
        if msg is None:
            if allow:
                return mid, None
            raise _bad("message to be replied not found")
        return mid, msg

    def _new_bot_message(
        self, chat: dict[str, Any], thread_id: Any, reply_msg: dict[str, Any] | None
    ) -> dict[str, Any]:
        cid = chat["id"]
        msg: dict[str, Any] = {
            "message_id": self._take_mid(cid),
            "from": self._bot_from,
            "chat": chat,
            "date": int(time.time()),
        }
        if chat["type"] == "channel":
            del msg["from"]
            msg["sender_chat"] = chat
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        if reply_msg is not None:
            msg["reply_to_message"] = self._embed(reply_msg)
        return msg

    def _store_file(
        self, kind: str, data: bytes, filename: str | None, mime_type: str | None
    ) -> StoredFile:
        n = next(self._file_seq)
        if mime_type is None and filename:
            mime_type = mimetypes.guess_type(filename)[0]
        ext = ""
        if filename and "." in filename:
            ext = "." + filename.rsplit(".", 1)[1]
        elif kind == "photo":
            ext = ".jpg"
        folder = "photos" if kind == "photo" else "documents"
        width, height = _image_size(data) if kind == "photo" else (0, 0)
        rec = StoredFile(
            file_id=f"{'AgAC' if kind == 'photo' else 'BQAC'}AgEmu{n:06d}",
            file_unique_id=f"AQADemu{n:06d}",
            file_path=f"{folder}/file_{n}{ext}",
            data=data,
            filename=filename,
            mime_type=mime_type,
            kind=kind,
            width=width or 320,
            height=height or 320,
        )
        self._files[rec.file_id] = rec
        self._files_by_path[rec.file_path] = rec
        return rec

    @staticmethod
    def _document_json(rec: StoredFile) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "file_size": rec.size,
        }
        if rec.filename:
            doc["file_name"] = rec.filename
        if rec.mime_type:
            doc["mime_type"] = rec.mime_type
        return doc

    @staticmethod
    def _photo_json(rec: StoredFile) -> dict[str, Any]:
        return {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "width": rec.width,
            "height": rec.height,
            "file_size": rec.size,
        }

    def _target_message(self, params: dict[str, Any], action: str) -> dict[str, Any]:
        chat = self._resolve_chat(params.get("chat_id"))
        mid = params.get("message_id")
        if mid is None or mid == "":
            raise _bad("message identifier is not specified")
        msg = self._messages.get((chat["id"], mid)) if isinstance(mid, int) else None
        if msg is None:
            raise _bad(f"message to {action} not found")
        return msg

    @staticmethod
    def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        return markup if markup is not None and "inline_keyboard" in markup else None

    # ---------------------------------------------------------------- methods

    def _m_getMe(self, p: dict[str, Any]) -> Any:
        return self.bot_user

    async def _m_getUpdates(self, p: dict[str, Any]) -> tuple[Any, bytes]:
        offset = p.get("offset")
        limit = p.get("limit", 100)
        timeout = p.get("timeout", 0)
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        timeout = max(timeout, 0) if isinstance(timeout, int | float) else 0
        with self._lock:
            if self._webhook.get("url"):
                raise _APIError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            allowed = p.get("allowed_updates")
            if isinstance(allowed, list):
                self._allowed_updates = frozenset(allowed) if allowed else None
            self._poll_generation += 1
            generation = self._poll_generation
        self._updates_sig.notify()  # terminates an older concurrent long poll with 409
        deadline = time.monotonic() + timeout
        while True:
            version = self._updates_sig.version
            with self._lock:
                if self._poll_generation != generation:
                    raise _APIError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                q = self._updates
                if isinstance(offset, int):
                    if offset > 0:
                        while q and q[0]["update_id"] < offset:
                            q.popleft()
                    elif offset < 0:
                        while len(q) > -offset:
                            q.popleft()
                    offset = None  # confirm once
                allowed_set = self._allowed_updates
                batch: list[dict[str, Any]] = []
                for upd in q:
                    kind = next((k for k in upd if k != "update_id"), "")
                    if (kind not in allowed_set) if allowed_set else (kind in _OPT_IN_UPDATES):
                        continue
                    batch.append(upd)
                    if len(batch) >= limit:
                        break
                remaining = deadline - time.monotonic()
                if batch or self._closing or remaining <= 0:
                    return batch, _dumps({"ok": True, "result": batch})
            await self._updates_sig.wait(version, remaining)

    def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self._webhook = {}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        url = p.get("url") or ""
        if not url:
            self._webhook = {}
            return True
        if not str(url).lower().startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook = {k: v for k, v in p.items() if not isinstance(v, UploadedFile)}
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True


    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        if not isinstance(scope, dict) or not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad("commands must be an Array")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        clean = []
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise _bad("BotCommand must be an Object")
            name, description = cmd.get("command"), cmd.get("description")
            if not isinstance(name, str) or not _BOT_COMMAND_NAME_RE.match(name.lstrip("/")):
                raise _bad("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name.lstrip("/"), "description": description})
        self._commands[self._commands_key(p.get("scope"), p.get("language_code"))] = clean
        return True

    def _m_deleteMyCommands(self, p: dict[str, Any]) -> Any:
        self._commands.pop(self._commands_key(p.get("scope"), p.get("language_code")), None)
        return True


    def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        chat = self._resolve_chat(p.get("chat_id"))
        text = p.get("text")
        if not isinstance(text, str) or not text:
            raise _bad("message text is empty")
        plain, entities = self._render(text, p.get("parse_mode"), p.get("entities"))
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        markup = self._check_markup(p.get("reply_markup"))
        reply_to, reply_msg = self._reply_target(chat["id"], p)
        thread_id = p.get("message_thread_id")
        msg = self._new_bot_message(chat, thread_id, reply_msg)
        msg["text"] = plain
        if entities:
            msg["entities"] = entities
        if self._inline_only(markup) is not None:
            msg["reply_markup"] = markup
        self._store(msg)
        self._record_sent(
            SentMessage(
                method="sendMessage",
                chat_id=chat["id"],
                message_id=msg["message_id"],
                text=text,
                parse_mode=p.get("parse_mode"),
                plain_text=plain,
                entities=entities,
                reply_markup=markup,
                thread_id=thread_id,
                reply_to=reply_to,
                params=p,
                message=dict(msg),
                at=time.monotonic(),
            )
        )
        return msg

    def _send_media(self, p: dict[str, Any], kind: str, method: str) -> Any:
        chat = self._resolve_chat(p.get("chat_id"))
        src = p.get(kind)
        file_ref: str | None = None
        if isinstance(src, UploadedFile):
            if not src.data:
                raise _bad("file must be non-empty")
            rec = self._store_file(kind, src.data, src.filename, src.content_type)
        elif isinstance(src, str) and src:
            file_ref = src
            known = self._files.get(src)
            if known is not None:
                if (known.kind == "photo") != (kind == "photo"):
                    raise _bad("type of file mismatch")
                rec = known
            elif src.lower().startswith(("http://", "https://")):
                name = src.rsplit("/", 1)[-1].split("?", 1)[0] or None
                rec = self._store_file(kind, b"", name, None)
            else:
                raise _bad("wrong file identifier/HTTP URL specified")
        else:
            raise _bad(f"there is no {kind} in the request")
        caption = p.get("caption")
        plain: str | None = None
        entities = None
        if isinstance(caption, str) and caption:
            plain, entities = self._render(caption, p.get("parse_mode"), p.get("caption_entities"))
            if len(plain) > MAX_CAPTION_LENGTH:
                raise _bad("message caption is too long")
        markup = self._check_markup(p.get("reply_markup"))
        reply_to, reply_msg = self._reply_target(chat["id"], p)
        thread_id = p.get("message_thread_id")
        msg = self._new_bot_message(chat, thread_id, reply_msg)
        if kind == "photo":
            msg["photo"] = [self._photo_json(rec)]
        else:
            msg["document"] = self._document_json(rec)
        if plain:
            msg["caption"] = plain
            if entities:
                msg["caption_entities"] = entities
        if self._inline_only(markup) is not None:
            msg["reply_markup"] = markup
        self._store(msg)
        self._record_sent(
            SentMessage(
                method=method,
                chat_id=chat["id"],
                message_id=msg["message_id"],
                caption=caption if isinstance(caption, str) else None,
                parse_mode=p.get("parse_mode"),
                plain_text=plain,
                entities=entities,
                reply_markup=markup,
                thread_id=thread_id,
                reply_to=reply_to,
                photo=(rec.data or None) if kind == "photo" else None,
                document=(rec.data or None) if kind == "document" else None,
                filename=rec.filename,
                file_id=rec.file_id,
                file_ref=file_ref,
                params=p,
                message=dict(msg),
                at=time.monotonic(),
            )
        )
        return msg

    def _m_sendPhoto(self, p: dict[str, Any]) -> Any:
        return self._send_media(p, "photo", "sendPhoto")

    def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        return self._send_media(p, "document", "sendDocument")

    def _edit_record(self, method: str, msg: dict[str, Any], p: dict[str, Any], **kw: Any) -> None:
        prev = self._last_record.get((msg["chat"]["id"], msg["message_id"]))
        fields: dict[str, Any] = {
            "text": prev.text if prev else msg.get("text"),
            "caption": prev.caption if prev else msg.get("caption"),
            "parse_mode": prev.parse_mode if prev else None,
            "plain_text": msg.get("text", msg.get("caption")),
            "entities": msg.get("entities", msg.get("caption_entities")),
            "reply_markup": msg.get("reply_markup"),
            "thread_id": msg.get("message_thread_id"),
            "reply_to": prev.reply_to if prev else None,
            "photo": prev.photo if prev else None,
            "document": prev.document if prev else None,
            "filename": prev.filename if prev else None,
            "file_id": prev.file_id if prev else None,
        }
        fields.update(kw)
        self._record_sent(
            SentMessage(
                method=method,
                chat_id=msg["chat"]["id"],
                message_id=msg["message_id"],
                params=p,
                message=dict(msg),
                at=time.monotonic(),
                **fields,
            )
        )

    def _inline_edit(self, method: str, p: dict[str, Any]) -> bool:
        self._record_sent(
            SentMessage(
                method=method,
                chat_id=None,
                message_id=None,
                text=p.get("text"),
                caption=p.get("caption"),
                parse_mode=p.get("parse_mode"),
                reply_markup=p.get("reply_markup"),
                inline_message_id=str(p["inline_message_id"]),
                params=p,
                at=time.monotonic(),
            )
        )
        return True

    def _check_editable(self, msg: dict[str, Any]) -> None:
        sender = msg.get("from") or {}
        if sender.get("id") != self.bot_user["id"] and msg["chat"]["type"] != "channel":
            raise _bad("message can't be edited")

    def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        if p.get("inline_message_id"):
            return self._inline_edit("editMessageText", p)
        msg = self._target_message(p, "edit")
        self._check_editable(msg)
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        text = p.get("text")
        if not isinstance(text, str) or not text:
            raise _bad("message text is empty")
        plain, entities = self._render(text, p.get("parse_mode"), p.get("entities"))
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        markup = self._inline_only(self._check_markup(p.get("reply_markup")))
        if (
            msg.get("text") == plain
            and msg.get("entities") == entities
            and msg.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg["text"] = plain
        if entities:
            msg["entities"] = entities
        else:
            msg.pop("entities", None)
        if markup is not None:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        msg["edit_date"] = int(time.time())
        self._edit_record(
            "editMessageText",
            msg,
            p,
            text=text,
            parse_mode=p.get("parse_mode"),
            reply_markup=markup,
        )
        return msg


    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        if p.get("inline_message_id"):
            return self._inline_edit("editMessageReplyMarkup", p)
        msg = self._target_message(p, "edit")
        self._check_editable(msg)
        markup = self._check_markup(p.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        if markup is not None and not markup.get("inline_keyboard"):
            markup = None  # an empty inline keyboard removes it
        if msg.get("reply_markup") == markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        if markup is not None:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        msg["edit_date"] = int(time.time())
        self._edit_record("editMessageReplyMarkup", msg, p, reply_markup=markup)
        return msg



    def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        cb_id = str(p.get("callback_query_id") or "")
        if self._pending_callbacks.pop(cb_id, None) is None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._answered.append(
            AnsweredCallback(
                callback_query_id=cb_id,
                text=text,
                show_alert=bool(p.get("show_alert", False)),
                url=p.get("url"),
                cache_time=p.get("cache_time"),
                at=time.monotonic(),
            )
        )
        return True

    def _m_sendMessageDraft(self, p: dict[str, Any]) -> Any:
        if not self.drafts_supported:
            raise _APIError(404, "Not Found: method not found")
        chat = self._resolve_chat(p.get("chat_id"))
        if chat.get("type") != "private":
            raise _bad("TEXTDRAFT_PEER_INVALID")
        draft_id = p.get("draft_id")
        if isinstance(draft_id, str) and draft_id.lstrip("-").isdigit():
            draft_id = int(draft_id)  # form fields arrive as text
        if not isinstance(draft_id, int) or draft_id == 0:
            raise _bad("draft_id must be non-zero")
        text = str(p.get("text") or "")
        plain, _ = self._render(text, p.get("parse_mode"), p.get("entities"))
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        with self._lock:
            self._drafts.append(Draft(chat["id"], draft_id, text, plain, time.monotonic()))
        return True

    def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        self._resolve_chat(p.get("chat_id"))
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _m_getFile(self, p: dict[str, Any]) -> Any:
        rec = self._files.get(str(p.get("file_id") or ""))
        if rec is None:
            raise _bad("invalid file_id")
        if rec.size > MAX_DOWNLOAD_SIZE:
            raise _bad("file is too big")
        return {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "file_size": rec.size,
            "file_path": rec.file_path,
        }





