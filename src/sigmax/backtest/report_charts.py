"""The report's charts: thinning the data to a size a browser draws quickly, and the Plotly specs.

Each chart is returned as Plotly's JSON (``{"data", "layout", "config"}``) for the page to hand
to ``Plotly.newPlot``. Plotly writes that JSON with ``<``, ``>`` and ``/`` escaped, so it is safe
inside a ``<script>`` element whatever the text in it; hover texts are also HTML-escaped because
Plotly renders a subset of HTML tags in them.

Thinning never hides what a reader looks for: the equity and drawdown curves keep each bucket's
minimum and maximum (a drawdown's bottom survives), candles are merged into wider candles (high
and low are the extremes of the merged ones), and trade markers stay at their real times and
prices.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from sigmax.backtest.report_model import EquityCurve, ReportTrade, SymbolCandles, TradeSide
from sigmax.domain.candles import FloatArray, IntArray

__all__ = [
    "MAX_CANDLES_PER_SYMBOL",
    "MAX_CURVE_POINTS",
    "PLOTLY_CONFIG",
    "CandleChart",
    "MonthlyReturn",
    "aggregate_candles",
    "candle_figure",
    "drawdown",
    "equity_figure",
    "iso_seconds",
    "minmax_indices",
    "monthly_figure",
    "monthly_returns",
]

#: Points kept per curve (equity and drawdown of the strategy and of buy-and-hold).
MAX_CURVE_POINTS = 5_000
#: Candles drawn per symbol; more are merged into wider candles.
MAX_CANDLES_PER_SYMBOL = 5_000

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_WEEK_MS = 7 * _DAY_MS
# Epoch day 0 (1970-01-01) was a Thursday; weeks start on Monday 1970-01-05, as exchanges' do.
_WEEK_OFFSET_MS = 4 * _DAY_MS
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_STRATEGY_COLOUR = "#1f77b4"
_BENCHMARK_COLOUR = "#7f7f7f"
_UP_COLOUR = "#26a69a"
_DOWN_COLOUR = "#ef5350"

#: Plotly's page options: no logo link to an outside site, no cloud export.
PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True}


def iso_seconds(timestamps_ms: IntArray) -> list[str]:
    """ISO times to the second (UTC, no zone suffix: Plotly draws naive times as given)."""
    text = np.datetime_as_string(timestamps_ms.astype("datetime64[ms]"), unit="s")
    return [str(item) for item in text]


def _spec(figure: go.Figure) -> str:
    """``{"figure": ..., "config": ...}`` as JSON for ``Plotly.newPlot``.

    Plotly's JSON escapes ``<``, ``>`` and ``/``, so no text can close the ``<script>`` element
    holding it; the json engine (not orjson, even when installed) keeps the bytes the same on
    every machine.
    """
    figure_json = str(pio.to_json(figure, validate=False, engine="json"))
    return '{"figure":' + figure_json + ',"config":' + json.dumps(PLOTLY_CONFIG) + "}"


# --- Thinning -------------------------------------------------------------------------------


def minmax_indices(values: FloatArray, max_points: int) -> IntArray:
    """Indices of at most ``max_points`` points that keep every bucket's minimum and maximum.

    The series is cut into equal runs of consecutive points; each run keeps its lowest and
    highest point, and the first and last points are always kept. Returned sorted.
    """
    count = int(values.size)
    if max_points < 4:
        raise ValueError(f"max_points: need at least 4, got {max_points}")
    if count <= max_points:
        return np.arange(count, dtype=np.int64)
    buckets = (max_points - 2) // 2
    width = -(-count // buckets)
    rows = -(-count // width)
    # Pad with the last value: a padded slot can only tie with the real last point, and ties
    # resolve to the first (real) index, clipped below in any case.
    padded = np.full(rows * width, values[-1], dtype=np.float64)
    padded[:count] = values
    grid = padded.reshape(rows, width)
    offsets = np.arange(rows, dtype=np.int64) * width
    lows = offsets + grid.argmin(axis=1)
    highs = offsets + grid.argmax(axis=1)
    chosen = np.concatenate(([0, count - 1], lows, highs))
    return np.unique(np.minimum(chosen, count - 1)).astype(np.int64)


def drawdown(equity: FloatArray) -> FloatArray:
    """Fraction below the running peak (0 at a new high, -0.25 a quarter below it)."""
    result: FloatArray = equity / np.maximum.accumulate(equity) - 1.0
    return result


# Candle widths tried in order; past a week, the width doubles until the candles fit.
_CANDLE_WIDTHS: tuple[tuple[int, str], ...] = (
    (_HOUR_MS, "1-hour"),
    (4 * _HOUR_MS, "4-hour"),
    (_DAY_MS, "daily"),
    (_WEEK_MS, "weekly"),
)


def _bucket_ids(timestamps_ms: IntArray, width_ms: int) -> IntArray:
    offset = _WEEK_OFFSET_MS if width_ms >= _WEEK_MS else 0
    ids: IntArray = (timestamps_ms - offset) // width_ms
    return ids


def _widths() -> Sequence[tuple[int, str]]:
    widths = list(_CANDLE_WIDTHS)
    weeks = 2
    while weeks <= 1 << 16:
        widths.append((weeks * _WEEK_MS, f"{weeks}-week"))
        weeks *= 2
    return widths


@dataclass(frozen=True, slots=True)
class CandleChart:
    """The candles drawn for one symbol and what was merged to get them."""

    candles: SymbolCandles
    source_count: int
    #: The merged candles' width ("daily"), or None when the candles are drawn as given.
    merged_to: str | None


def aggregate_candles(
    candles: SymbolCandles, max_points: int = MAX_CANDLES_PER_SYMBOL
) -> CandleChart:
    """The candles as given when at most ``max_points``; otherwise merged into the narrowest
    UTC-aligned width (1 h, 4 h, 1 day, 1 week, then doubling weeks) that gives at most
    ``max_points``. A merged candle opens at its bucket's start with its first open, closes with
    its last close, and spans the highest high and the lowest low."""
    count = len(candles)
    if count <= max_points:
        return CandleChart(candles, count, None)
    timestamps = candles.timestamp_ms
    spacing = int(np.min(np.diff(timestamps)))
    for width, label in _widths():
        if width <= spacing:
            continue
        ids = _bucket_ids(timestamps, width)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(ids)) + 1))
        if starts.size > max_points:
            continue
        ends = np.concatenate((starts[1:], [count])) - 1
        merged = SymbolCandles(
            ids[starts] * width + (_WEEK_OFFSET_MS if width >= _WEEK_MS else 0),
            candles.open[starts],
            np.maximum.reduceat(candles.high, starts),
            np.minimum.reduceat(candles.low, starts),
            candles.close[ends],
        )
        return CandleChart(merged, count, label)
    raise ValueError(f"{count} candles cannot be merged into {max_points} or fewer")


# --- Monthly returns ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthlyReturn:
    """The return of one calendar month (UTC): its last equity over the previous month's last
    equity, the first month over the first equity point."""

    year: int
    month: int
    value: float


def monthly_returns(curve: EquityCurve) -> list[MonthlyReturn]:
    """Every calendar month the curve touches, oldest first."""
    months = curve.timestamps_ms.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    ends = np.concatenate((np.flatnonzero(np.diff(months)), [months.size - 1]))
    closing = curve.equity[ends]
    opening = np.concatenate(([curve.equity[0]], closing[:-1]))
    values = closing / opening - 1.0
    return [
        MonthlyReturn(1970 + int(month) // 12, int(month) % 12 + 1, float(value))
        for month, value in zip(months[ends], values, strict=True)
    ]


# --- Figures --------------------------------------------------------------------------------


def _curve_trace(
    curve_x: IntArray, values: FloatArray, name: str, colour: str, hover: str, dash: str
) -> go.Scatter:
    keep = minmax_indices(values, MAX_CURVE_POINTS)
    return go.Scatter(
        x=iso_seconds(curve_x[keep]),
        y=values[keep],
        name=name,
        mode="lines",
        line={"color": colour, "width": 1.5, "dash": dash},
        hovertemplate=hover,
    )


def equity_figure(equity: EquityCurve, buy_and_hold: EquityCurve) -> str:
    """Equity of the strategy and of buy-and-hold above their drawdowns, on one time axis."""
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.65, 0.35],
        subplot_titles=("Equity (USD)", "Drawdown from peak"),
    )
    lines = (
        (equity, "Strategy", _STRATEGY_COLOUR, "solid"),
        (buy_and_hold, "Buy and hold", _BENCHMARK_COLOUR, "dot"),
    )
    for curve, name, colour, dash in lines:
        figure.add_trace(
            _curve_trace(
                curve.timestamps_ms,
                curve.equity,
                name,
                colour,
                "%{x}<br>$%{y:,.2f}<extra>" + name + "</extra>",
                dash,
            ),
            row=1,
            col=1,
        )
    for curve, name, colour, dash in lines:
        trace = _curve_trace(
            curve.timestamps_ms,
            drawdown(curve.equity),
            f"{name} drawdown",
            colour,
            "%{x}<br>%{y:.2%}<extra>" + name + "</extra>",
            dash,
        )
        trace.update(fill="tozeroy", showlegend=False)
        figure.add_trace(trace, row=2, col=1)
    figure.update_yaxes(tickprefix="$", tickformat=",.0f", row=1, col=1)
    figure.update_yaxes(tickformat=".0%", row=2, col=1)
    figure.update_layout(
        template="plotly_white",
        height=560,
        margin={"l": 70, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": 1.08, "x": 0},
        hovermode="x unified",
    )
    return _spec(figure)


def monthly_figure(months: Sequence[MonthlyReturn]) -> str:
    """Years down, months across; each cell the month's return, empty where there is no data."""
    years = sorted({month.year for month in months})
    grid: list[list[float | None]] = [[None] * 12 for _ in years]
    text: list[list[str]] = [[""] * 12 for _ in years]
    for month in months:
        row = years.index(month.year)
        grid[row][month.month - 1] = month.value
        text[row][month.month - 1] = f"{month.value * 100:.2f}%"
    largest = max((abs(month.value) for month in months), default=0.0) or 0.01
    figure = go.Figure(
        go.Heatmap(
            z=grid,
            x=list(_MONTHS),
            y=[str(year) for year in years],
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
            colorscale="RdYlGn",
            zmid=0.0,
            zmin=-largest,
            zmax=largest,
            xgap=2,
            ygap=2,
            colorbar={"tickformat": ".0%", "title": {"text": "Return"}},
        )
    )
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_layout(
        template="plotly_white",
        height=max(180, 60 + 40 * len(years)),
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
    )
    return _spec(figure)


def _marker_text(number: int, trade: ReportTrade, role: str, moment: str, price: float) -> str:
    lines = [
        f"#{number} {trade.side.value} {role}",
        f"{moment} UTC",
        f"price {price:,.8g}",
        f"qty {trade.qty:,.8g}",
    ]
    if role == "exit":
        lines.append(f"PnL {trade.pnl:+,.2f} USD")
        lines.append(trade.exit_reason)
    return "<br>".join(html.escape(line) for line in lines)


def candle_figure(
    symbol: str, chart: CandleChart, trades: Sequence[tuple[int, ReportTrade]]
) -> str:
    """The symbol's candles with an entry and an exit marker per trade (numbered as in the trade
    table)."""
    candles = chart.candles
    figure = go.Figure(
        go.Candlestick(
            x=iso_seconds(candles.timestamp_ms),
            open=candles.open,
            high=candles.high,
            low=candles.low,
            close=candles.close,
            name=html.escape(symbol),
            increasing={"line": {"color": _UP_COLOUR}},
            decreasing={"line": {"color": _DOWN_COLOUR}},
        )
    )
    if trades:
        entry_ms = np.array([trade.entry_ms for _, trade in trades], dtype=np.int64)
        exit_ms = np.array([trade.exit_ms for _, trade in trades], dtype=np.int64)
        entry_times = iso_seconds(entry_ms)
        exit_times = iso_seconds(exit_ms)
        figure.add_trace(
            go.Scatter(
                x=entry_times,
                y=[trade.entry_price for _, trade in trades],
                mode="markers",
                name="Entries",
                marker={
                    "symbol": [
                        "triangle-up" if trade.side is TradeSide.LONG else "triangle-down"
                        for _, trade in trades
                    ],
                    "size": 11,
                    "color": _STRATEGY_COLOUR,
                    "line": {"color": "#ffffff", "width": 1},
                },
                text=[
                    _marker_text(
                        number, trade, "entry", moment.replace("T", " "), trade.entry_price
                    )
                    for (number, trade), moment in zip(trades, entry_times, strict=True)
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=exit_times,
                y=[trade.exit_price for _, trade in trades],
                mode="markers",
                name="Exits",
                marker={
                    "symbol": "x",
                    "size": 10,
                    "color": [
                        _UP_COLOUR if trade.pnl >= 0 else _DOWN_COLOUR for _, trade in trades
                    ],
                    "line": {"color": "#000000", "width": 1},
                },
                text=[
                    _marker_text(number, trade, "exit", moment.replace("T", " "), trade.exit_price)
                    for (number, trade), moment in zip(trades, exit_times, strict=True)
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    figure.update_layout(
        template="plotly_white",
        height=460,
        margin={"l": 70, "r": 20, "t": 20, "b": 40},
        xaxis={"rangeslider": {"visible": False}},
        yaxis={"title": {"text": "Price"}},
        legend={"orientation": "h", "y": 1.06, "x": 0},
    )
    return _spec(figure)
