"""The arbitrage backtest: the same edges as the live scan, over historical candles of several
venues (a folder of ``EXCHANGE_BASE-QUOTE_TF.csv`` files, all of one timeframe).

Quotes. A candle gives a market's quote from its close until the next candle closes: bid =
close x (1 - half spread), ask = close x (1 + half spread). A minute with no trade (a missing
candle, or one with zero volume, which only repeats the last price) gives no quote, so no edge
is counted on it.

Latency. The legs are aligned in time with the stated latency: the second leg of a
cross-exchange trade, and each further leg of a cycle, is priced ``latency`` later than the one
before (on 1m candles a latency under a minute prices both legs on the same minute's quotes;
60 s prices the second leg on the next minute). An opportunity is a run of consecutive candles
on which the net edge, so aligned, is at least the minimum profit; it is counted only when it
lasts at least the latency.

Size. Candles carry no book, so the size an opportunity could take is the ``participation``
share of the quote volume traded in that minute on its thinnest leg (default 10 %).

Numbers. The scan over every candle runs on numpy float64 arrays (analytics, one vectorised
pass per venue pair or cycle); each opportunity found is then priced again in exact decimals
from the candle prices as printed (legs, edges, size and profit), and that exact edge decides
whether it counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sigmax.arbitrage.costs import Costs
from sigmax.arbitrage.cycles import MarketQuote, RateGraph, enumerate_cycles
from sigmax.arbitrage.model import USD_LIKE, Leg, LegSide, Opportunity, Summary
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError
from sigmax.execution.fill_model import EXACT_CONTEXT, decimal_from_float

FloatArray = npt.NDArray[np.float64]
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_BPS = Decimal(10_000)
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """How the backtest prices and counts edges."""

    costs: Costs
    half_spread_bps: Decimal = Decimal(1)
    latency_s: Decimal = Decimal(0)
    size_usd: Decimal = Decimal(1000)
    participation: Decimal = Decimal("0.1")
    start_ms: int | None = None
    end_ms: int | None = None
    max_cycle_length: int = 4

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.half_spread_bps < 1000:
            raise InputError(
                f"half_spread_bps must be >= 0 and < 1000 (got {self.half_spread_bps})"
            )
        if not self.latency_s >= 0:
            raise InputError(f"--latency must be >= 0 seconds (got {self.latency_s})")
        if not self.size_usd > 0:
            raise InputError(f"--size must be > 0 USD (got {self.size_usd})")
        if not Decimal(0) < self.participation <= 1:
            raise InputError(f"participation must be > 0 and <= 1 (got {self.participation})")
        if (
            self.start_ms is not None
            and self.end_ms is not None
            and not self.start_ms < self.end_ms
        ):
            raise InputError("--from must be before --to")


@dataclass(frozen=True, slots=True)
class MarketColumn:
    """One venue's market on the common time grid (NaN where it gave no quote)."""

    exchange: str
    symbol: Symbol
    close: FloatArray
    volume: FloatArray
    rows: int

    @property
    def name(self) -> str:
        return f"{self.exchange} {self.symbol}"


@dataclass(frozen=True, slots=True)
class SpreadSeries:
    """For the report: one market on two venues, ``(B / A - 1) x 100`` at each candle."""

    market: str
    venue_a: str
    venue_b: str
    spread_pct: FloatArray
    #: Inside (lower, upper) no trade earns the minimum after every cost.
    band_pct: tuple[float, float]


@dataclass(slots=True)
class ArbitrageBacktest:
    """What a backtest found, and what it looked at."""

    opportunities: list[Opportunity]
    summary: Summary
    markets: list[MarketColumn]
    grid_ms: npt.NDArray[np.int64]
    timeframe_ms: int
    spreads: list[SpreadSeries] = field(default_factory=list)
    cycles_checked: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "opportunities": [o.to_dict() for o in self.opportunities],
            "markets": [
                {
                    "exchange": m.exchange,
                    "market": str(m.symbol),
                    "candles": m.rows,
                    "quoted": int(np.isfinite(m.close).sum()),
                }
                for m in self.markets
            ],
            "window": {
                "start": ms_to_iso(int(self.grid_ms[0])) if len(self.grid_ms) else None,
                "end": ms_to_iso(int(self.grid_ms[-1]) + self.timeframe_ms)
                if len(self.grid_ms)
                else None,
            },
            "cross_exchange_pairs": [
                {"market": s.market, "venues": [s.venue_a, s.venue_b]} for s in self.spreads
            ],
            "cycles_checked": self.cycles_checked,
            "settings": self.settings,
        }


def load_columns(
    data: Path, start_ms: int | None, end_ms: int | None
) -> tuple[list[MarketColumn], npt.NDArray[np.int64], int]:
    """The folder's markets on one grid of quote times (candle closes)."""
    catalog = DatasetCatalog.from_path(data)
    entries = catalog.entries()
    timeframes = {entry.timeframe for entry in entries}
    if len(timeframes) != 1:
        listed = ", ".join(sorted(tf.value for tf in timeframes))
        raise InputError(f"{data}: the files must share one timeframe (found {listed})")
    tf_ms = next(iter(timeframes)).ms
    series = []
    for entry in entries:
        candles = catalog.load_entry(entry).series
        closes_at = candles.timestamp + tf_ms
        keep = np.ones(len(candles), dtype=bool)
        if start_ms is not None:
            keep &= candles.timestamp >= start_ms
        if end_ms is not None:
            keep &= closes_at <= end_ms
        series.append((entry, closes_at[keep], candles.close[keep], candles.volume[keep]))
    populated = [s for s in series if len(s[1])]
    if not populated:
        raise InputError(f"{data}: no candle closes in the window asked")
    first = min(int(s[1][0]) for s in populated)
    last = max(int(s[1][-1]) for s in populated)
    grid = np.arange(first, last + tf_ms, tf_ms, dtype=np.int64)
    columns = []
    for entry, times, close, volume in series:
        index = (times - first) // tf_ms
        close_grid = np.full(len(grid), np.nan)
        volume_grid = np.zeros(len(grid))
        traded = volume > 0
        close_grid[index[traded]] = close[traded]
        volume_grid[index] = volume
        columns.append(
            MarketColumn(entry.exchange, entry.symbol, close_grid, volume_grid, len(times))
        )
    return columns, grid, tf_ms


def _shift(values: FloatArray, steps: int) -> FloatArray:
    """``values[i + steps]`` at ``i`` (NaN past the end)."""
    if steps == 0:
        return values
    out = np.full(len(values), np.nan)
    if steps < len(values):
        out[: len(values) - steps] = values[steps:]
    return out


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[start, end)`` of every run of True."""
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class _Pricer:
    """Exact prices of the grid's candles, and USD values of currencies at a candle."""

    def __init__(self, columns: Sequence[MarketColumn], half_spread: Decimal) -> None:
        self.columns = columns
        self.half_spread = half_spread

    def close(self, column: MarketColumn, index: int) -> Decimal:
        return decimal_from_float(float(column.close[index]), f"{column.name} close")

    def bid(self, column: MarketColumn, index: int) -> Decimal:
        with localcontext(EXACT_CONTEXT):
            return self.close(column, index) * (_ONE - self.half_spread)

    def ask(self, column: MarketColumn, index: int) -> Decimal:
        with localcontext(EXACT_CONTEXT):
            return self.close(column, index) * (_ONE + self.half_spread)

    def traded_quote(self, column: MarketColumn, index: int) -> Decimal:
        volume = decimal_from_float(float(column.volume[index]), f"{column.name} volume")
        with localcontext(EXACT_CONTEXT):
            return volume * self.close(column, index)

    def usd(self, currency: str, exchange: str, index: int) -> Decimal:
        if currency in USD_LIKE:
            return _ONE
        candidates = sorted(
            (c for c in self.columns if c.symbol.base == currency and c.symbol.quote in USD_LIKE),
            key=lambda c: (c.exchange != exchange, c.exchange, str(c.symbol)),
        )
        for column in candidates:
            if np.isfinite(column.close[index]):
                return self.close(column, index)
        raise InputError(
            f"no USD price for {currency} at candle {index} of the grid: add a {currency}/USDT, "
            f"{currency}/USD or {currency}/USDC file so sizes can be told in USD"
        )


def run_backtest(data: Path, config: BacktestConfig) -> ArbitrageBacktest:
    """Every cross-exchange and cyclic opportunity in the candles of ``data``."""
    columns, grid, tf_ms = load_columns(data, config.start_ms, config.end_ms)
    costs = config.costs
    half_spread = config.half_spread_bps / _BPS
    h = float(half_spread)
    steps = int(config.latency_s * 1000 // tf_ms)
    pricer = _Pricer(columns, half_spread)
    opportunities: list[Opportunity] = []
    spreads: list[SpreadSeries] = []
    by_market: dict[Symbol, list[MarketColumn]] = {}
    for column in columns:
        by_market.setdefault(column.symbol, []).append(column)
    min_profit = float(costs.min_profit)
    transfer = float(costs.transfer)
    for symbol in sorted(by_market, key=str):
        venues = sorted(by_market[symbol], key=lambda c: c.exchange)
        for a_index, a in enumerate(venues):
            for b in venues[a_index + 1 :]:
                spreads.append(_spread(a, b, costs, h))
                for buy, sell in ((a, b), (b, a)):
                    fee_buy = float(costs.fees.taker(buy.exchange, str(symbol)))
                    fee_sell = float(costs.fees.taker(sell.exchange, str(symbol)))
                    ask = buy.close * (1 + h)
                    bid = _shift(sell.close, steps) * (1 - h)
                    with np.errstate(invalid="ignore"):
                        net = bid * (1 - fee_sell) / (ask * (1 + fee_buy)) - 1 - transfer
                        mask = net >= min_profit - 1e-12
                    for start, end in _runs(mask):
                        found = _cross_opportunity(
                            buy, sell, start, end, steps, grid, tf_ms, pricer, config
                        )
                        if found is not None:
                            opportunities.append(found)
    cycles_checked = 0
    by_exchange: dict[str, list[MarketColumn]] = {}
    for column in columns:
        by_exchange.setdefault(column.exchange, []).append(column)
    for exchange in sorted(by_exchange):
        found_cycles, checked = _cycle_opportunities(
            exchange, by_exchange[exchange], steps, grid, tf_ms, pricer, config
        )
        cycles_checked += checked
        opportunities += found_cycles
    opportunities.sort(key=lambda o: (o.start_ms, o.kind, [leg.exchange for leg in o.legs]))
    days = Decimal(len(grid) * tf_ms) / _DAY_MS
    return ArbitrageBacktest(
        opportunities=opportunities,
        summary=Summary.of(opportunities, days, config.size_usd),
        markets=columns,
        grid_ms=grid,
        timeframe_ms=tf_ms,
        spreads=spreads,
        cycles_checked=cycles_checked,
        settings=_settings(config),
    )


def _settings(config: BacktestConfig) -> dict[str, Any]:
    costs = config.costs
    return {
        "min_profit_pct": str(costs.min_profit_pct),
        "taker_fees": {k: str(v) for k, v in sorted(costs.fees.per_exchange.items())},
        "transfer_cost_pct": str(costs.transfer_pct),
        "transfer_cost_usd": str(costs.transfer_usd),
        "half_spread_bps": str(config.half_spread_bps),
        "latency_s": str(config.latency_s),
        "size_usd": str(config.size_usd),
        "participation": str(config.participation),
        "max_cycle_length": config.max_cycle_length,
    }


def _spread(a: MarketColumn, b: MarketColumn, costs: Costs, h: float) -> SpreadSeries:
    market = str(a.symbol)
    fa = float(costs.fees.taker(a.exchange, market))
    fb = float(costs.fees.taker(b.exchange, market))
    hurdle = 1 + float(costs.transfer) + float(costs.min_profit)
    with np.errstate(invalid="ignore"):
        spread = (b.close / a.close - 1) * 100
    upper = ((1 + h) * (1 + fa) * hurdle / ((1 - h) * (1 - fb)) - 1) * 100
    lower = ((1 - h) * (1 - fa) / ((1 + h) * (1 + fb) * hurdle) - 1) * 100
    return SpreadSeries(market, a.exchange, b.exchange, spread, (lower, upper))


def _cross_opportunity(
    buy: MarketColumn,
    sell: MarketColumn,
    start: int,
    end: int,
    steps: int,
    grid: npt.NDArray[np.int64],
    tf_ms: int,
    pricer: _Pricer,
    config: BacktestConfig,
) -> Opportunity | None:
    duration_ms = (end - start) * tf_ms
    if Decimal(duration_ms) < config.latency_s * 1000:
        return None
    costs = config.costs
    market = str(buy.symbol)
    fee_buy = costs.fees.taker(buy.exchange, market)
    fee_sell = costs.fees.taker(sell.exchange, market)
    later = start + steps
    with localcontext(EXACT_CONTEXT):
        ask = pricer.ask(buy, start)
        bid = pricer.bid(sell, later)
        net = bid * (_ONE - fee_sell) / (ask * (_ONE + fee_buy)) - _ONE - costs.transfer
        if net < costs.min_profit:
            return None
        rate = pricer.usd(buy.symbol.quote, buy.exchange, start)
        depth = min(pricer.traded_quote(buy, start), pricer.traded_quote(sell, later))
        max_size = depth * rate * config.participation
        taken = min(config.size_usd, max_size)
        profit = taken * net - costs.transfer_usd
    return Opportunity(
        kind="cross_exchange",
        legs=(
            Leg(buy.exchange, market, "buy", ask, fee_buy),
            Leg(sell.exchange, market, "sell", bid, fee_sell),
        ),
        start_ms=int(grid[start]),
        end_ms=int(grid[start]) + duration_ms,
        gross_pct=(bid / ask - _ONE) * _HUNDRED,
        net_pct=net * _HUNDRED,
        max_size_usd=max_size,
        profit_usd=profit,
        size_usd=taken,
    )


def _cycle_opportunities(
    exchange: str,
    columns: Sequence[MarketColumn],
    steps: int,
    grid: npt.NDArray[np.int64],
    tf_ms: int,
    pricer: _Pricer,
    config: BacktestConfig,
) -> tuple[list[Opportunity], int]:
    costs = config.costs
    # The graph's structure only (its rates are placeholders): the cycles the markets allow.
    structure = RateGraph(
        [
            MarketQuote(c.symbol, 1.0, 2.0, float(costs.fees.taker(exchange, str(c.symbol))))
            for c in columns
        ]
    )
    by_symbol = {c.symbol: c for c in columns}
    h = float(pricer.half_spread)
    found: list[Opportunity] = []
    cycles = enumerate_cycles(structure, config.max_cycle_length)
    for cycle in cycles:
        edges = [structure.edges[e] for e in cycle]
        log_rate = np.zeros(len(grid))
        for k, edge in enumerate(edges):
            column = by_symbol[edge.symbol]
            fee = float(costs.fees.taker(exchange, str(edge.symbol)))
            close = _shift(column.close, k * steps)
            with np.errstate(invalid="ignore"):
                if edge.side == "sell":
                    log_rate += np.log(close * (1 - h) * (1 - fee))
                else:
                    log_rate += np.log((1 - fee) / (close * (1 + h)))
        with np.errstate(invalid="ignore"):
            mask = log_rate >= np.log1p(float(costs.min_profit)) - 1e-12
        for start, end in _runs(mask):
            opportunity = _cycle_opportunity(
                exchange, edges, by_symbol, start, end, steps, grid, tf_ms, pricer, config
            )
            if opportunity is not None:
                found.append(opportunity)
    return found, len(cycles)


def _cycle_opportunity(
    exchange: str,
    edges: Sequence[Any],
    by_symbol: dict[Symbol, MarketColumn],
    start: int,
    end: int,
    steps: int,
    grid: npt.NDArray[np.int64],
    tf_ms: int,
    pricer: _Pricer,
    config: BacktestConfig,
) -> Opportunity | None:
    duration_ms = (end - start) * tf_ms
    if Decimal(duration_ms) < config.latency_s * 1000:
        return None
    costs = config.costs
    legs: list[Leg] = []
    with localcontext(EXACT_CONTEXT):
        rate, gross = _ONE, _ONE
        depths = []
        for k, edge in enumerate(edges):
            column = by_symbol[edge.symbol]
            index = start + k * steps
            fee = costs.fees.taker(exchange, str(edge.symbol))
            side: LegSide = edge.side
            if side == "sell":
                price = pricer.bid(column, index)
                rate *= price * (_ONE - fee)
                gross *= price
            else:
                price = pricer.ask(column, index)
                rate *= (_ONE - fee) / price
                gross /= price
            legs.append(Leg(exchange, str(edge.symbol), side, price, fee))
            quote_usd = pricer.usd(edge.symbol.quote, exchange, index)
            depths.append(pricer.traded_quote(column, index) * quote_usd)
        net = rate - _ONE
        if net < costs.min_profit:
            return None
        max_size = min(depths) * config.participation
        taken = min(config.size_usd, max_size)
        profit = taken * net - costs.transfer_usd
    return Opportunity(
        kind="cycle",
        legs=tuple(legs),
        start_ms=int(grid[start]),
        end_ms=int(grid[start]) + duration_ms,
        gross_pct=(gross - _ONE) * _HUNDRED,
        net_pct=net * _HUNDRED,
        max_size_usd=max_size,
        profit_usd=profit,
        size_usd=taken,
    )
