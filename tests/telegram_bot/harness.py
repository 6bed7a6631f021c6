"""A real ``sigmax run`` (or ``sigmax telegram``) in its own process, its bot pointed at the
Bot API stand-in of the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from conftest import CONFIG_VARIABLES
from support.telegram_server import TelegramStandIn

SIGMAX: Final = str(Path(sys.executable).with_name("sigmax"))
#: A token in @BotFather's shape (made up for the tests).
TOKEN: Final = "7000000001:AAH9x2QeT4vLmN8pRsKdW3yZbC6fGhJkL0q"
OPERATOR: Final = 4242
STRANGER: Final = 9999


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES
        and (not k.startswith("SIGMAX_") or k == "SIGMAX_REQUIRE_SERVICES")
    }
    env.update(SIGMAX_HOME=str(home), **extra)
    return env


def bot_env(home: Path, api: TelegramStandIn, **extra: str) -> dict[str, str]:
    return clean_env(
        home,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_ALLOWED_CHAT_IDS=str(OPERATOR),
        TELEGRAM_API_URL=api.api_url,
        **extra,
    )


@dataclass
class Process:
    process: asyncio.subprocess.Process
    stdout: bytes = b""
    stderr: bytes = b""

    async def finish(self, timeout: float = 120.0) -> int:
        out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        self.stdout, self.stderr = out, err
        assert self.process.returncode is not None
        return self.process.returncode


@contextlib.asynccontextmanager
async def sigmax(args: Sequence[str], env: dict[str, str]) -> AsyncIterator[Process]:
    """``sigmax ARGS`` until the block ends (then SIGINT, as Ctrl-C)."""
    process = await asyncio.create_subprocess_exec(
        SIGMAX,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    running = Process(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await running.finish(60)
            except TimeoutError:
                process.kill()
                await process.wait()
