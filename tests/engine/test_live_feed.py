"""The live feed and ``sigmax run --feed live`` against the Binance loopback server.

The loopback's clock is the only clock in these tests: the feed reads it as "now", and the
injected sleep moves it on by exactly the time the feed asked to wait. Hours of candles closing
one by one therefore pass in about a second, through the real ccxt client and real HTTP.
Expected candle values are read straight from the bundled CSV files here, independently of the
feed, the server and the dataset loader.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from sigmax.data.feeds import CcxtFeed, FeedUnavailableError, RetryPolicy
from sigmax.domain.candles import CandleSeries, Timeframe
from sigmax.engine.account import open_account_home, read_status
from sigmax.engine.decision_log import without_volatile
from sigmax.engine.feeds import CandleClosed
from sigmax.engine.live_feed import LiveFeed
from sigmax.engine.runner import RunOptions, run_paper
from sigmax.errors import ConfigError, ExchangeUnavailableError, InputError
from sigmax.storage.models import RunStatus
from support.binance_server import (
    DEFAULT_NOW_MS,
    BinanceLoopback,
    BundledCandle,
    fmt8,
    unused_tcp_port,
)

from .account_runs import clean_home

HOUR = 3_600_000
SYMBOLS = ("BTC/USDT", "ETH/USDT")
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.1)
#: The candle forming at the loopback's default "now" (2023-09-30 12:30 UTC) opened at 12:00.
FORMING_OPEN_MS = DEFAULT_NOW_MS // HOUR * HOUR


def utc_ms(day: int, hour: int) -> int:
    return int(datetime(2023, 9, day, hour, tzinfo=UTC).timestamp() * 1000)


def csv_rows(symbol: str) -> dict[int, tuple[float, ...]]:
    """Open time -> (open, high, low, close, volume) from the bundled 1h file."""
    token = symbol.replace("/", "-")
    resource = files("sigmax.data").joinpath(f"bundled/candles/binance_{token}_1h.csv")
    with resource.open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return {int(row[0]): tuple(float(v) for v in row[1:]) for row in reader}


def series_rows(series: CandleSeries) -> dict[int, tuple[float, ...]]:
    return {
        int(series.timestamp[i]): (
            float(series.open[i]),
            float(series.high[i]),
            float(series.low[i]),
            float(series.close[i]),
            float(series.volume[i]),
        )
        for i in range(len(series))
    }


class LoopbackTime:
    """``now`` is the server's clock; ``sleep`` advances it by the time asked for."""

    def __init__(self, server: BinanceLoopback) -> None:
        self.server = server
        self.sleeps: list[float] = []

    def now(self) -> int:
        return self.server.now_ms

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.server.now_ms += round(seconds * 1000)


@pytest.fixture
def server(binance_loopback: BinanceLoopback) -> BinanceLoopback:
    """The shared loopback under the name these tests use."""
    return binance_loopback


@pytest.fixture
async def exchange(server: BinanceLoopback) -> AsyncIterator[CcxtFeed]:
    """A feed on the loopback that gives up after two quick attempts."""
    async with CcxtFeed(
        "binance", api_base_url=server.base_url, retry=FAST_RETRY, timeout_s=5
    ) as feed:
        yield feed


async def collect(feed: LiveFeed, server: BinanceLoopback) -> list[tuple[int, list[CandleClosed]]]:
    """Every group the feed yields, with the server's clock at the moment it was yielded."""
    return [(server.now_ms, group) async for group in feed.events()]


# -- the feed ----------------------------------------------------------------------------------


async def test_each_candle_is_yielded_once_when_it_has_closed_with_the_exchange_values(
    server: BinanceLoopback, exchange: CcxtFeed
) -> None:
    clock = LoopbackTime(server)
    feed = LiveFeed(
        exchange, SYMBOLS, Timeframe.H1, warmup=48, clock=clock.now, sleep=clock.sleep, max_polls=5
    )

    seen = await collect(feed, server)

    # A fresh start trades from the newest closed candle on; the 47 before it are context.
    closes = [FORMING_OPEN_MS + k * HOUR for k in range(5)]
    assert [group[0].close_ms for _, group in seen] == closes
    assert [[e.symbol for e in group] for _, group in seen] == [list(SYMBOLS)] * 5
    # Polled 2 s after each close (the first poll at start-up), never before it.
    assert [at for at, _ in seen] == [DEFAULT_NOW_MS] + [c + 2000 for c in closes[1:]]
    assert clock.sleeps == [(closes[1] + 2000 - DEFAULT_NOW_MS) / 1000] + [3600.0] * 3
    assert feed.polls == 5
    for symbol in SYMBOLS:
        expected = csv_rows(symbol)
        events = [e for _, group in seen for e in group if e.symbol == symbol]
        for index, event in enumerate(events):
            candle = event.candle
            assert event.close_ms == candle.timestamp + HOUR
            row = (candle.open, candle.high, candle.low, candle.close, candle.volume)
            assert row == expected[candle.timestamp]
            # The series holds the warm-up context and every candle up to this one, as filed.
            assert len(event.series) == 48 + index
            assert event.series.last_ms == candle.timestamp
            assert event.series.first_ms == FORMING_OPEN_MS - 48 * HOUR
            known = series_rows(event.series)
            assert known == {ms: expected[ms] for ms in known}
            assert list(known) == list(range(event.series.first_ms, candle.timestamp + 1, HOUR))


async def test_a_resume_yields_only_the_candles_after_the_last_processed_one(
    server: BinanceLoopback, exchange: CcxtFeed
) -> None:
    clock = LoopbackTime(server)
    after = {"BTC/USDT": utc_ms(30, 9), "ETH/USDT": utc_ms(30, 10)}
    feed = LiveFeed(
        exchange,
        SYMBOLS,
        Timeframe.H1,
        warmup=24,
        clock=clock.now,
        sleep=clock.sleep,
        after_ms=after,
        max_polls=1,
    )

    seen = await collect(feed, server)

    groups = [[(e.symbol, e.candle.timestamp) for e in group] for _, group in seen]
    assert groups == [
        [("BTC/USDT", utc_ms(30, 10))],
        [("BTC/USDT", utc_ms(30, 11)), ("ETH/USDT", utc_ms(30, 11))],
    ]
    for _, group in seen:
        for event in group:
            # Context: 24 candles up to the last processed one, then the catch-up.
            assert event.series.first_ms == after[event.symbol] - 23 * HOUR
            assert event.series.last_ms == utc_ms(30, 11)
    assert clock.sleeps == []


async def test_a_long_absence_is_caught_up_page_by_page_without_a_hole(
    server: BinanceLoopback, exchange: CcxtFeed
) -> None:
    clock = LoopbackTime(server)
    after = FORMING_OPEN_MS - 1500 * HOUR  # further back than one 1000-candle page
    feed = LiveFeed(
        exchange,
        ["BTC/USDT"],
        Timeframe.H1,
        warmup=10,
        clock=clock.now,
        sleep=clock.sleep,
        after_ms={"BTC/USDT": after},
        max_polls=1,
    )

    seen = await collect(feed, server)

    opens = [group[0].candle.timestamp for _, group in seen]
    expected = [ms for ms in csv_rows("BTC/USDT") if after < ms < FORMING_OPEN_MS]
    assert opens == expected
    assert len(opens) == 1499
    assert server.request_count("/api/v3/klines") == 2


async def test_until_stops_the_feed_after_the_last_candle_closing_by_then(
    server: BinanceLoopback, exchange: CcxtFeed
) -> None:
    clock = LoopbackTime(server)
    until = FORMING_OPEN_MS + 2 * HOUR
    feed = LiveFeed(
        exchange, ["ETH/USDT"], Timeframe.H1, warmup=5, clock=clock.now, sleep=clock.sleep,
        until_ms=until,
    )  # fmt: skip

    seen = await collect(feed, server)

    assert [group[0].close_ms for _, group in seen] == [
        FORMING_OPEN_MS,
        FORMING_OPEN_MS + HOUR,
        until,
    ]
    # No wait for a candle that would close after --until.
    assert len(clock.sleeps) == 2
    assert server.now_ms == until + 2000


class RevisingLoopback(BinanceLoopback):
    """Reports the 11:00 candle with one more unit of volume once the clock passes 13:00."""

    REVISED_OPEN_MS = utc_ms(30, 11)
    FROM_MS = utc_ms(30, 13)

    def _kline(self, candle: BundledCandle, interval_ms: int, now_ms: int) -> list[Any]:
        row = BinanceLoopback._kline(candle, interval_ms, now_ms)
        if candle.open_ms == self.REVISED_OPEN_MS and now_ms >= self.FROM_MS:
            row[5] = fmt8(candle.volume + 1)
        return row


async def test_a_revised_closed_candle_is_reported_and_ours_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        RevisingLoopback() as server,
        CcxtFeed("binance", api_base_url=server.base_url, retry=FAST_RETRY) as exchange,
    ):
        clock = LoopbackTime(server)
        feed = LiveFeed(
            exchange, ["BTC/USDT"], Timeframe.H1, warmup=5, clock=clock.now, sleep=clock.sleep,
            max_polls=2,
        )  # fmt: skip
        with caplog.at_level(logging.WARNING, logger="sigmax.engine"):
            seen = await collect(feed, server)

    opens = [group[0].candle.timestamp for _, group in seen]
    assert opens == [utc_ms(30, 11), utc_ms(30, 12)]  # the revised candle is not yielded again
    last_series = seen[-1][1][0].series
    filed = csv_rows("BTC/USDT")[RevisingLoopback.REVISED_OPEN_MS]
    assert series_rows(last_series)[RevisingLoopback.REVISED_OPEN_MS] == filed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "revised the closed 1h candle of 2023-09-30T11:00:00Z" in warnings[0]
    assert "keeping ours" in warnings[0]


async def test_an_unreachable_exchange_raises_out_of_events() -> None:
    port = unused_tcp_port()
    async with CcxtFeed(
        "binance", api_base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY, timeout_s=2
    ) as exchange:
        feed = LiveFeed(exchange, SYMBOLS, Timeframe.H1, max_polls=3)
        with pytest.raises(ExchangeUnavailableError) as caught:
            await collect_plain(feed)
    assert isinstance(caught.value, FeedUnavailableError)
    assert caught.value.attempts == 2
    assert f"127.0.0.1:{port}" in str(caught.value)


async def collect_plain(feed: LiveFeed) -> list[list[CandleClosed]]:
    return [group async for group in feed.events()]


async def test_total_candles_is_unknown_for_a_live_feed(exchange: CcxtFeed) -> None:
    assert LiveFeed(exchange, SYMBOLS, Timeframe.H1).total_candles() is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"warmup": 0}, "warmup must be >= 1"),
        ({"poll_delay_s": -1.0}, "poll_delay_s must be"),
        ({"max_polls": 0}, "max_polls must be >= 1"),
        ({"symbols": ["BTC/USDT", "BTC/USDT"]}, "without repeats"),
    ],
)
async def test_bad_arguments_are_refused_with_the_rule(
    exchange: CcxtFeed, arguments: dict[str, Any], message: str
) -> None:
    symbols = arguments.pop("symbols", SYMBOLS)
    with pytest.raises(ValueError, match=message):
        LiveFeed(exchange, symbols, Timeframe.H1, **arguments)


# -- sigmax run --feed live --------------------------------------------------------------------


def _recorded(home: Path) -> dict[str, Any]:
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            decisions = connection.execute(
                text(
                    "SELECT symbol, decided_at_ms, record FROM decisions "
                    "ORDER BY decided_at_ms, symbol"
                )
            ).all()
            orders = connection.execute(
                text(
                    "SELECT client_order_id, side, type, qty, status FROM orders "
                    "ORDER BY client_order_id"
                )
            ).all()
            runs = connection.execute(text("SELECT id, mode, status FROM runs")).all()
    finally:
        engine.dispose()
    return {
        "decisions": [(s, at, without_volatile(_json(r))) for s, at, r in decisions],
        "orders": [tuple(row) for row in orders],
        "runs": [tuple(row) for row in runs],
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _write_candles(folder: Path, symbol: str, first_ms: int, last_ms: int) -> None:
    """The bundled candles of ``symbol`` opening in [first_ms, last_ms], as a dataset file."""
    source = files("sigmax.data").joinpath(
        f"bundled/candles/binance_{symbol.replace('/', '-')}_1h.csv"
    )
    lines = source.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines[1:] if first_ms <= int(line.split(",")[0]) <= last_ms]
    target = folder / f"binance_{symbol.replace('/', '-')}_1h.csv"
    target.write_text("\n".join([lines[0], *kept]) + "\n", encoding="utf-8")


async def test_a_live_paper_run_decides_at_each_close_as_a_replay_of_the_same_candles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: BinanceLoopback
) -> None:
    clock = LoopbackTime(server)
    closes = [FORMING_OPEN_MS + k * HOUR for k in range(5)]
    live_home = tmp_path / "live"
    live_home.mkdir()
    live = RunOptions(
        profile="aggressive",
        symbols=list(SYMBOLS),
        feed="live",
        until_ms=closes[-1],
        home=live_home,
        console_log=False,
        clock=clock.now,
        sleep=clock.sleep,
    )
    with clean_home(live_home):
        monkeypatch.setenv("SIGMAX_EXCHANGE_URL", server.base_url)
        report = await run_paper(live)
    assert report.totals.candles == 10
    assert not report.resumed
    recorded = _recorded(live_home)
    assert [(s, at) for s, at, _ in recorded["decisions"]] == [
        (symbol, close) for close in closes for symbol in SYMBOLS
    ]
    assert recorded["runs"] == [(report.run_id, "paper", "interrupted")]
    with clean_home(live_home), open_account_home(live_home) as account:
        status = read_status(account)
    assert status is not None
    assert (status.feed, status.status, status.as_of_ms) == (
        "live",
        RunStatus.INTERRUPTED,
        closes[-1],
    )

    # The same engine on the same candles, replayed from files: the same decisions.
    data = tmp_path / "data"
    data.mkdir()
    first_known = FORMING_OPEN_MS - 1000 * HOUR  # the live feed's default warm-up
    for symbol in SYMBOLS:
        _write_candles(data, symbol, first_known, closes[-1] - HOUR)
    replay_home = tmp_path / "replay"
    replay_home.mkdir()
    replay = RunOptions(
        profile="aggressive",
        symbols=list(SYMBOLS),
        speed=1000.0,
        start_ms=closes[0],
        until_ms=closes[-1],
        data=data,
        home=replay_home,
        console_log=False,
    )
    with clean_home(replay_home):
        await run_paper(replay)
    replayed = _recorded(replay_home)
    assert recorded["decisions"] == replayed["decisions"]
    assert recorded["orders"] == replayed["orders"]

    # Re-running the command later resumes the same run after its last candle.
    resumed_until = closes[-1] + 2 * HOUR
    with clean_home(live_home):
        monkeypatch.setenv("SIGMAX_EXCHANGE_URL", server.base_url)
        again = await run_paper(replace(live, until_ms=resumed_until))
    assert again.run_id == report.run_id
    assert again.resumed
    assert again.totals.candles == 4
    moments = [at for _, at, _ in _recorded(live_home)["decisions"]]
    assert moments == sorted(
        [*(c for c in closes for _ in SYMBOLS), *[resumed_until - HOUR] * 2, *[resumed_until] * 2]
    )


async def test_a_live_run_stops_with_the_error_when_the_exchange_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RunOptions(symbols=["BTC/USDT"], feed="live", home=tmp_path, console_log=False)
    with clean_home(tmp_path):
        monkeypatch.setenv("SIGMAX_EXCHANGE_URL", f"http://127.0.0.1:{unused_tcp_port()}")
        started = time.monotonic()
        with pytest.raises(ExchangeUnavailableError, match="binance is unavailable"):
            await run_paper(options)
    assert time.monotonic() - started < 20
    runs = _recorded(tmp_path)
    assert [status for _, _, status in runs["runs"]] == ["failed"]
    assert runs["decisions"] == []


@pytest.mark.parametrize(
    ("changes", "env_url", "message"),
    [
        ({"start_ms": DEFAULT_NOW_MS}, None, "--from: a live run starts now"),
        ({"data": Path("candles")}, None, "--data: a live run reads candles from the exchange"),
        ({"feed": "websocket"}, None, "--feed: must be one of replay, live"),
        ({}, "ftp://127.0.0.1:1", "SIGMAX_EXCHANGE_URL: must be an http"),
    ],
)
async def test_live_options_that_cannot_work_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    env_url: str | None,
    message: str,
) -> None:
    options = replace(RunOptions(feed="live", home=tmp_path, console_log=False), **changes)
    with clean_home(tmp_path):
        if env_url is not None:
            monkeypatch.setenv("SIGMAX_EXCHANGE_URL", env_url)
        with pytest.raises(InputError, match=message) as caught:
            await run_paper(options)
    if env_url is not None:
        assert isinstance(caught.value, ConfigError)
    assert not (tmp_path / "sigmax.db").exists()
