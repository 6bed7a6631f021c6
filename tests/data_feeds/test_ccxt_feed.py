"""CcxtFeed through the real ccxt client against the Binance loopback server.

Expected candle values are read straight from the bundled CSV files here, independently of the
server's own parser, so a mismatch anywhere between the file and the CandleSeries shows up.
"""

from __future__ import annotations

import asyncio
import csv
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files

import pytest

from sigmax.data.feeds import (
    CcxtFeed,
    ExchangeId,
    FeedRequestError,
    FeedUnavailableError,
    RetryPolicy,
)
from sigmax.data.feeds.retry import parse_retry_after
from sigmax.domain.candles import CandleSeries, Timeframe
from sigmax.domain.instruments import Symbol
from sigmax.errors import ConfigError, ExchangeUnavailableError, FeedError, InputError
from support.binance_server import DEFAULT_NOW_MS, BinanceLoopback, FaultKind, unused_tcp_port

from .conftest import FAST_RETRY

BTC = Symbol("BTC", "USDT")
BNB = Symbol("BNB", "USDT")
HOUR = 3_600_000
KLINES = "/api/v3/klines"


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def csv_candles(token: str, timeframe: str = "1h") -> dict[int, tuple[float, ...]]:
    """Open time -> (open, high, low, close, volume) from the bundled file."""
    resource = files("sigmax.data").joinpath(f"bundled/candles/binance_{token}_{timeframe}.csv")
    with resource.open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return {int(row[0]): tuple(float(v) for v in row[1:]) for row in reader}


def series_rows(series: CandleSeries) -> list[tuple[int, tuple[float, ...]]]:
    return [
        (
            int(series.timestamp[i]),
            (
                float(series.open[i]),
                float(series.high[i]),
                float(series.low[i]),
                float(series.close[i]),
                float(series.volume[i]),
            ),
        )
        for i in range(len(series))
    ]


# -- markets ---------------------------------------------------------------------------------


async def test_market_rules_are_parsed_from_exchange_info(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    btc = await binance_feed.market_spec(BTC)
    bnb = await binance_feed.market_spec(BNB)

    assert btc.active
    assert (btc.price_tick, btc.amount_step) == (Decimal("0.01"), Decimal("0.00001"))
    assert btc.min_amount == Decimal("0.00001")
    assert btc.max_amount == Decimal("9000")
    # The current NOTIONAL filter carries both bounds ...
    assert (btc.min_notional, btc.max_notional) == (Decimal("5"), Decimal("9000000"))
    # ... the legacy MIN_NOTIONAL filter only the minimum.
    assert (bnb.price_tick, bnb.amount_step) == (Decimal("0.1"), Decimal("0.001"))
    assert (bnb.min_notional, bnb.max_notional) == (Decimal("5"), None)
    # Markets are loaded once, from the spot endpoint only (no futures or margin hosts).
    assert binance_loopback.request_count("/api/v3/exchangeInfo") == 1
    assert {r.path for r in binance_loopback.requests} == {"/api/v3/exchangeInfo"}


# -- candles ---------------------------------------------------------------------------------


async def test_a_window_of_candles_is_exactly_the_bundled_data_gaps_included(
    binance_feed: CcxtFeed,
) -> None:
    since = utc_ms(2023, 3, 24, 10)
    series = await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, since_ms=since, limit=6)

    expected = csv_candles("BTC-USDT")
    # 13:00 is missing on Binance (the 2023-03-24 halt): it stays missing, nothing is filled.
    hours = [10, 11, 12, 14, 15, 16]
    assert series_rows(series) == [
        (utc_ms(2023, 3, 24, h), expected[utc_ms(2023, 3, 24, h)]) for h in hours
    ]
    assert (series.exchange, series.symbol, series.timeframe) == ("binance", BTC, Timeframe.H1)


async def test_the_still_forming_candle_is_dropped(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    # The server clock is 12:30: the 12:00 candle is still forming.
    assert utc_ms(2023, 9, 30, 12, 30) == binance_loopback.now_ms
    forming = utc_ms(2023, 9, 30, 12)
    assert binance_loopback.visible_candles("BTCUSDT", "1h")[-1].open_ms == forming

    latest = await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=4)

    expected = csv_candles("BTC-USDT")
    assert [t for t, _ in series_rows(latest)] == [forming - k * HOUR for k in (4, 3, 2, 1)]
    assert series_rows(latest)[-1][1] == expected[forming - HOUR]
    # One extra candle was asked for, because the forming one is always dropped.
    assert binance_loopback.requests_to(KLINES)[-1].query["limit"] == "5"

    since_last_closed = await binance_feed.fetch_ohlcv(
        BTC, Timeframe.H1, since_ms=forming - HOUR, limit=5
    )
    assert [t for t, _ in series_rows(since_last_closed)] == [forming - HOUR]


async def test_a_candle_counts_as_closed_exactly_at_its_close_time(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    binance_loopback.now_ms = utc_ms(2023, 9, 30, 13)

    latest = await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=1)

    closed = utc_ms(2023, 9, 30, 12)
    assert series_rows(latest) == [(closed, csv_candles("BTC-USDT")[closed])]


async def test_default_limit_and_two_hour_candles(binance_feed: CcxtFeed) -> None:
    series = await binance_feed.fetch_ohlcv(BTC, Timeframe.H2)

    # Binance's default page is 500 candles; the forming 12:00 one is dropped.
    assert len(series) == 499
    assert series.last_ms == utc_ms(2023, 9, 30, 10)
    expected = csv_candles("BTC-USDT", "2h")
    assert all(expected[t] == values for t, values in series_rows(series))


async def test_an_injected_clock_replaces_the_server_time(
    binance_loopback: BinanceLoopback,
) -> None:
    now = utc_ms(2023, 9, 30, 11, 30)
    async with CcxtFeed(
        "binance", api_base_url=binance_loopback.base_url, retry=FAST_RETRY, clock=lambda: now
    ) as feed:
        series = await feed.fetch_ohlcv(BTC, Timeframe.H1, limit=2)

    assert series.last_ms == utc_ms(2023, 9, 30, 10)
    assert binance_loopback.request_count("/api/v3/time") == 0


async def test_bad_limits_are_refused_before_any_request(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    with pytest.raises(InputError, match="limit must be >= 1"):
        await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=0)
    with pytest.raises(InputError, match="since_ms must be >= 0"):
        await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, since_ms=-1)
    assert binance_loopback.requests == []


# -- ticker and order book -------------------------------------------------------------------


async def test_ticker_shape_and_values(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    ticker = await binance_feed.fetch_ticker(BTC)

    forming = utc_ms(2023, 9, 30, 12)
    candles = csv_candles("BTC-USDT")
    bids, asks = binance_loopback.book("BTCUSDT", 1)
    assert ticker.symbol == BTC
    assert ticker.exchange == "binance"
    # The last trade at 12:30 is the forming candle's opening price (the stand-in's rule).
    assert ticker.last == candles[forming][0] == 26936.02
    assert (ticker.bid, ticker.ask) == (float(bids[0][0]), float(asks[0][0]))
    assert ticker.bid is not None
    assert ticker.ask is not None
    assert ticker.bid < ticker.last < ticker.ask
    assert ticker.exchange_time_ms == DEFAULT_NOW_MS
    # 24 h window: the 23 closed hours before 12:00 plus the forming one (no volume yet).
    window = [candles[forming - k * HOUR] for k in range(1, 24)]
    assert ticker.base_volume_24h == pytest.approx(sum(c[4] for c in window), rel=1e-12)
    assert ticker.high_24h == max(c[1] for c in window)
    assert ticker.low_24h == min(c[2] for c in window)


async def test_order_book_shape_and_values(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    book = await binance_feed.fetch_order_book(BTC, 5)

    bids, asks = binance_loopback.book("BTCUSDT", 5)
    assert [(lvl.price, lvl.amount) for lvl in book.bids] == [(float(p), float(q)) for p, q in bids]
    assert [(lvl.price, lvl.amount) for lvl in book.asks] == [(float(p), float(q)) for p, q in asks]
    assert len(book.bids) == len(book.asks) == 5
    assert book.sequence == DEFAULT_NOW_MS // 100
    assert binance_loopback.requests_to("/api/v3/depth")[-1].query["limit"] == "5"
    # The documented stand-in spread: about 1 bp of 26936.02, on the 0.01 tick.
    assert book.spread == pytest.approx(2.70, abs=0.005)
    assert book.mid == pytest.approx(26936.02, abs=0.01)


# -- retries ---------------------------------------------------------------------------------


async def test_transient_503s_are_retried_with_backoff(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    await binance_feed.load_markets()
    binance_loopback.fail_next(KLINES, FaultKind.UNAVAILABLE, 2)

    started = time.monotonic()
    series = await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=3)
    elapsed = time.monotonic() - started

    assert binance_loopback.request_count(KLINES) == 3
    assert [r.faulted for r in binance_loopback.requests_to(KLINES)] == [
        FaultKind.UNAVAILABLE,
        FaultKind.UNAVAILABLE,
        None,
    ]
    # Equal jitter: at least half of 0.1 s, then half of 0.2 s.
    assert elapsed >= 0.05 + 0.1
    assert series.last_ms == utc_ms(2023, 9, 30, 11)


async def test_a_429_is_retried_after_the_retry_after_delay(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    await binance_feed.load_markets()
    binance_loopback.fail_next(KLINES, FaultKind.RATE_LIMITED, 1, retry_after_s=1)

    started = time.monotonic()
    series = await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=2)
    elapsed = time.monotonic() - started

    assert binance_loopback.request_count(KLINES) == 2
    # The policy alone would wait at most 0.1 s; Retry-After says 1 s.
    assert elapsed >= 1.0
    assert len(series) == 2


async def test_a_retry_after_beyond_the_policy_fails_at_once(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    await binance_feed.load_markets()
    binance_loopback.fail_next(KLINES, FaultKind.IP_BANNED, 1, retry_after_s=120)

    with pytest.raises(FeedUnavailableError, match="asked to wait 120 s") as caught:
        await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=2)

    assert caught.value.attempts == 1
    assert binance_loopback.request_count(KLINES) == 1


async def test_a_persistent_503_ends_in_exchange_unavailable(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    await binance_feed.load_markets()
    binance_loopback.fail_next(KLINES, FaultKind.UNAVAILABLE, 10)

    with pytest.raises(ExchangeUnavailableError) as caught:
        await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=2)

    error = caught.value
    assert isinstance(error, FeedUnavailableError)
    assert error.attempts == FAST_RETRY.max_attempts == 3
    assert binance_loopback.request_count(KLINES) == 3
    assert error.url is not None
    assert f"{binance_loopback.base_url}/api/v3/klines?" in error.url
    message = str(error)
    assert "binance" in message
    assert "3 attempt(s)" in message
    assert "503" in message
    assert "BTC/USDT" in message


async def test_dropped_connections_are_retried(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    await binance_feed.load_markets()
    binance_loopback.fail_next(KLINES, FaultKind.DISCONNECT, 3)

    series = await binance_feed.fetch_ohlcv(BTC, Timeframe.H1, limit=2)

    served = binance_loopback.requests_to(KLINES)
    # aiohttp itself may re-send once on a dropped keep-alive connection; the feed retries
    # the rest. Either way all three drops happened and the last request succeeded.
    assert [r.faulted for r in served].count(FaultKind.DISCONNECT) == 3
    assert served[-1].faulted is None
    assert series.last_ms == utc_ms(2023, 9, 30, 11)


async def test_connection_refused_fails_quickly_with_exchange_unavailable() -> None:
    port = unused_tcp_port()
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.1)

    started = time.monotonic()
    async with CcxtFeed(
        "binance", api_base_url=f"http://127.0.0.1:{port}", retry=policy, timeout_s=2
    ) as feed:
        with pytest.raises(ExchangeUnavailableError) as caught:
            await feed.fetch_ohlcv(BTC, Timeframe.H1, limit=2)
    elapsed = time.monotonic() - started

    error = caught.value
    assert isinstance(error, FeedUnavailableError)
    assert error.attempts == 2
    assert error.url is not None
    assert f"127.0.0.1:{port}/api/v3/exchangeInfo" in error.url
    assert elapsed < 3.0


async def test_an_unknown_symbol_fails_at_once_without_retries(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    with pytest.raises(FeedRequestError, match="DOGE/USDT") as caught:
        await binance_feed.fetch_ohlcv(Symbol("DOGE", "USDT"), Timeframe.H1, limit=2)

    assert not isinstance(caught.value, ExchangeUnavailableError)
    assert caught.value.endpoint == "fetch_ohlcv"
    assert "BadSymbol" in str(caught.value)
    assert [r.path for r in binance_loopback.requests] == ["/api/v3/exchangeInfo"]


async def test_requests_are_spaced_by_the_rate_limiter(
    binance_feed: CcxtFeed, binance_loopback: BinanceLoopback
) -> None:
    await binance_feed.load_markets()

    tickers = await asyncio.gather(*(binance_feed.fetch_ticker(BTC) for _ in range(12)))

    assert len({t.last for t in tickers}) == 1
    arrivals = [r.at_s for r in binance_loopback.requests_to("/api/v3/ticker/24hr")]
    assert len(arrivals) == 12
    # ccxt meters Binance at 50 ms per cost unit and a one-symbol 24 h ticker costs 0.4
    # (Binance weight 2). Its leaky bucket holds at most 1 unit, so even after a stall at most
    # a 1-unit burst goes out at once: 11 more tickers need >= (11 * 0.4 - 1) * 50 ms = 170 ms.
    # Unthrottled, twelve loopback requests arrive within a few milliseconds.
    assert arrivals[-1] - arrivals[0] >= 0.15


# -- configuration and small parts -----------------------------------------------------------


def test_invalid_configuration_is_refused_with_the_key_named() -> None:
    with pytest.raises(ConfigError, match="testnet: only binance offers a public testnet"):
        CcxtFeed("kraken", testnet=True)
    with pytest.raises(ConfigError, match="api_base_url: must be an http"):
        CcxtFeed("binance", api_base_url="127.0.0.1:8080")
    with pytest.raises(ConfigError, match="timeout_s: must be a number > 0"):
        CcxtFeed("binance", timeout_s=0)
    with pytest.raises(ConfigError, match=r"retry\.max_attempts: must be >= 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError, match=r"retry\.max_delay_s"):
        RetryPolicy(base_delay_s=2, max_delay_s=1)


def test_backoff_is_jittered_doubling_and_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.5, max_delay_s=3.0)
    rng = random.Random(7)
    for failed, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        assert policy.ceiling_s(failed) == ceiling
        delays = {policy.backoff_s(failed, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


def test_retry_after_header_forms() -> None:
    now = datetime(2023, 9, 30, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 30 Sep 2023 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None


@pytest.mark.parametrize(
    ("exchange_id", "path_prefixes"),
    [("kraken", ("/0/public/",)), ("coinbase", ("/v2/", "/api/v3/brokerage/"))],
)
async def test_api_base_url_redirects_other_exchanges_too(
    binance_loopback: BinanceLoopback, exchange_id: ExchangeId, path_prefixes: tuple[str, ...]
) -> None:
    # The loopback speaks only Binance, so these requests fail (404) - what matters is that
    # they reached 127.0.0.1 under the exchange's own paths instead of the real exchange.
    policy = RetryPolicy(max_attempts=1, base_delay_s=0, max_delay_s=0)
    async with CcxtFeed(
        exchange_id, api_base_url=binance_loopback.base_url, retry=policy, timeout_s=2
    ) as feed:
        with pytest.raises(FeedError) as caught:
            await feed.load_markets()

    paths = [r.path for r in binance_loopback.requests]
    assert paths
    assert all(p.startswith(path_prefixes) for p in paths), paths
    assert binance_loopback.base_url in str(caught.value)
