"""The Telegram bot of a real replaying ``sigmax run``, driven through a Bot API stand-in.

The real python-telegram-bot application long-polls the stand-in on 127.0.0.1; the tests queue
updates as a user's phone would and read what the bot sent. Every command goes through the
service layer to the running engine, which applies it on its own clock.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from sigmax.bench.run_process import free_port
from sigmax.config import load_settings
from sigmax.engine.account import AccountHome, read_portfolio
from sigmax.safety.store import SafetyStore
from sigmax.storage.database import Database
from support.telegram_server import Call, TelegramStandIn
from telegram_bot.harness import OPERATOR, STRANGER, TOKEN, bot_env, sigmax

pytestmark = pytest.mark.slow

RUN = ["run", "--profile", "reference", "--symbols", "BTC/USDT,ETH/USDT",
       "--from", "2022-11-01T00:00:00Z", "--until", "2022-11-20T00:00:00Z"]  # fmt: skip


def _command(api: TelegramStandIn, text: str, chat: int = OPERATOR) -> int:
    """Queue ``text`` from ``chat``; the index of the calls after which to look for the answer."""
    mark = len(api.calls)
    api.queue_message(chat, text)
    return mark


async def _ask(api: TelegramStandIn, text: str, needle: str, timeout: float = 30.0) -> str:
    mark = _command(api, text)
    call = await api.wait_for_text(OPERATOR, needle, timeout, after=mark)
    return str(call.params["text"])


def _buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_every_command_round_trips_through_a_running_engine(tmp_path: Path) -> None:
    port = free_port()
    async with TelegramStandIn(TOKEN) as api:
        env = bot_env(tmp_path, api, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
        async with sigmax([*RUN, "--speed", "10", "--port", str(port)], env) as run:
            await api.wait_for(lambda c: c.method == "setMyCommands", 60)
            status = await _ask(api, "/status", "SIGMAX status")
            while "As of" not in status:
                status = await _ask(api, "/status", "SIGMAX status")
            assert "Mode: paper · feed replay · run running" in status
            assert re.search(r"Equity: <b>\$[\d,]+\.\d\d</b>", status), status
            assert "Daily PnL:" in status
            assert "Consecutive losses: 0 / 1000" in status
            assert "▶️ Trading" in status

            help_text = await _ask(api, "/help", "SIGMAX commands")
            for name in ("/status", "/analyze", "/trade", "/portfolio", "/pause", "/resume",
                         "/why", "/history", "/safety", "/panic", "/help"):  # fmt: skip
                assert name in help_text

            portfolio = await _ask(api, "/portfolio", "Portfolio")
            assert "cash $" in portfolio

            safety = await _ask(api, "/safety", "consecutive_losses")
            assert "daily_loss" in safety

            history = await _ask(api, "/history 3", "decisions</b>, newest first")
            for _ in range(100):  # the run may not have made three decisions yet
                if history.startswith("<b>Last 3 decisions</b>"):
                    break
                history = await _ask(api, "/history 3", "decisions</b>, newest first")
            assert history.startswith("<b>Last 3 decisions</b>"), history
            assert len(history.split("\n")) == 4

            why = await _ask(api, "/why BTC/USDT", "Last decision: BTC/USDT")
            assert "Decision: <b>" in why
            assert "confidence" in why

            bad = await _ask(api, "/why NOPE", "❌")
            assert "/why" in bad

            analysis = await _ask(api, "/analyze ETH/USDT", "Analysis: ETH/USDT", 60)
            assert "🐂 Bull" in analysis or "🐻 Bear" in analysis, analysis

            paused = await _ask(api, "/pause 1h", "pause applied")
            assert "✅ pause applied (by engine)" in paused, paused
            assert "⏸ Trading paused by the operator" in await _notification(
                api, "paused by the operator"
            )
            status = await _ask(api, "/status", "SIGMAX status")
            assert "⏸ <b>PAUSED</b>: paused by the operator (Telegram)" in status
            assert "(wall)" in status or "wall" in status

            resumed = await _ask(api, "/resume", "resume applied")
            assert "✅ resume applied (by engine)" in resumed, resumed

            bad_pause = await _ask(api, "/pause soon", "❌")
            assert "/pause: must be a positive whole number" in bad_pause

            # A stranger gets one refusal, then nothing, and cannot act.
            mark = _command(api, "/panic", STRANGER)
            await api.wait_for_text(STRANGER, "may not command", after=mark)
            _command(api, "/status", STRANGER)
            await _ask(api, "/help", "SIGMAX commands")  # the bot has handled both since
            assert len(api.texts(STRANGER)) == 1

            token = (tmp_path / "api_token").read_text(encoding="utf-8").strip()
            metrics = httpx.get(
                f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
            ).text
            assert TOKEN not in metrics
            # The bot's outbox is in /metrics: every answer above was sent through it.
            sent = re.search(
                r'^sigmax_telegram_messages_total\{outcome="sent"\} (\S+)$', metrics, re.M
            )
            assert sent is not None, metrics
            assert float(sent.group(1)) >= 10
            assert 'sigmax_telegram_messages_total{outcome="dropped_full"} 0.0' in metrics
            assert "sigmax_telegram_outbox_queued " in metrics
        assert run.process.returncode is not None
    log = (tmp_path / "logs" / "sigmax.log").read_text(encoding="utf-8")
    assert TOKEN not in log
    assert TOKEN not in run.stderr.decode()
    assert f"refused an update from chat {STRANGER}" in log
    refused = [line for line in log.splitlines() if str(STRANGER) in line]
    assert refused
    assert not any("/panic" in line or "/status" in line for line in refused)


async def _notification(api: TelegramStandIn, needle: str) -> str:
    call = await api.wait_for_text(OPERATOR, needle, 20)
    return str(call.params["text"])


async def _confirm_prompt(api: TelegramStandIn, text: str) -> tuple[Call, str, str]:
    """Send ``text`` (/trade or /panic); the prompt and its confirm and cancel data."""
    mark = _command(api, text)
    prompt = await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.params.get("chat_id") == OPERATOR
            and "Confirm" in str(c.params.get("text"))
        ),
        30,
        after=mark,
    )
    confirm, cancel_ = _buttons(prompt)
    return prompt, confirm, cancel_


def _message_id(api: TelegramStandIn, prompt: Call) -> int:
    text = prompt.params["text"]
    chat = api.chats[OPERATOR]
    return next(mid for mid, message in chat.messages.items() if message["text"] == text)


async def test_trade_and_panic_ask_first_and_panic_leaves_no_position(tmp_path: Path) -> None:
    async with TelegramStandIn(TOKEN) as api:
        env = bot_env(tmp_path, api, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
        async with sigmax([*RUN, "--speed", "10", "--no-api"], env):
            await api.wait_for(lambda c: c.method == "setMyCommands", 60)
            status = await _ask(api, "/status", "SIGMAX status")
            while "As of" not in status:
                status = await _ask(api, "/status", "SIGMAX status")

            # Cancel: nothing done.
            prompt, _, cancel_ = await _confirm_prompt(api, "/trade ETH/USDT buy 0.05")
            assert "BUY 0.05 ETH/USDT at market" in prompt.params["text"]
            message_id = _message_id(api, prompt)
            mark = len(api.calls)
            api.queue_press(OPERATOR, message_id, cancel_)
            await api.wait_for_text(OPERATOR, "Cancelled", after=mark)

            # Confirm: the running engine sends the order, the fill is told.
            prompt, confirm, _ = await _confirm_prompt(api, "/trade ETH/USDT buy 0.05")
            message_id = _message_id(api, prompt)
            mark = len(api.calls)
            api.queue_press(OPERATOR, message_id, confirm)
            done = await api.wait_for_text(OPERATOR, "trade", after=mark)
            assert "✅ trade applied (by engine)" in done.params["text"], done.params
            await api.wait_for(
                lambda c: (
                    c.method == "editMessageReplyMarkup"
                    and c.params.get("message_id") == message_id
                ),
                after=mark,
            )
            await api.wait_for_text(OPERATOR, "Filled: BUY 0.05 ETH/USDT", after=mark)
            # A second press of the spent button does nothing twice.
            edits_before = len(api.sent(OPERATOR, "editMessageText"))
            mark = len(api.calls)
            api.queue_press(OPERATOR, message_id, confirm)
            await api.wait_for(lambda c: c.method == "answerCallbackQuery", after=mark)
            await _ask(api, "/help", "SIGMAX commands")
            assert len(api.sent(OPERATOR, "editMessageText")) == edits_before
            db = Database.open(load_settings(home=tmp_path, env={}).effective_database_url())
            try:
                home = AccountHome(load_settings(home=tmp_path, env={}), db)
                assert any(p.symbol == "ETH/USDT" for p in read_portfolio(home).positions)

                # Panic: confirmed, every position closed at market, the run paused.
                prompt, confirm, _ = await _confirm_prompt(api, "/panic")
                mark = len(api.calls)
                api.queue_press(OPERATOR, _message_id(api, prompt), confirm)
                done = await api.wait_for_text(OPERATOR, "panic applied", after=mark)
                assert "(by engine)" in done.params["text"]
                await api.wait_for_text(OPERATOR, "🚨 <b>PANIC</b>", after=mark)
                # The close-out is a market order: it fills at the next candle's open.
                await api.wait_for_text(OPERATOR, "Filled: SELL 0.05 ETH/USDT", after=mark)
                assert read_portfolio(home).positions == ()
                assert SafetyStore(db).load().holds.get("panic") is not None
                status = await _ask(api, "/status", "SIGMAX status")
                assert "⏸ <b>PAUSED</b>" in status
            finally:
                db.dispose()


async def test_a_pause_trigger_is_told_within_one_engine_step(tmp_path: Path) -> None:
    """The daily-loss trigger set at a cent: the first losing mark pauses the run; the
    notification arrives while the engine is at most one candle past the trigger."""
    async with TelegramStandIn(TOKEN) as api:
        env = bot_env(tmp_path, api, MAX_DAILY_LOSS="0.01", MAX_CONSECUTIVE_LOSSES="1000")
        async with sigmax([*RUN, "--speed", "2", "--no-api"], env):
            await api.wait_for(lambda c: c.method == "setMyCommands", 60)
            status = await _ask(api, "/status", "SIGMAX status")
            while "As of" not in status:
                status = await _ask(api, "/status", "SIGMAX status")
            prompt, confirm, _ = await _confirm_prompt(api, "/trade BTC/USDT buy 0.01")
            api.queue_press(OPERATOR, _message_id(api, prompt), confirm)
            told = await api.wait_for_text(OPERATOR, "🛑 Trading paused: Daily loss limit", 90)
            db = Database.open(load_settings(home=tmp_path, env={}).effective_database_url())
            try:
                engine_at = AccountHome(load_settings(home=tmp_path, env={}), db)
                as_of = read_portfolio(engine_at).as_of_ms
                state = SafetyStore(db).load()
            finally:
                db.dispose()
            hold = state.holds["daily_loss"]
            assert as_of is not None
            # One step: the trigger's candle group, or the next one at most (1h candles).
            assert as_of - hold.since_ms <= 3_600_000, (as_of, hold.since_ms)
            assert "Daily loss limit exceeded" in told.params["text"]
