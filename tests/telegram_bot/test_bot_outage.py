"""A Telegram outage never holds the engine up: a real full-speed ``sigmax run`` whose bot faces a
Bot API that answers 429 (retry_after) and then 502 processes every candle of the same run
without a bot, and its notifications overflow the bounded outbox meanwhile.

The overflow is the proof that the engine did not wait: an engine that awaited each send would
never have more than one message pending. The two runs' candles/s are printed, not compared: on
two shared cores the bot's own start-up competes with the engine for the CPU, so a ratio of rates
measures the machine's load (it failed CI at 0.71x on an idle bot), not whether the engine waits."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pytest

from sigmax.config.paths import source_config_dir
from support.telegram_server import TelegramStandIn
from telegram_bot.harness import TOKEN, bot_env, clean_env, sigmax

pytestmark = pytest.mark.slow

RUN = ["run", "--profile", "aggressive", "--symbols", "BTC/USDT,ETH/USDT", "--speed", "max",
       "--no-api", "--from", "2022-01-01T00:00:00Z", "--until", "2022-04-01T00:00:00Z"]  # fmt: skip
RETRY_AFTER_S = 2


def _rate(stdout: bytes) -> tuple[int, int]:
    """(candles processed, candles/s) from the run's summary."""
    text = stdout.decode()
    candles = re.search(r"candles processed\s*│\s*([\d,]+)", text)
    rate = re.search(r"candles/s\s*│\s*([\d,]+)", text)
    assert candles is not None, text[-2000:]
    assert rate is not None, text[-2000:]
    return int(candles.group(1).replace(",", "")), int(rate.group(1).replace(",", ""))


async def test_a_failing_bot_api_never_holds_the_engine_up(tmp_path: Path) -> None:
    limits = {"MAX_CONSECUTIVE_LOSSES": "1000", "MAX_DAILY_LOSS": "100000"}
    alone_home = tmp_path / "alone"
    alone_home.mkdir()
    async with sigmax(RUN, clean_env(alone_home, **limits)) as alone:
        assert await alone.finish() == 0, alone.stderr.decode()[-2000:]
    candles_alone, rate_alone = _rate(alone.stdout)

    # A small outbox, so the fills of the run overflow it while Telegram is down.
    config = tmp_path / "config"
    shutil.copytree(source_config_dir(), config)
    with open(config / "config.yaml", "a", encoding="utf-8") as extra:
        extra.write("\n")
    text = (config / "config.yaml").read_text(encoding="utf-8")
    (config / "config.yaml").write_text(
        text.replace("outbox_size: 500", "outbox_size: 10"), encoding="utf-8"
    )
    bot_home = tmp_path / "bot"
    bot_home.mkdir()
    async with TelegramStandIn(TOKEN) as api:
        # The bot connects, then every send and poll meets 429s, then 502s.
        down = {"sendMessage", "getUpdates"}
        api.fail(429, 4, retry_after=RETRY_AFTER_S, methods=down)
        api.fail(502, 1_000_000, methods=down)
        env = bot_env(bot_home, api, SIGMAX_CONFIG_DIR=str(config), **limits)
        async with sigmax(RUN, env) as with_bot:
            assert await with_bot.finish() == 0, with_bot.stderr.decode()[-2000:]
        candles_bot, rate_bot = _rate(with_bot.stdout)
        calls = list(api.calls)

    print(f"candles/s without a bot: {rate_alone}; with its Bot API down: {rate_bot}")
    assert candles_bot == candles_alone
    sends = [call for call in calls if call.method == "sendMessage"]
    statuses = [call.status for call in sends]
    assert 429 in statuses, statuses
    assert 502 in statuses, statuses
    assert all(call.status in (429, 502) for call in calls if call.method in down)
    # retry_after honoured: no send sooner than it after a 429.
    for before, after in itertools.pairwise(sends):
        if before.status == 429:
            assert after.at - before.at >= RETRY_AFTER_S - 0.05, (before, after)
    log = (bot_home / "logs" / "sigmax.log").read_text(encoding="utf-8")
    assert "the Telegram outbox is full (10 messages): dropping the oldest" in log
    dropped = re.search(r"the Telegram bot dropped (\d+) undelivered messages", log)
    assert dropped is not None
    assert int(dropped.group(1)) > 0
    assert TOKEN not in log
    assert TOKEN not in with_bot.stderr.decode()
    assert TOKEN not in with_bot.stdout.decode()
