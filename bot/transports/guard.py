"""Guards on every Bot API call, installed on the bot's session (`install_guards`).

* A typing indicator (`sendChatAction`) is decoration: whatever goes wrong with it — an error,
  a timeout, a garbage body — the call reports success and nothing is raised.
* A 401 on *any* call means the token was revoked: the guard trips `TokenGuard.revoked` once,
  and `learnbot run` stops with one line (exit 1) instead of polling a dead token forever.
* `optional(...)` runs a setup call that the bot can live without (command menus, deleting
  a webhook): unsupported method, decode error, 5xx, timeout → one warning, never fatal.
* `probe_token(...)` is the startup check: getMe with retries; a 401 or a server still
  unreachable after the retries is the one reason to refuse to start.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from aiogram.methods import Response, SendChatAction, TelegramMethod
from aiogram.types import User

log = logging.getLogger(__name__)
T = TypeVar("T")

# What an optional call may fail with and still be nothing worse than a warning.
SOFT_FAILURES = (ClientDecodeError, TelegramAPIError, TelegramNetworkError, TimeoutError,
                 OSError)


class TokenRevoked(RuntimeError):
    """Telegram answered 401: the bot token is wrong or was revoked."""


class StartupFailed(RuntimeError):
    """The Bot API server stayed unreachable (or unusable) through every startup retry."""


# pydantic holds parametrized generic models (aiogram parses every answer with
# `Response[<the method's return type>]`) in a weak cache, so the model is collected after each
# call and built again on the next one: ~13 ms, most of what a Bot API call costs the bot.
# One strong reference per return type keeps each built once per process.
_RESPONSE_MODELS: dict[Any, type] = {}


def _keep_response_model(method: TelegramMethod[Any]) -> None:
    returning = method.__returning__
    if returning not in _RESPONSE_MODELS:
        _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]


class TokenGuard(BaseRequestMiddleware):
    def __init__(self) -> None:
        self.revoked = asyncio.Event()
        self.reason: str | None = None

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        _keep_response_model(method)
        try:
            return await make_request(bot, method)
        except TelegramUnauthorizedError as exc:
            if self.reason is None:
                self.reason = (f"Telegram rejected the bot token on {method.__api_method__} "
                               f"(401 {exc.message}): check BOT_TOKEN")
                self.revoked.set()
            raise
        except (*SOFT_FAILURES, ValueError) as exc:
            if isinstance(method, SendChatAction):
                log.debug("typing indicator failed (%s); ignored", type(exc).__name__)
                return True
            raise


_GUARDS: weakref.WeakKeyDictionary[BaseSession, TokenGuard] = weakref.WeakKeyDictionary()


def install_guards(bot: Bot) -> TokenGuard:
    """Put the guard on the bot's session once; returns it (idempotent)."""
    guard = _GUARDS.get(bot.session)
    if guard is None:
        guard = _GUARDS[bot.session] = TokenGuard()
        bot.session.middleware(guard)
    return guard


def guard_of(bot: Bot) -> TokenGuard:
    return install_guards(bot)


async def optional(what: str, call: Callable[[], Awaitable[T]]) -> T | None:
    """Run a setup call the bot can do without; a failure is one warning (401 still raises)."""
    try:
        return await call()
    except TelegramUnauthorizedError:
        raise
    except SOFT_FAILURES as exc:
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        log.warning("%s failed (%s: %s); carrying on without it", what, type(exc).__name__,
                    detail)
        return None


async def probe_token(
    bot: Bot, *, attempts: int = 5, first_delay: float = 1.0,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> User:
    """getMe, retried with backoff. 401 → TokenRevoked at once; still failing after
    `attempts` → StartupFailed. Both carry one line for the user."""
    delay = first_delay
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            return await bot.get_me()
        except TelegramUnauthorizedError as exc:
            raise TokenRevoked(f"Telegram rejected the bot token (401 {exc.message}): "
                               "check BOT_TOKEN") from None
        except SOFT_FAILURES as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            if attempt < attempts:
                log.warning("Bot API server not answering (%s); retry %s/%s in %.0fs", last,
                            attempt, attempts - 1, delay)
                await sleep(delay)
                delay = min(delay * 2, 30.0)
    raise StartupFailed(f"the Bot API server did not answer getMe after {attempts} tries "
                        f"({last})")
