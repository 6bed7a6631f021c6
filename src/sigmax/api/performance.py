"""The ``performance`` block of ``GET /api/status``: the runbook's ``jq '.performance.daily_pnl'``.

Plain JSON numbers for scripts and dashboards (``daily_pnl``, ``total_pnl``, ``equity``,
``win_rate``), computed from the exact figures that ``/api/portfolio`` gives as decimal text.
A closed trade is a position from its first fill until it is flat again; it is won when its
realised PnL net of every fee is above zero (the count the loss-streak trigger uses).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from sigmax.domain.orders import OrderSide
from sigmax.engine.account import (
    AccountHome,
    AccountStateError,
    Portfolio,
    Trade,
    decimal_text,
    newest_run,
    read_portfolio,
    read_trades,
)

_ZERO: Final = Decimal(0)


class PerformanceOut(BaseModel):
    """How the account does, as JSON numbers (exact text in ``/api/portfolio``)."""

    model_config = ConfigDict(extra="forbid")

    equity: float = Field(description="Cash plus positions at the last marks, USD.")
    daily_pnl: float = Field(description="Change in equity since 00:00 UTC of the run's day.")
    total_pnl: float = Field(description="Equity minus the starting capital, fees included.")
    win_rate: float | None = Field(
        description="Won closed trades / closed trades (0..1); null before the first one."
    )
    closed_trades: int
    starting_capital: str = Field(description="Exact decimal text, USD.")


def performance(home: AccountHome) -> PerformanceOut:
    """The newest run's performance (with no run: the profile's untouched capital)."""
    account = read_portfolio(home)
    capital = _starting_capital(home, account)
    won, closed = closed_trade_results(read_trades(home))
    return PerformanceOut(
        equity=float(account.equity),
        daily_pnl=float(account.daily_pnl),
        total_pnl=float(account.equity - capital),
        win_rate=None if closed == 0 else won / closed,
        closed_trades=closed,
        starting_capital=decimal_text(capital),
    )


def closed_trade_results(trades: list[Trade]) -> tuple[int, int]:
    """(won, closed) over ``trades`` (oldest first): a trade closes when its position is flat."""
    held: dict[str, Decimal] = {}
    net: dict[str, Decimal] = {}
    won = closed = 0
    for trade in trades:
        signed = trade.qty if trade.side is OrderSide.BUY else -trade.qty
        held[trade.symbol] = held.get(trade.symbol, _ZERO) + signed
        net[trade.symbol] = net.get(trade.symbol, _ZERO) + trade.realized_pnl - trade.fee
        if held[trade.symbol] <= 0:
            closed += 1
            won += net[trade.symbol] > 0
            held.pop(trade.symbol)
            net.pop(trade.symbol)
    return won, closed


def _starting_capital(home: AccountHome, account: Portfolio) -> Decimal:
    """The capital the run started with (its own, not today's profile, which may differ)."""
    if account.run_id is None:
        return home.settings.profile.starting_capital_usd
    with home.db.session() as session:
        run = newest_run(session)
    text = None if run is None else run.config.get("starting_capital")
    try:
        capital = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        capital = None
    if capital is None or not capital.is_finite():
        raise AccountStateError(
            f"run {account.run_id} config.starting_capital: expected a decimal string "
            f"(got {text!r})"
        )
    return capital
