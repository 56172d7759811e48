"""A local OpenAI-compatible chat server for tests: a real aiohttp server on 127.0.0.1.

It records every request body, answers with `reply(body)` (default: a grounded-looking answer
citing passage [1]), and can be told to be slow (`delay`) or to fail the next N requests with a
status (`fail_next`) or with a body that isn't JSON (`garbage`). A request with `stream: true`
gets the reply as OpenAI's server-sent events, a few words per event, `stream_delay` seconds
apart (and `break_stream_after` events, then a dropped connection, when set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web


def default_reply(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if "running summary" in system:
        transcript = body["messages"][-1]["content"]
        asked = [line[len("USER: "):] for line in transcript.splitlines()
                 if line.startswith("USER: ")]
        return "SUMMARY: the learner asked " + "; ".join(asked)
    return "Use ORDER BY with DESC to sort from the highest value down [1]."


class FakeLLM:
    def __init__(self, reply: Callable[[dict[str, Any]], str] = default_reply) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0
        self.stream_delay = 0.0
        self.words_per_event = 2
        self.break_stream_after: int | None = None
        self.garbage = False
        self._failures: deque[int] = deque()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.url = ""

    def fail_next(self, count: int, status: int = 500) -> None:
        self._failures.extend([status] * count)

    async def _stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        words = self.reply(body).split(" ")
        n = self.words_per_event
        pieces = [" ".join(words[i:i + n]) + (" " if i + n < len(words) else "")
                  for i in range(0, len(words), n)]
        for i, piece in enumerate(pieces):
            if self.break_stream_after is not None and i >= self.break_stream_after:
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-answer
                return resp
            event = {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion.chunk",
                     "model": body.get("model"),
                     "choices": [{"index": 0, "delta": {"content": piece},
                                  "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
            if self.stream_delay:
                await asyncio.sleep(self.stream_delay)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self._failures:
            return web.json_response({"error": {"message": "boom"}},
                                     status=self._failures.popleft())
        if self.delay:
            # Slow, but let go at shutdown: a stuck handler would hold the test's teardown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay)
        if self.garbage:
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if body.get("stream"):
            return await self._stream(request, body)
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.reply(body)}}],
        })

    def prompts(self, kind: str = "answer") -> list[dict[str, Any]]:
        """Recorded requests of one kind: "answer" or "summary"."""
        def is_summary(b: dict[str, Any]) -> bool:
            return "running summary" in b["messages"][0]["content"]
        return [b for b in self.requests if is_summary(b) == (kind == "summary")]

    async def __aenter__(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)
