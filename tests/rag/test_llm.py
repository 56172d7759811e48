"""The OpenAI-compatible client against a local fake server: retries what is worth retrying,
gives up within its deadline (never hangs), and reports every failure as LLMError."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from rag.llm import ChatMessage, LLMClient, LLMError
from tests.support.fake_llm import FakeLLM

ASK = [ChatMessage("system", "You are a tutor."), ChatMessage("user", "Question: sort?")]


async def test_reply_and_request_shape() -> None:
    async with FakeLLM() as fake:
        client = LLMClient(fake.url, "tiny-model", api_key="sk-test", timeout=5)
        text = await client.chat(ASK)
    assert "ORDER BY" in text
    body = fake.requests[0]
    assert body["model"] == "tiny-model" and body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert fake.headers[0]["Authorization"] == "Bearer sk-test"


async def test_server_errors_are_retried_then_answered() -> None:
    async with FakeLLM() as fake:
        fake.fail_next(2, 503)
        client = LLMClient(fake.url, "m", timeout=10, retries=2, backoff=0.01)
        assert "ORDER BY" in await client.chat(ASK)
    assert len(fake.requests) == 3


async def test_persistent_failure_gives_up_after_the_retries() -> None:
    async with FakeLLM() as fake:
        fake.fail_next(10, 500)
        client = LLMClient(fake.url, "m", timeout=10, retries=2, backoff=0.01)
        with pytest.raises(LLMError, match="HTTP 500"):
            await client.chat(ASK)
    assert len(fake.requests) == 3


async def test_client_errors_and_garbage_are_not_retried() -> None:
    async with FakeLLM() as fake:
        fake.fail_next(1, 400)
        client = LLMClient(fake.url, "m", timeout=10, retries=3, backoff=0.01)
        with pytest.raises(LLMError, match="HTTP 400"):
            await client.chat(ASK)
        fake.garbage = True
        with pytest.raises(LLMError, match="not JSON"):
            await client.chat(ASK)
    assert len(fake.requests) == 2


async def test_slow_server_hits_the_deadline_instead_of_hanging() -> None:
    async with FakeLLM() as fake:
        fake.delay = 30
        client = LLMClient(fake.url, "m", timeout=0.5, retries=5)
        # wait_for only guards the test run; the client must give up on its own first.
        with pytest.raises(LLMError, match="no reply within"):
            await asyncio.wait_for(client.chat(ASK), 20)


async def test_unreachable_server_is_an_llm_error() -> None:
    client = LLMClient("http://127.0.0.1:9/v1", "m", timeout=2, retries=1, backoff=0.01)
    with pytest.raises(LLMError):
        await asyncio.wait_for(client.chat(ASK), 20)


async def test_streamed_reply_grows_piece_by_piece() -> None:
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    async with FakeLLM() as fake:
        client = LLMClient(fake.url, "m", timeout=5)
        text = await client.chat(ASK, on_text=on_text)
    assert fake.requests[0]["stream"] is True
    assert text == "Use ORDER BY with DESC to sort from the highest value down [1]."
    assert len(seen) >= 3 and seen[-1].strip() == text
    assert all(b.startswith(a) for a, b in pairwise(seen))


async def test_a_stream_that_breaks_off_is_an_error_not_a_retry() -> None:
    async def on_text(text: str) -> None:
        pass

    async with FakeLLM() as fake:
        fake.break_stream_after = 2
        client = LLMClient(fake.url, "m", timeout=5, retries=2, backoff=0.01)
        with pytest.raises(LLMError):
            await client.chat(ASK, on_text=on_text)
    assert len(fake.requests) == 1  # text was shown already: no second attempt
