"""Process-level fixtures: the local Bot API emulator and real `learnbot` processes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from tests.e2e.helpers import ROOT
from tests.support.botapi import BotAPIEmulator


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emulator:
        yield emulator


class LearnbotProcess:
    """`python -m bot <args>` with its stderr collected; `ready()` waits for the ready line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._ready = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def start(self) -> LearnbotProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *self.args, cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc and self.proc.stderr
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if "ready" in line and "learnbot" in line:
                self._ready.set()

    async def ready(self, timeout: float = 90) -> None:  # noqa: ASYNC109
        waiter = asyncio.create_task(self._ready.wait())
        assert self.proc
        exited = asyncio.create_task(self.proc.wait())
        done, _ = await asyncio.wait({waiter, exited}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if waiter not in done:
            waiter.cancel()
            raise AssertionError("learnbot never became ready:\n" + "\n".join(self.lines[-40:]))

    async def wait(self, timeout: float = 120) -> int:  # noqa: ASYNC109
        assert self.proc
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader:
            await self._reader
        return code

    async def stdout(self) -> str:
        assert self.proc and self.proc.stdout
        return (await self.proc.stdout.read()).decode()

    def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader:
            self._reader.cancel()


@pytest.fixture
async def spawn() -> AsyncIterator:
    procs: list[LearnbotProcess] = []

    async def _spawn(args: list[str], env: dict[str, str]) -> LearnbotProcess:
        proc = await LearnbotProcess(args, env).start()
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        await proc.stop()
