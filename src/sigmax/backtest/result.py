"""A backtest's result: its trades, equity curve, metrics, configuration and data checksums.

``to_json`` is deterministic: the same candles and configuration give the same bytes (no wall
clock, no elapsed time, fixed key order, money as exact decimal text). Results are kept as
``$SIGMAX_HOME/backtests/<id>.json``; ``sigmax backtest --list`` reads them back.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from sigmax.backtest.metrics import (
    ClosedTrade,
    EquityCurve,
    Metrics,
    buy_and_hold_return,
    compute_metrics,
)
from sigmax.backtest.runner import BacktestRun
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.orders import OrderSide
from sigmax.errors import InputError

RESULT_VERSION = 1
RESULTS_DIR = "backtests"

_EXIT_REASONS = {
    "sgx-stop-": "stop_loss",
    "sgx-target": "take_profit",
    "sgx-exit-": "signal",
    "sgx-panic-": "panic",
}


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A closed round trip and the decision that opened it."""

    trade: ClosedTrade
    decision_id: str | None
    explanation: str


@dataclass(frozen=True, slots=True)
class BacktestResult:
    id: str
    config: dict[str, Any]
    metrics: Metrics
    trades: tuple[TradeRecord, ...]
    fills: tuple[dict[str, Any], ...]
    curve: EquityCurve
    buy_and_hold_curve: np.ndarray[tuple[int], np.dtype[np.float64]]
    candles: int
    decisions: dict[str, int]
    #: The LLM's answers (``--llm``, see :mod:`sigmax.backtest.llm`); None without it.
    llm: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": RESULT_VERSION,
            "id": self.id,
            "config": self.config,
            "metrics": self.metrics.to_dict(),
            "candles": self.candles,
            "decisions": dict(self.decisions),
            "trades": [
                {
                    "symbol": r.trade.symbol,
                    "entry": ms_to_iso(r.trade.entry_ms),
                    "exit": ms_to_iso(r.trade.exit_ms),
                    "qty": str(r.trade.qty),
                    "entry_price": str(r.trade.entry_price),
                    "exit_price": str(r.trade.exit_price),
                    "pnl": str(r.trade.pnl),
                    "fees": str(r.trade.fees),
                    "exit_reason": r.trade.exit_reason,
                    "decision_id": r.decision_id,
                }
                for r in self.trades
            ],
            "fills": list(self.fills),
        }
        if self.llm is not None:
            # Only a run asked with --llm has the section: other results stay as they were.
            document["llm"] = self.llm
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False, separators=(",", ":"))


def build_result(run: BacktestRun) -> BacktestResult:
    """Trades, equity curve and metrics from what the engine did."""
    capital = float(run.settings.profile.starting_capital_usd)
    closes = run.closes_ms
    if len(closes) == 0:
        raise InputError("--from/--to: the window holds no candle of the chosen markets")
    # A point per group of the window, stepped or passed over: the equity at each close.
    point_ms, point_equity = run.sink.equity_curve()
    at = np.searchsorted(point_ms, closes, "right") - 1
    equity = np.where(at >= 0, point_equity[np.maximum(at, 0)], capital)
    timeframe_ms = next(iter(run.series.values())).timeframe.ms
    curve = EquityCurve(closes, equity, capital, start_ms=int(closes[0]) - timeframe_ms)
    trades = _trades(run)
    exposure = _exposure(closes, curve.period_start_ms, trades, run)
    first_open: dict[str, float] = {}
    window_closes: dict[str, np.ndarray[tuple[int], np.dtype[np.float64]]] = {}
    hold_curve = np.zeros(len(closes))
    for symbol, series in run.series.items():
        ends = series.timestamp + np.int64(series.timeframe.ms)
        inside = (ends >= closes[0]) & (ends <= closes[-1])
        if not inside.any():
            continue
        first = int(np.argmax(inside))
        first_open[symbol] = float(series.open[first])
        window_closes[symbol] = series.close[inside].astype(np.float64)
        # Buy-and-hold equity: an equal share of the capital in each symbol from its first open.
        position = np.searchsorted(ends[inside], closes, "right") - 1
        valued = np.where(
            position >= 0,
            window_closes[symbol][np.maximum(position, 0)] / first_open[symbol],
            1.0,
        )
        hold_curve = hold_curve + valued
    hold_curve = capital * hold_curve / max(1, len(first_open))
    fees_paid = sum((f.fill.fee for f in run.sink.fills), Decimal(0))
    metrics = compute_metrics(
        curve,
        [r.trade for r in trades],
        exposure=exposure,
        buy_and_hold=buy_and_hold_return(first_open, window_closes),
        fees_paid=fees_paid,
    )
    fills = tuple(
        {
            "client_order_id": f.fill.client_order_id,
            "decision_id": f.decision_id,
            "symbol": f.fill.symbol,
            "side": f.fill.side.value,
            "qty": str(f.fill.qty),
            "price": str(f.fill.price),
            "fee": str(f.fill.fee),
            "timestamp": ms_to_iso(f.fill.timestamp_ms),
        }
        for f in run.sink.fills
    )
    return BacktestResult(
        id=run.id,
        config=run.config,
        metrics=metrics,
        trades=tuple(trades),
        fills=fills,
        curve=curve,
        buy_and_hold_curve=hold_curve,
        candles=run.window_candles,
        decisions=dict(run.totals.decisions),
        llm=None if run.llm is None else run.llm.to_result(),
    )


@dataclass(slots=True)
class _OpenTrade:
    first: Any  # the entry Fill
    decision_id: str | None
    qty: Decimal
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


def _trades(run: BacktestRun) -> list[TradeRecord]:
    """Round trips from the fills: buys open (or add to) a position, sells reduce it, and the
    trade closes when nothing is left."""
    holding: dict[str, _OpenTrade] = {}
    records: list[TradeRecord] = []
    for item in run.sink.fills:
        fill = item.fill
        trade = holding.get(fill.symbol)
        if fill.side is OrderSide.BUY:
            if trade is None:
                trade = holding[fill.symbol] = _OpenTrade(fill, item.decision_id, Decimal(0))
            trade.qty += fill.qty
            trade.fees += fill.fee
            continue
        if trade is None:
            continue
        trade.qty -= fill.qty
        trade.realized += item.realized_pnl
        trade.fees += fill.fee
        if trade.qty > 0:
            continue
        del holding[fill.symbol]
        reason = next(
            (r for prefix, r in _EXIT_REASONS.items() if fill.client_order_id.startswith(prefix)),
            "manual",
        )
        records.append(
            TradeRecord(
                ClosedTrade(
                    symbol=fill.symbol,
                    entry_ms=trade.first.timestamp_ms,
                    exit_ms=fill.timestamp_ms,
                    qty=trade.first.qty,
                    entry_price=trade.first.price,
                    exit_price=fill.price,
                    pnl=trade.realized - trade.fees,
                    fees=trade.fees,
                    exit_reason=reason,
                ),
                trade.decision_id,
                _explanation(run, trade.decision_id),
            )
        )
    return records


def _explanation(run: BacktestRun, decision_id: str | None) -> str:
    """The opening decision's reasoning: the verdict, both sides, the risk assessment."""
    record = run.sink.decisions.get(decision_id) if decision_id else None
    if record is None:
        return ""
    reasoning = record.reasoning
    text = (
        f"{reasoning.get('decision', '')} Bull: {reasoning.get('bull_argument', '')} "
        f"Bear: {reasoning.get('bear_argument', '')} "
        f"Risk: {reasoning.get('risk_assessment', '')}"
    )
    summary = None if run.llm is None else run.llm.summary_of(decision_id)
    return text if summary is None else f"{text} LLM: {summary}"


def _exposure(
    closes: np.ndarray[tuple[int], np.dtype[np.int64]],
    start_ms: int,
    trades: list[TradeRecord],
    run: BacktestRun,
) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    """Per step: was a position open at any moment of it (previous close, this close]?"""
    exposed = np.zeros(len(closes), dtype=bool)
    previous = np.concatenate(([start_ms], closes[:-1]))
    spans = [(r.trade.entry_ms, r.trade.exit_ms) for r in trades]
    for symbol, position in run.ledger.open_positions().items():
        if position.qty > 0:
            opened = max(
                (f.fill.timestamp_ms for f in run.sink.fills if f.fill.symbol == symbol),
                default=int(closes[0]),
            )
            spans.append((opened, int(closes[-1])))
    for entry, exit_ in spans:
        exposed |= (previous < exit_) & (closes > entry)
    return exposed


def save_result(result: BacktestResult, home: Path) -> Path:
    """Write the result atomically under ``home/backtests``."""
    folder = home / RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{result.id}.json"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(result.to_json())
    os.replace(temporary, target)
    return target


def list_results(home: Path) -> list[dict[str, Any]]:
    """Past backtests of ``home``: id, strategy, window, symbols and the headline metrics."""
    folder = home / RESULTS_DIR
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        config = document.get("config", {})
        metrics = document.get("metrics", {})
        rows.append(
            {
                "id": document.get("id"),
                "strategy": config.get("strategy"),
                "profile": config.get("profile"),
                "symbols": config.get("symbols"),
                "from": config.get("from"),
                "to": config.get("to"),
                "total_return": metrics.get("total_return"),
                "trades": metrics.get("trades"),
                "final_equity": metrics.get("final_equity"),
            }
        )
    return rows


def write_backtest_report(run: BacktestRun, result: BacktestResult, path: Path) -> Path:
    """The self-contained HTML report of ``result`` (see :mod:`sigmax.backtest.report`)."""
    from sigmax.backtest import report_model as model
    from sigmax.backtest.report import write_report

    window = (int(result.curve.timestamps_ms[0]), int(result.curve.timestamps_ms[-1]))
    candles: dict[str, model.SymbolCandles] = {}
    for symbol, series in run.series.items():
        ends = series.timestamp + np.int64(series.timeframe.ms)
        inside = (ends >= window[0]) & (ends <= window[1])
        if inside.any():
            candles[symbol] = model.SymbolCandles(
                series.timestamp[inside],
                series.open[inside],
                series.high[inside],
                series.low[inside],
                series.close[inside],
            )
    trades = [
        model.ReportTrade(
            symbol=r.trade.symbol,
            side=model.TradeSide.LONG,
            entry_ms=r.trade.entry_ms,
            entry_price=float(r.trade.entry_price),
            exit_ms=r.trade.exit_ms,
            exit_price=float(r.trade.exit_price),
            qty=float(r.trade.qty),
            pnl=float(r.trade.pnl),
            fees=float(r.trade.fees),
            exit_reason=r.trade.exit_reason,
            explanation=r.explanation or "(no decision: a manual order)",
        )
        for r in result.trades
        if r.trade.symbol in candles
    ]
    data = model.ReportInput(
        title=f"SIGMAX backtest {result.id[:12]} ({result.config['strategy']})",
        generated_from=result.id,
        equity=model.EquityCurve(result.curve.timestamps_ms, result.curve.equity),
        buy_and_hold=model.EquityCurve(result.curve.timestamps_ms, result.buy_and_hold_curve),
        candles=candles,
        trades=trades,
        metrics=result.metrics.to_dict(),
        config=result.config,
    )
    return write_report(data, path)
