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
            await api.wait_for(lambda c: c.method == "getUpdates", 60)
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
