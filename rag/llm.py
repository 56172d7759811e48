"""A small client for any OpenAI-compatible chat endpoint (vLLM, llama.cpp, Ollama, hosted).

With `on_text`, the reply is streamed (`stream=true`, server-sent events) and `on_text` gets
the text so far after every piece; a server that answers with plain JSON instead is fine too.
One deadline covers the whole call, retries included, so a slow or flapping server can delay an
answer by at most `timeout` seconds and never hang it; callers fall back to the extractive
answer on `LLMError`. Retries are for what is worth retrying: connection errors, 429 and 5xx
(honouring Retry-After within the deadline). Anything else fails at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMError(RuntimeError):
    """The model gave no usable answer; the message says why (for logs and the fallback note)."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


class LLMClient:
    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None,
        timeout: float = 30.0, retries: int = 2, backoff: float = 0.5,
        temperature: float = 0.2, max_tokens: int = 700,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.temperature = temperature
        self.max_tokens = max_tokens

    @property
    def endpoint(self) -> str:
        # Accept both ".../v1" and the bare server root, as operators write either.
        base = self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"
        return f"{base}/chat/completions"

    async def chat(
        self, messages: list[ChatMessage], *, max_tokens: int | None = None,
        on_text: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """The assistant's reply text; `LLMError` when none arrives within the deadline.

        With `on_text` the reply streams, and `on_text(text so far)` is awaited as it grows.
        Once some text was shown, a failure is not retried (the learner would see the answer
        start over): it raises, and the caller falls back."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in messages],
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.max_tokens,
            "stream": on_text is not None,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        deadline = time.monotonic() + self.timeout
        last = "no attempt made"
        async with aiohttp.ClientSession(headers=headers) as session:
            for attempt in range(self.retries + 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        if on_text is not None:
                            return await self._attempt_stream(session, payload, on_text)
                        return await self._attempt(session, payload)
                except TimeoutError:
                    last = f"no reply within {self.timeout:g} s"
                    break
                except _Retry as exc:
                    last = str(exc)
                    wait = exc.retry_after if exc.retry_after is not None \
                        else self.backoff * 2 ** attempt
                    if attempt == self.retries or time.monotonic() + wait >= deadline:
                        break
                    log.info("LLM attempt %d failed (%s); retrying in %.1f s",
                             attempt + 1, last, wait)
                    await asyncio.sleep(wait)
        raise LLMError(last)

    async def _attempt(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> str:
        try:
            async with session.post(self.endpoint, json=payload) as resp:
                await _check_status(resp)
                return await _whole_reply(resp)
        except aiohttp.ClientError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}", None) from exc

    async def _attempt_stream(
        self, session: aiohttp.ClientSession, payload: dict[str, Any],
        on_text: Callable[[str], Awaitable[None]],
    ) -> str:
        parts: list[str] = []
        try:
            async with session.post(self.endpoint, json=payload) as resp:
                await _check_status(resp)
                if "text/event-stream" not in resp.headers.get("Content-Type", ""):
                    text = await _whole_reply(resp)  # a server that doesn't stream
                    await on_text(text)
                    return text
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, event names
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                        delta = (event["choices"][0].get("delta") or {}).get("content") or ""
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                        raise LLMError("a streamed event was not a chat completion chunk") \
                            from None
                    if delta:
                        parts.append(delta)
                        await on_text("".join(parts))
        except aiohttp.ClientError as exc:
            if parts:
                raise LLMError(f"the stream broke off: {type(exc).__name__}") from exc
            raise _Retry(f"{type(exc).__name__}: {exc}", None) from exc
        text = "".join(parts).strip()
        if not text:
            raise LLMError("the reply was empty")
        return text


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def _check_status(resp: aiohttp.ClientResponse) -> None:
    """`_Retry` for a status worth retrying, `LLMError` for any other that isn't 200."""
    if resp.status in RETRYABLE:
        raise _Retry(f"HTTP {resp.status}", _retry_after(resp))
    if resp.status != 200:
        body = (await resp.text())[:200]
        raise LLMError(f"HTTP {resp.status}: {body}")


async def _whole_reply(resp: aiohttp.ClientResponse) -> str:
    """The text of a chat completion answered in one piece (not streamed)."""
    try:
        data = await resp.json(content_type=None)
    except ValueError:
        raise LLMError("the reply was not JSON") from None
    try:
        text = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError("the reply had no choices[0].message.content") from None
    if not isinstance(text, str) or not text.strip():
        raise LLMError("the reply was empty")
    return text.strip()


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
