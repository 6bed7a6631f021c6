"""``sigmax report --period day|week|month`` and ``sigmax stats win-rate``.

The period ends at the account's newest equity snapshot (the run's clock: market time in a
replay, the wall clock live) and reaches back one day, seven days or thirty days. Figures:

* PnL: equity at the end minus equity at the start (the newest snapshot at or before it);
* trades: round trips per symbol from flat to flat, closed in the period; a trade's PnL is its
  realized PnL net of every fee of its fills, a win when above zero (as the loss-streak trigger
  counts); the win rate is wins over closed trades;
* fees of the fills in the period; the largest drawdown of equity (peak to trough) in it;
* pauses and panics with their causes, from the safety record;
* buy-and-hold: the starting equity split evenly over the run's symbols, bought at the first
  decision's price in the period and held to the last.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, select_autoescape
from sqlalchemy import select

from sigmax.domain.candles import ms_to_iso
from sigmax.ops.store import FillView, StoreView, load_store
from sigmax.storage.database import Database
from sigmax.storage.models import DecisionRow

_DAY_MS: Final = 86_400_000
_CENT: Final = Decimal("0.01")


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def ms(self) -> int:
        return {"day": 1, "week": 7, "month": 30}[self.value] * _DAY_MS


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    symbol: str
    opened_ms: int
    closed_ms: int
    net_pnl: Decimal


def closed_trades(fills: list[FillView]) -> list[ClosedTrade]:
    """Round trips from flat to flat per symbol, in time order."""
    trades: list[ClosedTrade] = []
    open_: dict[str, tuple[Decimal, Decimal, int]] = {}
    for fill in sorted(fills, key=lambda f: (f.filled_at_ms, f.id)):
        qty, pnl, opened = open_.get(fill.symbol, (Decimal(0), Decimal(0), fill.filled_at_ms))
        qty += fill.qty if fill.side.value == "buy" else -fill.qty
        pnl += fill.realized_pnl - fill.fee
        if qty == 0:
            trades.append(ClosedTrade(fill.symbol, opened, fill.filled_at_ms, pnl))
            open_.pop(fill.symbol, None)
        else:
            open_[fill.symbol] = (qty, pnl, opened)
    return trades


@dataclass(frozen=True, slots=True)
class WinRate:
    trades: int
    wins: int

    @property
    def rate(self) -> Decimal | None:
        if not self.trades:
            return None
        return (Decimal(self.wins) * 100 / Decimal(self.trades)).quantize(_CENT, ROUND_HALF_EVEN)

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.trades - self.wins,
            "win_rate_pct": None if rate is None else format(rate, "f"),
        }


def win_rate(trades: list[ClosedTrade]) -> WinRate:
    return WinRate(len(trades), sum(1 for t in trades if t.net_pnl > 0))


@dataclass(frozen=True, slots=True)
class PeriodReport:
    period: str
    run_id: str | None
    start_ms: int | None
    end_ms: int | None
    start_equity: Decimal | None
    end_equity: Decimal | None
    fills: int
    fees: Decimal
    wins: WinRate
    max_drawdown_usd: Decimal
    max_drawdown_pct: Decimal | None
    pauses: list[dict[str, str | None]]
    buy_and_hold_pnl: Decimal | None

    @property
    def pnl(self) -> Decimal | None:
        if self.start_equity is None or self.end_equity is None:
            return None
        return self.end_equity - self.start_equity

    def as_json(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "period": self.period,
            "run_id": self.run_id,
            "from": None if self.start_ms is None else ms_to_iso(self.start_ms),
            "to": None if self.end_ms is None else ms_to_iso(self.end_ms),
            "start_equity": text(self.start_equity),
            "end_equity": text(self.end_equity),
            "pnl": text(self.pnl),
            "fills": self.fills,
            "fees": text(self.fees),
            **self.wins.as_json(),
            "max_drawdown_usd": text(self.max_drawdown_usd),
            "max_drawdown_pct": text(self.max_drawdown_pct),
            "pauses": self.pauses,
            "buy_and_hold_pnl": text(self.buy_and_hold_pnl),
            "vs_buy_and_hold": text(
                None
                if self.pnl is None or self.buy_and_hold_pnl is None
                else self.pnl - self.buy_and_hold_pnl
            ),
        }


def period_report(db: Database, period: Period) -> PeriodReport:
    with db.session() as session:
        view = load_store(session)
        run = view.account_run
        snaps = [s for s in view.equity if run is not None and s.run_id == run.id]
        if run is None or not snaps:
            return PeriodReport(
                period.value, None if run is None else run.id, None, None, None, None, 0,
                Decimal(0), WinRate(0, 0), Decimal(0), None, [], None,
            )  # fmt: skip
        end = snaps[-1].taken_at_ms
        start = end - period.ms
        before = [s for s in snaps if s.taken_at_ms <= start]
        inside = [s for s in snaps if start < s.taken_at_ms <= end]
        opening = before[-1] if before else inside[0]
        bh = _buy_and_hold(session, view, run.id, start, end, opening.equity)
    fills = [f for f in view.fills if start <= f.filled_at_ms < end]
    trades = [t for t in closed_trades(view.fills) if start <= t.closed_ms < end]
    peak = opening.equity
    worst, worst_pct = Decimal(0), None
    for snap in [opening, *inside]:
        peak = max(peak, snap.equity)
        drop = peak - snap.equity
        if drop > worst:
            worst = drop
            worst_pct = (drop * 100 / peak).quantize(_CENT, ROUND_HALF_EVEN) if peak else None
    pauses = [
        {
            "time": ms_to_iso(e.occurred_at_ms),
            "kind": e.kind,
            "trigger": e.trigger,
            "reason": e.reason,
        }
        for e in view.safety
        if start <= e.occurred_at_ms < end and e.kind in ("pause", "panic", "trigger")
    ]
    return PeriodReport(
        period=period.value,
        run_id=run.id,
        start_ms=start,
        end_ms=end,
        start_equity=opening.equity,
        end_equity=snaps[-1].equity,
        fills=len(fills),
        fees=sum((f.fee for f in fills), Decimal(0)),
        wins=win_rate(trades),
        max_drawdown_usd=worst,
        max_drawdown_pct=worst_pct,
        pauses=pauses,
        buy_and_hold_pnl=bh,
    )


def _buy_and_hold(
    session: Any, view: StoreView, run_id: str, start: int, end: int, equity: Decimal
) -> Decimal | None:
    symbols = sorted({d.symbol for d in view.decisions if d.run_id == run_id})
    if not symbols:
        return None
    share = equity / len(symbols)
    total = Decimal(0)
    for symbol in symbols:
        prices = []
        for order in (DecisionRow.decided_at_ms, DecisionRow.decided_at_ms.desc()):
            record = session.scalar(
                select(DecisionRow.record)
                .where(DecisionRow.run_id == run_id, DecisionRow.symbol == symbol,
                       DecisionRow.decided_at_ms >= start, DecisionRow.decided_at_ms <= end)
                .order_by(order).limit(1)
            )  # fmt: skip
            price = None if record is None else record.get("price")
            if not isinstance(price, int | float) or price <= 0:
                return None
            prices.append(Decimal(repr(float(price))))
        total += share * (prices[1] / prices[0] - 1)
    return total.quantize(_CENT, ROUND_HALF_EVEN)


def all_time_win_rate(db: Database) -> WinRate:
    with db.session() as session:
        view = load_store(session)
    return win_rate(closed_trades(view.fills))


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SIGMAX {{ r.period }} report</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>
<h1>SIGMAX {{ r.period }} report</h1>
<p>Run {{ r.run_id }}, {{ r["from"] }} to {{ r.to }}</p>
<table>{% for key, value in rows %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
<h2>Pauses and panics</h2>
{% if r.pauses %}<table><tr><th>time</th><th>kind</th><th>trigger</th><th>reason</th></tr>
{% for p in r.pauses %}<tr><td>{{ p.time }}</td><td>{{ p.kind }}</td><td>{{ p.trigger or "" }}</td>
<td>{{ p.reason }}</td></tr>{% endfor %}</table>{% else %}<p>None.</p>{% endif %}
</body></html>
"""


def write_html(report: PeriodReport, path: Path) -> Path:
    body = report.as_json()
    rows = [(k, "" if v is None else v) for k, v in body.items() if k not in ("pauses", "run_id")]
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(env.from_string(_HTML).render(r=body, rows=rows), encoding="utf-8")
    return path


def by_symbol(trades: list[ClosedTrade]) -> dict[str, WinRate]:
    grouped: dict[str, list[ClosedTrade]] = defaultdict(list)
    for trade in trades:
        grouped[trade.symbol].append(trade)
    return {symbol: win_rate(items) for symbol, items in sorted(grouped.items())}
