"""Self-test of the Bot API emulator against a real aiogram Bot (and a real Dispatcher)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from tests.support.botapi import BOT_ID, BOT_USERNAME, BotAPIEmulator

TOKEN = "123456:TEST-token"
USER = 4242
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def make_bot(emu: BotAPIEmulator, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.url)))


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emulator:
        yield emulator


@pytest_asyncio.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    b = make_bot(emu)
    try:
        yield b
    finally:
        await b.session.close()


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Yes", callback_data="answer:yes"),
                InlineKeyboardButton(text="No", callback_data="answer:no"),
            ],
            [InlineKeyboardButton(text="Docs", url="https://example.com/docs")],
        ]
    )


@pytest.mark.asyncio
async def test_get_me(emu: BotAPIEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_ID
    assert me.username == BOT_USERNAME
    assert me.is_bot is True
    assert emu.calls("getMe")[0].token == TOKEN


@pytest.mark.asyncio
async def test_send_message_with_inline_keyboard(emu: BotAPIEmulator, bot: Bot) -> None:
    msg = await bot.send_message(
        USER, "<b>Pick</b> one &amp; go", parse_mode="HTML", reply_markup=keyboard()
    )
    assert msg.chat.id == USER and msg.chat.type == "private"
    assert msg.text == "Pick one & go"  # rendered like Telegram does
    assert msg.entities and msg.entities[0].type == "bold" and msg.entities[0].length == 4
    assert msg.reply_markup is not None
    assert msg.reply_markup.inline_keyboard[0][1].callback_data == "answer:no"
    assert msg.from_user is not None and msg.from_user.id == BOT_ID

    sent = emu.sent[-1]
    assert sent.method == "sendMessage"
    assert sent.chat_id == USER and sent.message_id == msg.message_id
    assert sent.text == "<b>Pick</b> one &amp; go"
    assert sent.plain_text == "Pick one & go"
    assert sent.parse_mode == "HTML"
    assert sent.reply_markup is not None
    assert sent.reply_markup["inline_keyboard"][0][0] == {
        "text": "Yes",
        "callback_data": "answer:yes",
    }
    assert sent.button("Yes")["callback_data"] == "answer:yes"
    assert emu.messages_to(USER) == [sent]
    assert await emu.wait_for(lambda m: m.text is not None and "Pick" in m.text) is sent
    assert await emu.wait_for("one &") is sent
    assert (await emu.wait_for_count(1))[0] is sent

    # message ids per chat increase; replies and threads are recorded
    second = await bot.send_message(
        USER,
        "second",
        reply_parameters=ReplyParameters(message_id=msg.message_id),
        message_thread_id=7,
    )
    assert second.message_id == msg.message_id + 1
    assert second.reply_to_message is not None
    assert second.reply_to_message.message_id == msg.message_id
    rec = emu.last_sent(USER)
    assert rec is not None and rec.reply_to == msg.message_id and rec.thread_id == 7
    other = await bot.send_message(-1001234, "group hello")
    assert other.chat.type == "supergroup" and other.message_id == 1


@pytest.mark.asyncio
async def test_push_message_and_get_updates(emu: BotAPIEmulator, bot: Bot) -> None:
    pushed = emu.push_message(USER, "/start ref_42", first_name="Ann", username="ann")
    updates = await bot.get_updates(timeout=1)
    assert len(updates) == 1
    upd = updates[0]
    assert upd.message is not None
    assert upd.message.message_id == pushed["message_id"]
    assert upd.message.text == "/start ref_42"
    assert upd.message.from_user is not None and upd.message.from_user.username == "ann"
    assert upd.message.entities is not None
    assert upd.message.entities[0].type == "bot_command" and upd.message.entities[0].length == 6

    # not confirmed yet -> delivered again; confirmed via offset -> gone
    assert [u.update_id for u in await bot.get_updates()] == [upd.update_id]
    assert await bot.get_updates(offset=upd.update_id + 1, timeout=0) == []

    # a bot message and a user message share the chat's message_id sequence
    sent = await bot.send_message(USER, "hi")
    assert sent.message_id == pushed["message_id"] + 1
    reply = emu.push_message(USER, "thanks", reply_to_message_id=sent.message_id)
    assert reply["message_id"] == sent.message_id + 1
    (upd2,) = await bot.get_updates(offset=upd.update_id + 1, timeout=1)
    assert upd2.message is not None and upd2.message.reply_to_message is not None
    assert upd2.message.reply_to_message.text == "hi"

    # group chat with a forum topic
    emu.push_message(USER, "in topic", chat_id=-100777, thread_id=5, is_topic_message=True)
    (upd3,) = await bot.get_updates(offset=upd2.update_id + 1, timeout=1)
    assert upd3.message is not None
    assert upd3.message.chat.type == "supergroup" and upd3.message.chat.is_forum
    assert upd3.message.message_thread_id == 5 and upd3.message.is_topic_message


@pytest.mark.asyncio
async def test_long_poll_returns_when_update_arrives(emu: BotAPIEmulator, bot: Bot) -> None:
    async def push_later() -> None:
        await asyncio.sleep(0.3)
        emu.push_message(USER, "late")

    task = asyncio.create_task(push_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    await task
    assert [u.message.text for u in updates if u.message] == ["late"]
    assert 0.2 < elapsed < 3

    started = time.monotonic()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=1) == []
    assert 0.8 < time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_concurrent_get_updates_conflict(emu: BotAPIEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await emu.wait_for_call("getUpdates", completed=False)
    await bot.get_updates(timeout=0)
    with pytest.raises(TelegramConflictError):
        await first


@pytest.mark.asyncio
async def test_callback_query(emu: BotAPIEmulator, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Question?", reply_markup=keyboard())
    cb_id = emu.push_callback(USER, sent.message_id, "answer:yes")
    (upd,) = await bot.get_updates(timeout=1)
    cb = upd.callback_query
    assert cb is not None
    assert cb.id == cb_id and cb.data == "answer:yes" and cb.from_user.id == USER
    assert cb.chat_instance
    assert isinstance(cb.message, Message)
    assert cb.message.message_id == sent.message_id
    assert cb.message.text == "Question?"
    assert cb.message.reply_markup is not None

    assert await bot.answer_callback_query(cb.id, text="Saved", show_alert=True)
    answered = emu.answered_callbacks[-1]
    assert (answered.callback_query_id, answered.text, answered.show_alert) == (
        cb_id,
        "Saved",
        True,
    )
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(cb.id)
    with pytest.raises(LookupError):
        emu.push_callback(USER, 9999, "x")

    raw_id = emu.push_raw(
        {
            "callback_query": {
                "id": "777",
                "from": {"id": USER, "is_bot": False, "first_name": "Raw"},
                "chat_instance": "1",
                "data": "raw",
            }
        }
    )
    updates = await bot.get_updates(offset=upd.update_id + 1, timeout=1)
    assert [u.update_id for u in updates] == [raw_id]
    assert updates[0].callback_query is not None and updates[0].callback_query.data == "raw"
    assert await bot.answer_callback_query("777")


@pytest.mark.asyncio
async def test_reset_keeps_offsets_valid(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.push_message(USER, "before")
    (upd,) = await bot.get_updates(timeout=1)
    await bot.send_message(USER, "x")
    emu.block_chat(USER)
    emu.reset()
    assert emu.sent == [] and emu.calls() == [] and emu.pending_updates == []
    emu.push_message(USER, "after")
    (upd2,) = await bot.get_updates(offset=upd.update_id + 1, timeout=1)
    assert upd2.update_id > upd.update_id
    assert upd2.message is not None and upd2.message.text == "after"
    assert upd2.message.message_id == 1  # chats start afresh
    await bot.send_message(USER, "not blocked any more")


@pytest.mark.asyncio
async def test_edit(emu: BotAPIEmulator, bot: Bot) -> None:
    sent = await bot.send_message(USER, "v1", reply_markup=keyboard())
    edited = await bot.edit_message_text(text="v2", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "v2" and edited.edit_date is not None
    assert edited.reply_markup is None  # editMessageText without markup drops the keyboard
    rec = emu.sent[-1]
    assert rec.method == "editMessageText" and rec.text == "v2"
    assert rec.message_id == sent.message_id

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="v2", chat_id=USER, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=USER, message_id=999)

    await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=keyboard()
    )
    assert emu.sent[-1].method == "editMessageReplyMarkup"
    assert emu.sent[-1].text == "v2" and emu.sent[-1].buttons[0]["text"] == "Yes"
    current = emu.message(USER, sent.message_id)
    assert current is not None and current["text"] == "v2" and "reply_markup" in current


@pytest.mark.asyncio
async def test_rate_limit_raises_retry_after(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.rate_limit(1, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USER, "too fast")
    assert info.value.retry_after == 7
    call = emu.calls("sendMessage")[-1]
    assert call.status == 429 and call.error == "Too Many Requests: retry after 7"
    assert emu.sent == []
    await bot.send_message(USER, "ok now")
    assert [m.text for m in emu.sent] == ["ok now"]


@pytest.mark.asyncio
async def test_blocked_chat_raises_forbidden(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.block_chat(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello?")
    await bot.send_message(USER + 1, "someone else")
    emu.reset_faults()
    await bot.send_message(USER, "unblocked")
    assert [m.chat_id for m in emu.sent] == [USER + 1, USER]


@pytest.mark.asyncio
async def test_fail_next_and_delay(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.fail_next(1, status=502)
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER, "boom")
    emu.delay(0.3)
    started = time.monotonic()
    await bot.send_message(USER, "slow")
    assert time.monotonic() - started >= 0.3
    await bot.get_me()  # not a send* method: not delayed
    emu.reset_faults()


@pytest.mark.asyncio
async def test_send_document_and_photo(emu: BotAPIEmulator, bot: Bot) -> None:
    payload = b"%PDF-1.4 fake pdf\x00\xff"
    msg = await bot.send_document(
        USER,
        BufferedInputFile(payload, filename="report.pdf"),
        caption="Your <b>report</b>",
        parse_mode="HTML",
    )
    assert msg.document is not None
    assert msg.document.file_name == "report.pdf" and msg.document.file_size == len(payload)
    assert msg.caption == "Your report"
    rec = emu.sent[-1]
    assert rec.method == "sendDocument"
    assert rec.document == payload and rec.filename == "report.pdf"
    assert rec.caption == "Your <b>report</b>" and rec.content == "Your <b>report</b>"

    # re-send by file_id: same bytes, no upload
    again = await bot.send_document(USER, msg.document.file_id)
    assert again.document is not None and again.document.file_id == msg.document.file_id
    assert emu.sent[-1].document == payload and emu.sent[-1].file_ref == msg.document.file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(USER, "no-such-file-id")

    photo = await bot.send_photo(USER, BufferedInputFile(PNG_1x1, filename="dot.png"))
    assert photo.photo and photo.photo[-1].width == 1 and photo.photo[-1].height == 1
    assert emu.sent[-1].photo == PNG_1x1

    # files the bot sent can be downloaded again
    buf = await bot.download(msg.document.file_id)
    assert isinstance(buf, io.BytesIO) and buf.getvalue() == payload


@pytest.mark.asyncio
async def test_get_file_and_download_pushed_document(emu: BotAPIEmulator, bot: Bot) -> None:
    data = bytes(range(256)) * 40
    emu.push_document(USER, "notes.txt", data, caption="my notes")
    (upd,) = await bot.get_updates(timeout=1)
    assert upd.message is not None and upd.message.document is not None
    doc = upd.message.document
    assert doc.file_name == "notes.txt" and doc.mime_type == "text/plain"
    assert upd.message.caption == "my notes"

    file = await bot.get_file(doc.file_id)
    assert file.file_path and file.file_size == len(data)
    downloaded = await bot.download(doc.file_id)
    assert downloaded is not None and downloaded.getvalue() == data
    via_path = await bot.download_file(file.file_path)
    assert via_path is not None and via_path.getvalue() == data
    with pytest.raises(TelegramBadRequest):
        await bot.get_file("bogus")


@pytest.mark.asyncio
async def test_parse_mode_errors_like_telegram(emu: BotAPIEmulator, bot: Bot) -> None:
    ok = await bot.send_message(USER, "<b>Hello</b> !", parse_mode="HTML")
    assert ok.text == "Hello !"
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message(USER, "*Hello*", parse_mode="MarkdownV2")  # the bot sends HTML
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(USER, "a<br>b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
        await bot.send_message(USER, "<b>open", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            USER,
            "x",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="x" * 65)]]
            ),
        )
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, " ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    assert len(emu.sent) == 1  # only the valid one


@pytest.mark.asyncio
async def test_commands_webhook_reactions(emu: BotAPIEmulator, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert emu.get_commands() == [{"command": "start", "description": "Start"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Name", description="x")])
    await bot.delete_my_commands()
    assert emu.get_commands() == []

    await bot.set_webhook("https://example.com/hook")
    assert emu.webhook_url == "https://example.com/hook"
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    await bot.delete_webhook(drop_pending_updates=True)
    assert emu.webhook_url == ""
    assert await bot.send_chat_action(USER, "typing")
    # Only the methods the bot calls exist; anything else is "not found", as on Telegram.
    with pytest.raises(TelegramNotFound):
        await bot.get_chat(USER)

    pushed = emu.push_message(USER, "react to me")

    # message_reaction updates are opt-in, as on Telegram
    emu.push_reaction(USER, USER, pushed["message_id"], "🔥")
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["react to me"]
    assert all(u.message_reaction is None for u in updates)
    updates = await bot.get_updates(timeout=0, allowed_updates=["message", "message_reaction"])
    reactions = [u.message_reaction for u in updates if u.message_reaction]
    assert len(reactions) == 1
    assert reactions[0].new_reaction[0].emoji == "🔥"  # type: ignore[union-attr]
    assert reactions[0].user is not None and reactions[0].user.id == USER


@pytest.mark.asyncio
async def test_raw_http_shapes(emu: BotAPIEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        # JSON body, case-insensitive method name
        body = {
            "chat_id": str(USER),
            "text": "json body",
            "reply_markup": json.dumps({"inline_keyboard": [[{"text": "a", "url": "t.me/x"}]]}),
        }
        async with http.post(f"{emu.url}/bot{TOKEN}/SENDMESSAGE", json=body) as resp:
            data = await resp.json()
            assert resp.status == 200 and data["ok"] is True
            assert data["result"]["chat"]["id"] == USER
        rec = emu.sent[-1]
        assert rec.chat_id == USER and rec.reply_markup == {
            "inline_keyboard": [[{"text": "a", "url": "t.me/x"}]]
        }
        # query-string GET
        async with http.get(f"{emu.url}/bot{TOKEN}/getMe") as resp:
            assert (await resp.json())["result"]["id"] == BOT_ID
        emu.rate_limit(1, 3)
        async with http.post(
            f"{emu.url}/bot{TOKEN}/sendMessage", data={"chat_id": USER, "text": "x"}
        ) as resp:
            assert resp.status == 429
            assert await resp.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": {"retry_after": 3},
            }
        async with http.get(f"{emu.url}/file/bot{TOKEN}/documents/nope.txt") as resp:
            assert resp.status == 404


@pytest.mark.asyncio
async def test_wait_helpers(emu: BotAPIEmulator, bot: Bot) -> None:
    mark = emu.mark()

    async def later() -> None:
        await asyncio.sleep(0.2)
        for i in range(3):
            await bot.send_message(USER, f"n{i}")

    task = asyncio.create_task(later())
    found = await emu.wait_for(lambda m: m.text == "n2", timeout=5, since=mark)
    assert found.text == "n2"
    assert len(await emu.wait_for_count(3, timeout=5, chat_id=USER)) == 3
    await task
    with pytest.raises(AssertionError, match="n0"):  # the dump lists recent messages
        await emu.wait_for(lambda m: m.text == "never", timeout=0.2)


@pytest.mark.asyncio
async def test_dispatcher_end_to_end(emu: BotAPIEmulator, bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome! Ready?", reply_markup=keyboard())

    @router.callback_query(F.data.startswith("answer:"))
    async def answer(callback: CallbackQuery) -> None:
        assert isinstance(callback.message, Message)
        await callback.message.edit_text(f"You said {callback.data.split(':')[1]}")
        await callback.answer("noted")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=2))
    try:
        emu.push_message(USER, "/start")
        welcome = await emu.wait_for(lambda m: m.text == "Welcome! Ready?", timeout=10)
        emu.push_callback(USER, welcome.message_id or 0, "answer:yes")
        edited = await emu.wait_for(
            lambda m: m.method == "editMessageText" and m.text == "You said yes", timeout=10
        )
        assert edited.message_id == welcome.message_id
        call = await emu.wait_for_call("answerCallbackQuery", timeout=10)
        assert call.params["text"] == "noted"
        assert emu.answered_callbacks[-1].text == "noted"
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 10)


@pytest.mark.asyncio
async def test_throughput_concurrent_clients(emu: BotAPIEmulator) -> None:
    bots = [make_bot(emu) for _ in range(4)]
    try:
        started = time.monotonic()

        async def worker(b: Bot, k: int) -> None:
            for i in range(250):
                await b.send_message(USER + k, f"msg {i} <b>bold</b>", parse_mode="HTML")

        await asyncio.gather(*(worker(b, k) for k, b in enumerate(bots) for _ in range(5)))
        elapsed = time.monotonic() - started
    finally:
        for b in bots:
            await b.session.close()
    assert len(emu.calls("sendMessage")) == 5000
    assert len(emu.messages_to(USER)) == 1250
    ids = [m.message_id for m in emu.messages_to(USER)]
    assert sorted(ids) == list(range(1, 1251))
    print(f"\n5000 sendMessage via aiogram in {elapsed:.2f}s ({5000 / elapsed:.0f}/s)")


def test_thread_mode_sync_api() -> None:
    with BotAPIEmulator() as emu:
        assert emu.url.startswith("http://127.0.0.1:")

        def post(method: str, **params: object) -> dict:
            req = urllib.request.Request(
                f"{emu.url}/bot{TOKEN}/{method}",
                data=json.dumps(params).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as err:
                return json.loads(err.read())

        emu.push_message(USER, "hello from sync")
        updates = post("getUpdates", timeout=1)["result"]
        assert updates[0]["message"]["text"] == "hello from sync"
        assert post("sendMessage", chat_id=USER, text="reply")["ok"] is True
        assert emu.wait_for_sync("reply", timeout=2).chat_id == USER
        assert len(emu.wait_for_count_sync(1, timeout=2)) == 1
        emu.block_chat(USER)
        assert post("sendMessage", chat_id=USER, text="x") == {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was blocked by the user",
        }
        assert emu.wait_for_call_sync("sendMessage", lambda c: c.status == 403).status == 403
    assert not emu.running


@pytest.mark.asyncio
async def test_thread_mode_with_aiogram_in_test_loop() -> None:
    emu = BotAPIEmulator()
    emu.run_in_thread()
    bot = make_bot(emu)
    try:
        emu.push_message(USER, "cross-thread")
        (upd,) = await bot.get_updates(timeout=2)
        assert upd.message is not None and upd.message.text == "cross-thread"
        await bot.send_message(USER, "back")
        assert (await emu.wait_for("back", timeout=2)).chat_id == USER
    finally:
        await bot.session.close()
        emu.stop_thread()
