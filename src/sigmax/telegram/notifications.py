"""What the bot tells every allowed chat without being asked: from the engine's event bus.

Each pause (the runbook's wording per trigger), each resume, each fill and a panic, as the
engine announces them after its commits (so over NATS too when ``NATS_URL`` is set), and a
daily summary at ``telegram.daily_summary_utc``. Messages go to the outbox, which never waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from sigmax.bus import Event, EventBus, EventType
from sigmax.engine.account import AccountHome, read_portfolio, read_trades
from sigmax.engine.safety_service import safety_report
from sigmax.safety.triggers import TriggerName
from sigmax.telegram import formatting
from sigmax.telegram.outbox import Outbox, Outgoing

log = logging.getLogger("sigmax.telegram")

NOTIFIED: Final = (EventType.PAUSE, EventType.RESUME, EventType.PANIC, EventType.FILL)
#: Events the bot's subscription holds while it formats (beyond: the oldest dropped, counted).
SUBSCRIPTION_QUEUE: Final = 10_000


def notification_text(event: Event) -> str | None:
    """The message for ``event``, or None when it is told otherwise (a panic's own pause)."""
    payload = dict(event.payload)
    if event.type is EventType.PAUSE:
        if payload.get("trigger") == TriggerName.PANIC.value:
            return None  # the PANIC event says it
        return formatting.pause_notification(payload)
    if event.type is EventType.RESUME:
        return formatting.resume_notification(payload)
    if event.type is EventType.PANIC:
        return formatting.panic_notification(payload)
    if event.type is EventType.FILL:
        return formatting.fill_notification(payload)
    return None


def broadcast(outbox: Outbox, chats: Iterable[int], text: str) -> None:
    for chat_id in chats:
        outbox.put(Outgoing(chat_id, text))


async def relay_events(bus: EventBus, outbox: Outbox, chats: frozenset[int]) -> None:
    """Tell ``chats`` of every notified event on ``bus`` until the bus or the task ends."""
    subscription = bus.subscribe(NOTIFIED, max_queue=SUBSCRIPTION_QUEUE, name="telegram")
    async with subscription as events:
        async for event in events:
            text = notification_text(event)
            if text is not None:
                broadcast(outbox, chats, text)


def next_summary(now: datetime, at: str) -> datetime:
    """The first ``at`` (``HH:MM`` UTC) strictly after ``now``."""
    hour, minute = (int(part) for part in at.split(":"))
    moment = now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment > now else moment + timedelta(days=1)


def summary_text(home: AccountHome, day: str) -> str:
    """The daily summary from the stored account (blocking: run it in a worker thread)."""
    account = read_portfolio(home)
    return formatting.daily_summary_text(day, account, safety_report(home), len(read_trades(home)))


async def daily_summaries(
    home: AccountHome,
    outbox: Outbox,
    chats: frozenset[int],
    at: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Send the summary to ``chats`` at ``at`` UTC every day until cancelled."""
    while True:
        due = next_summary(now(), at)
        while (left := (due - now()).total_seconds()) > 0:
            # In steps: a suspended machine wakes up to the right time.
            await sleep(min(left, 60.0))
        try:
            text = await asyncio.to_thread(summary_text, home, due.date().isoformat())
        except Exception as error:  # the summary must not end the bot
            log.error("the daily Telegram summary could not be built: %s", error)
            continue
        broadcast(outbox, chats, text)
