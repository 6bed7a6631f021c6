"""Decisions over the real bundled data: shape, no look-ahead, determinism, cited numbers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sigmax.agents.orchestrator import Orchestrator
from sigmax.config import Settings
from sigmax.domain.candles import CandleSeries, Timeframe, datetime_to_ms
from sigmax.domain.decisions import format_value

from .conftest import orchestrator_over

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
INDICATOR_KEYS = {
    "rsi_14", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower",
    "atr_14", "ema_20", "ema_50", "ema_200", "adx_14",
}  # fmt: skip
AGENT_ORDER = ["researcher", "bull", "bear", "analyzer", "risk", "privacy", "optimizer"]
MOMENTS = [
    datetime(2021, 5, 19, 13, tzinfo=UTC),  # the May 2021 crash
    datetime(2021, 11, 10, 14, tzinfo=UTC),  # the November 2021 top
    datetime(2022, 6, 18, 21, tzinfo=UTC),  # the June 2022 capitulation
    datetime(2022, 11, 9, 0, tzinfo=UTC),  # FTX
    datetime(2023, 3, 24, 14, tzinfo=UTC),  # right after the trading halt's gap
    datetime(2023, 9, 30, 12, tzinfo=UTC),
]


def without_latency(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_latency(v) for k, v in value.items() if k != "latency_ms"}
    if isinstance(value, list):
        return [without_latency(v) for v in value]
    return value


async def test_record_shape(orchestrator: Orchestrator) -> None:
    record = (await orchestrator.analyze_symbol("BTC/USDT")).to_dict()
    assert record["symbol"] == "BTC/USDT"
    assert record["timestamp"] == "2023-10-01T00:00:00Z"
    assert record["data_until"] == "2023-09-30T23:00:00Z"
    assert record["timeframe"] == "1h"
    assert record["profile"] == "conservative"
    assert record["decision"] in ("BUY", "SELL", "HOLD")
    assert 0 <= record["confidence"] <= 1
    assert set(record["reasoning"]) >= {
        "bull_argument", "bear_argument", "risk_assessment", "technical_analysis", "sentiment",
    }  # fmt: skip
    assert [a["name"] for a in record["agents"]] == AGENT_ORDER
    for agent in record["agents"]:
        assert -1 <= agent["score"] <= 1
        assert 0 <= agent["confidence"] <= 1
        assert agent["argument"]
        assert agent["latency_ms"] >= 0
    assert len(record["debate"]) == 2
    assert set(record["indicators"]) == INDICATOR_KEYS
    assert record["latency_ms"] > 0
    assert record["inputs"]["timeframes"]["4h"]["closed_at"] <= record["timestamp"]
    assert "unavailable" in record["reasoning"]["sentiment"]


@pytest.mark.parametrize("symbol", SYMBOLS)
async def test_no_look_ahead(
    symbol: str, settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    """At each moment, the whole dataset and the dataset cut at that moment decide alike."""
    full = orchestrator_over(settings, bundled_series)
    for moment in MOMENTS:
        at_ms = datetime_to_ms(moment)
        cut = bundled_series(symbol).until(at_ms - Timeframe.H1.ms)
        truncated = orchestrator_over(settings, lambda _symbol, cut=cut: cut)
        seen_all = (await full.analyze_symbol(symbol, at_ms)).to_dict()
        seen_cut = (await truncated.analyze_symbol(symbol, at_ms)).to_dict()
        assert without_latency(seen_all) == without_latency(seen_cut), moment
        assert seen_all["data_until"] < seen_all["timestamp"]


async def test_a_later_candle_changes_nothing_before_it(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    """Corrupting every candle after t leaves the decision at t unchanged."""
    at_ms = datetime_to_ms(MOMENTS[2])
    series = bundled_series("BTC/USDT")
    visible = len(series.until(at_ms - Timeframe.H1.ms))
    close = series.close.copy()
    close[visible:] *= 3.0
    high = series.high.copy()
    high[visible:] *= 3.0
    doctored = CandleSeries(
        series.exchange, series.symbol, series.timeframe, series.timestamp,
        series.open, high, series.low, close, series.volume,
    )  # fmt: skip
    honest = await orchestrator_over(settings, lambda _s: series).analyze_symbol("BTC/USDT", at_ms)
    later = await orchestrator_over(settings, lambda _s: doctored).analyze_symbol("BTC/USDT", at_ms)
    assert without_latency(honest.to_dict()) == without_latency(later.to_dict())


async def test_same_inputs_same_record(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    at_ms = datetime_to_ms(MOMENTS[1])
    first = await orchestrator_over(settings, bundled_series).analyze_symbol("ETH/USDT", at_ms)
    second = await orchestrator_over(settings, bundled_series).analyze_symbol("ETH/USDT", at_ms)
    assert without_latency(first.to_dict()) == without_latency(second.to_dict())
    assert first.id == second.id


def _texts(record: dict[str, Any]) -> Iterator[str]:
    for agent in record["agents"]:
        yield agent["argument"]
    for debate_round in record["debate"]:
        yield debate_round["bull"]
        yield debate_round["bear"]
    yield from record["reasoning"].values()


# A number: not part of a name such as "1h" or "4h" (timeframes are names, not claims).
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def _uncited_numbers(record: dict[str, Any]) -> list[str]:
    evidence = [e for a in record["agents"] for e in a["evidence"]]
    evidence += [e for r in record["debate"] for e in r["evidence"]]
    cited = {format_value(e["value"]) for e in evidence if e["value"] is not None}
    cited |= {format_value(v) for v in record["indicators"].values() if v is not None}
    labels = sorted({e["label"] for e in evidence}, key=len, reverse=True)
    uncited = []
    for text in _texts(record):
        for label in labels:
            text = text.replace(label, " ")
        uncited += [n for n in NUMBER.findall(text) if n not in cited]
    return uncited


@pytest.mark.parametrize("symbol", SYMBOLS)
async def test_every_quoted_number_is_in_the_record(
    symbol: str, orchestrator: Orchestrator
) -> None:
    for moment in MOMENTS:
        record = (await orchestrator.analyze_symbol(symbol, datetime_to_ms(moment))).to_dict()
        assert _uncited_numbers(record) == [], (symbol, moment)


async def test_the_citation_check_catches_an_invented_number(orchestrator: Orchestrator) -> None:
    record = (await orchestrator.analyze_symbol("BTC/USDT")).to_dict()
    record["agents"][3]["argument"] += " RSI(14) 1h = 12.34 looks cheap."
    assert _uncited_numbers(record) == ["12.34"]


async def test_a_moment_before_the_data_is_refused(orchestrator: Orchestrator) -> None:
    from sigmax.agents.market_view import InsufficientDataError

    with pytest.raises(InsufficientDataError, match="no 1h candle had closed"):
        await orchestrator.analyze_symbol(
            "BTC/USDT", datetime_to_ms(datetime(2020, 1, 1, tzinfo=UTC))
        )
