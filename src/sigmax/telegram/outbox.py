"""Everything the bot sends, through one bounded queue and one sender.

Putting a message never waits: a Telegram outage fills the queue, and past
``telegram.outbox_size`` the oldest notification is dropped and counted, so the engine and the
bot's own loop never slow down for Telegram. Replies to commands go ahead of notifications.

The sender retries Bot API errors and timeouts with exponential backoff and honours the Bot
API's ``retry_after`` (HTTP 429); a message the Bot API refuses for good (400, 403) is logged
and dropped. Before anything leaves, the privacy screen redacts secrets and personal data
(the bot's token among them); a finding is logged by kind, never by content.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Final

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from sigmax.safety.privacy import PrivacyScanner

log = logging.getLogger("sigmax.telegram")

#: First wait after a failed send, doubled at each further failure up to :data:`MAX_BACKOFF_S`.
FIRST_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 30.0
#: A message still not sent after this long is dropped (and counted): it is stale news.
MAX_AGE_S: Final = 900.0

Send = Callable[["Outgoing"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for one chat.

    ``edit_message_id``: edit that message's text instead (its buttons go), or with
    ``markup_only`` take its buttons off and leave the text. ``markup``: inline buttons of a new
    message; ``on_sent`` is told the new message's id.
    """

    chat_id: int
    text: str
    edit_message_id: int | None = None
    markup_only: bool = False
    markup: InlineKeyboardMarkup | None = None
    on_sent: Callable[[int], None] | None = None
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class OutboxCounters:
    """What the outbox did, for logs and tests."""

    sent: int = 0
    dropped_full: int = 0
    dropped_stale: int = 0
    refused: int = 0
    retries: int = 0
    redacted: int = 0


def retry_seconds(error: RetryAfter) -> float:
    """The Bot API's ``retry_after`` in seconds (an int or a timedelta, by PTB's setting)."""
    value = error.retry_after
    if isinstance(value, dtm.timedelta):
        return max(0.0, value.total_seconds())
    return max(0.0, float(value))


def screen(scanner: PrivacyScanner, text: str, counters: OutboxCounters) -> str:
    """``text`` redacted by the privacy screen; a finding is logged by kind only."""
    result = scanner.redact(text)
    if result.violations:
        counters.redacted += 1
        kinds = ", ".join(sorted({v.kind.value for v in result.violations}))
        log.warning("Privacy violation detected (%s in telegram): the message was redacted", kinds)
    return result.text


class Outbox:
    """A bounded queue of messages and the task that sends them (:meth:`run`)."""

    def __init__(
        self,
        send: Send,
        scanner: PrivacyScanner,
        size: int,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._send = send
        self._scanner = scanner
        self._urgent: deque[Outgoing] = deque()
        self._queue: deque[Outgoing] = deque()
        self._size = size
        self._sleep = sleep
        self._wake = asyncio.Event()
        self.counters = OutboxCounters()
        self._dropping = False

    def __len__(self) -> int:
        return len(self._urgent) + len(self._queue)

    def put(self, message: Outgoing, *, urgent: bool = False) -> None:
        """Queue ``message`` (screened now); never waits. Past the bound the oldest goes."""
        screened = replace(message, text=screen(self._scanner, message.text, self.counters))
        (self._urgent if urgent else self._queue).append(screened)
        while len(self) > self._size:
            dropped_from = self._queue if self._queue else self._urgent
            dropped_from.popleft()
            self.counters.dropped_full += 1
            if not self._dropping:
                self._dropping = True
                log.warning(
                    "the Telegram outbox is full (%d messages): dropping the oldest", self._size
                )
        self._wake.set()

    async def run(self) -> None:
        """Send what is queued, in order, until cancelled."""
        while True:
            if not len(self):
                if self._dropping:
                    self._dropping = False
                    log.info(
                        "the Telegram outbox caught up; %d messages dropped so far",
                        self.counters.dropped_full,
                    )
                self._wake.clear()
                await self._wake.wait()
                continue
            message = self._urgent.popleft() if self._urgent else self._queue.popleft()
            await self._deliver(message)

    async def _deliver(self, message: Outgoing) -> None:
        backoff = FIRST_BACKOFF_S
        while True:
            if time.monotonic() - message.queued_at > MAX_AGE_S:
                self.counters.dropped_stale += 1
                log.warning(
                    "a Telegram message to chat %d was not delivered within %.0f s: dropped",
                    message.chat_id,
                    MAX_AGE_S,
                )
                return
            try:
                await self._send(message)
            except RetryAfter as error:
                wait = retry_seconds(error)
                self.counters.retries += 1
                log.warning("the Bot API asks to wait %.0f s (429): retrying then", wait)
                await self._sleep(wait)
            except InvalidToken:
                self.counters.refused += 1
                log.error("the Bot API refused the bot token (TELEGRAM_BOT_TOKEN): not sent")
                return
            except (BadRequest, Forbidden) as error:
                # Will not succeed by retrying: a chat that blocked the bot, a bad message.
                self.counters.refused += 1
                log.warning(
                    "the Bot API refused a message to chat %d (%s): dropped",
                    message.chat_id,
                    type(error).__name__,
                )
                return
            except TelegramError as error:
                # Network errors, timeouts, 5xx answers.
                self.counters.retries += 1
                log.warning(
                    "sending to Telegram failed (%s); retrying in %.1f s",
                    type(error).__name__,
                    backoff,
                )
                await self._sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
            else:
                self.counters.sent += 1
                return

    async def drain(self, timeout_s: float) -> None:
        """Wait until the queue is empty, at most ``timeout_s`` (before a clean stop)."""
        deadline = time.monotonic() + timeout_s
        while len(self) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it to end."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
