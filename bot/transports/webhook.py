"""Webhook mode: aiohttp server with aiogram's handler, checking Telegram's secret token.

An update is acknowledged only after it was handled: the handler runs inside the request
(not in the background), and when it fails — a bug, the database down or busy — the answer is
503, so Telegram delivers the update again later (the de-duplication record commits with the
update's effects, so a redelivery of an update whose effects did commit is dropped). On
SIGTERM the server stops accepting, lets the requests in flight finish, then exits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.config import Settings

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 8.0


class AcknowledgeAfterHandling(SimpleRequestHandler):
    """200 only for an update that was handled; 503 makes Telegram redeliver it."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        outcome: dict[str, Any] = {}
        try:
            result = await self.dispatcher.feed_webhook_update(
                bot, await request.json(loads=bot.session.json_loads), outcome=outcome,
                **self.data)
        except Exception as exc:
            log.warning("update not handled (%s); asking Telegram to redeliver",
                        type(exc).__name__)
            return web.Response(status=503, text="not handled; deliver again later")
        if outcome.get("failed"):
            return web.Response(status=503, text="not handled; deliver again later")
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


async def serve_webhook(dp: Dispatcher, bot: Bot, settings: Settings, stop: asyncio.Event) -> None:
    assert settings.webhook_url
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    path = urlparse(settings.webhook_url).path or "/webhook"
    app = web.Application()
    AcknowledgeAfterHandling(dispatcher=dp, bot=bot, secret_token=secret,
                             handle_in_background=False).register(app, path=path)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_listen_host, settings.webhook_listen_port)
    await site.start()
    await bot.set_webhook(settings.webhook_url, secret_token=secret,
                          allowed_updates=dp.resolve_used_update_types())
    log.info("learnbot ready: webhook on %s:%s%s", settings.webhook_listen_host,
             settings.webhook_listen_port, path)
    try:
        await stop.wait()
    finally:
        await site.stop()  # no new requests; those in flight carry on
        inflight = dp.get("inflight")
        if inflight is not None and not await inflight.idle(SHUTDOWN_GRACE_SECONDS):
            log.warning("stopping with %s update(s) still being handled", inflight.count)
        await runner.cleanup()
