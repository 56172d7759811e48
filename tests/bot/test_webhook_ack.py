"""Webhook mode acknowledges an update only once it was handled: a failing handler (a bug, the
database down) gets Telegram a 503, so it delivers the update again; the redelivery is handled
and answered once, and a repeat after that is a 200 that does nothing."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.transports.webhook import AcknowledgeAfterHandling
from storage import users
from tests.support.harness import Harness

LEARNER = 7401


def _update(update_id: int) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1780000000,
        "chat": {"id": LEARNER, "type": "private", "first_name": "W"},
        "from": {"id": LEARNER, "is_bot": False, "first_name": "W"},
        "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}


@pytest.mark.parametrize("failure", [ConnectionRefusedError("database down"),
                                     ZeroDivisionError("a bug")])
async def test_a_failed_update_is_a_503_and_its_redelivery_is_handled_once(
    harness: Harness, monkeypatch, failure: Exception,
) -> None:
    app = web.Application()
    AcknowledgeAfterHandling(dispatcher=harness.dp, bot=harness.bot,
                             handle_in_background=False).register(app, path="/hook")
    arrive = users.arrive  # the per-update user load (bot/middlewares/unit_of_work.py)
    broken = True

    async def flaky_arrive(conn, telegram_id, **kw):
        if broken:
            raise failure
        return await arrive(conn, telegram_id, **kw)

    monkeypatch.setattr(users, "arrive", flaky_arrive)
    async with TestClient(TestServer(app)) as client:
        first = await client.post("/hook", json=_update(501))
        assert first.status == 503  # Telegram will deliver it again
        broken = False
        again = await client.post("/hook", json=_update(501))
        assert again.status == 200
        repeat = await client.post("/hook", json=_update(501))
        assert repeat.status == 200
    helps = [t for t in harness.texts_to(LEARNER) if "trouble" not in t.lower()]
    assert len(helps) == 1  # answered once, on the redelivery
