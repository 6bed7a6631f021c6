"""The bot over a stored home (``sigmax telegram``, and the bot in process): commands with no
engine running, buttons that expire, the runbook's pause wording, the privacy screen."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from sigmax.bus import Event, EventType, InProcessBus
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.account import AccountHome, open_account_home
from sigmax.safety import triggers as lines
from sigmax.safety.store import SafetyStore
from sigmax.telegram.app import TelegramBot
from sigmax.telegram.notifications import next_summary
from support.telegram_server import TelegramStandIn
from telegram_bot.harness import OPERATOR, TOKEN, bot_env, sigmax


@pytest.fixture
async def api() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(TOKEN) as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def _bot(
    sigmax_home: Path, api: TelegramStandIn, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> AsyncIterator[tuple[TelegramBot, InProcessBus, AccountHome]]:
    for key, value in bot_env(sigmax_home, api).items():
        if key.startswith("TELEGRAM_"):
            monkeypatch.setenv(key, value)
    bus = InProcessBus()
    await bus.start()
    with open_account_home() as home:
        bot = TelegramBot(home.settings, home, DatasetCatalog.from_path(None), bus, clock=clock)
        await bot.start()
        try:
            await api.wait_for(lambda c: c.method == "setMyCommands")
            yield bot, bus, home
        finally:
            await bot.stop()
            await bus.close()


async def test_sigmax_telegram_commands_a_home_with_no_engine(
    sigmax_home: Path, api: TelegramStandIn
) -> None:
    async with sigmax(["telegram"], bot_env(sigmax_home, api)) as alone:
        await api.wait_for(lambda c: c.method == "setMyCommands", 60)
        api.queue_message(OPERATOR, "/status")
        status = await api.wait_for_text(OPERATOR, "SIGMAX status")
        assert "no run yet" in status.params["text"]
        api.queue_message(OPERATOR, "/pause 30m")
        paused = await api.wait_for_text(OPERATOR, "pause applied")
        assert "(by cli)" in paused.params["text"]
        api.queue_message(OPERATOR, "/safety")
        await api.wait_for_text(OPERATOR, "⏸ <b>PAUSED</b>")
        api.queue_message(OPERATOR, "/resume")
        await api.wait_for_text(OPERATOR, "resume applied")
    assert alone.process.returncode == 0, alone.stderr.decode()[-2000:]
    assert TOKEN not in alone.stderr.decode()
    assert TOKEN not in (sigmax_home / "logs" / "sigmax.log").read_text(encoding="utf-8")


async def test_buttons_expire_and_a_late_press_does_nothing(
    sigmax_home: Path, api: TelegramStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    async with _bot(sigmax_home, api, monkeypatch, clock) as (_, _, home):
        api.queue_message(OPERATOR, "/panic")
        prompt = await api.wait_for_text(OPERATOR, "Confirm")
        assert "expire in 60 s" in prompt.params["text"]
        message_id = next(iter(api.chats[OPERATOR].messages))
        confirm = prompt.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        clock.now += 61
        await api.wait_for_text(OPERATOR, "⌛ Expired: PANIC")
        mark = len(api.calls)
        api.queue_press(OPERATOR, message_id, confirm)
        answer = await api.wait_for(lambda c: c.method == "answerCallbackQuery", after=mark)
        assert "expired or was already used" in answer.params["text"]
        await asyncio.sleep(0.3)
        assert [c.method for c in api.calls[mark:] if c.method != "getUpdates"] == [
            "answerCallbackQuery"
        ]
        state = SafetyStore(home.db).load()
        assert state is None or "panic" not in state.holds


PAUSES = [
    ("consecutive_losses", lines.consecutive_losses_line(3), {"value": 3, "threshold": 3},
     "🛑 Trading paused: 3 consecutive losses"),
    ("daily_loss", "Daily loss limit exceeded (-$10.20 / -$10.00)", {},
     "🛑 Trading paused: Daily loss limit"),
    ("api_error_burst", lines.api_error_burst_line(7, 60), {},
     "⚠️ High API error rate detected"),
    ("slippage", "High slippage detected (3.1%)", {},
     "🛑 Excessive slippage, possible MEV attack"),
    ("sentiment_drop", "Market sentiment dropped below threshold (-0.35)", {},
     "📉 Negative market sentiment detected"),
    ("privacy_breach", lines.privacy_line("email", "logs"), {},
     "🔒 Privacy violation detected"),
]  # fmt: skip


async def test_each_pause_is_told_in_the_runbook_words_and_screened(
    sigmax_home: Path, api: TelegramStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _bot(sigmax_home, api, monkeypatch, Clock()) as (_, bus, _):
        for number, (trigger, reason, details, _) in enumerate(PAUSES):
            payload = {"run_id": "r", "kind": "trigger", "trigger": trigger,
                       "reason": reason.removeprefix("PAUSE: "), "details": details}  # fmt: skip
            await bus.publish(Event(EventType.PAUSE, 1_000 + number, payload))
        for _, _, _, headline in PAUSES:
            await api.wait_for_text(OPERATOR, headline)
        # The privacy screen sees every outgoing message: an address and the token go.
        leak = {"run_id": "r", "kind": "resume", "trigger": None,
                "reason": f"resumed by ops@example.com with {TOKEN}", "details": {}}  # fmt: skip
        await bus.publish(Event(EventType.RESUME, 2_000, leak))
        told = await api.wait_for_text(OPERATOR, "Trading resumed")
        assert "[REDACTED:email]" in told.params["text"]
        assert TOKEN not in told.params["text"]
        assert "ops@example.com" not in told.params["text"]


@pytest.mark.parametrize(
    ("now", "at", "due"),
    [
        ("2024-03-01T23:59:59+00:00", "00:00", "2024-03-02T00:00:00+00:00"),
        ("2024-03-02T00:00:00+00:00", "00:00", "2024-03-03T00:00:00+00:00"),
        ("2024-03-02T06:00:00+02:00", "07:30", "2024-03-02T07:30:00+00:00"),
        ("2024-12-31T22:00:00+00:00", "21:00", "2025-01-01T21:00:00+00:00"),
    ],
)
def test_the_daily_summary_is_due_at_the_next_utc_time(now: str, at: str, due: str) -> None:
    assert next_summary(datetime.fromisoformat(now), at) == datetime.fromisoformat(due)
