"""Where a run's account is assembled: the ledger, the venue and the trader that owns them,
new or from a stored resume point, for replay, backtest, paper live and the CLI's offline
commands alike. The engine itself never names a concrete venue: it is given a
:class:`~sigmax.engine.trader.Trader`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sigmax.config import Settings
from sigmax.domain.ledger import Ledger, LedgerError
from sigmax.domain.market import MarketSpec
from sigmax.engine.gate import OrderGate
from sigmax.engine.resume import ResumePoint, ResumePointError
from sigmax.engine.trader import Trader
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.execution.instruments import OrderRules
from sigmax.execution.paper import PaperVenue, SnapshotError
from sigmax.execution.venue import Venue


def paper_trader(
    settings: Settings,
    specs: Mapping[str, MarketSpec],
    symbols: Sequence[str],
    fees: FeeSchedule,
    slippage: SlippageModel,
    gate: OrderGate,
    point: ResumePoint | None = None,
) -> Trader:
    """The trader of a paper account (the paper venue's simulated fills): a new account with
    the profile's starting capital, or the one ``point`` left."""
    traded = {s: specs[s] for s in symbols if s in specs}
    if point is None:
        ledger = Ledger(settings.profile.starting_capital_usd)
        venue = PaperVenue(traded, fees, slippage, cash=ledger.cash)
    else:
        ledger = restored_ledger(point)
        venue = PaperVenue(traded, fees, slippage, cash=ledger.cash)
        if point.venue is None:
            raise ResumePointError("resume point venue: missing for the paper venue")
        # A venue snapshot from before the venue kept an account: its fills made the
        # ledger's cash and positions.
        balances = {venue.quote: ledger.cash}
        for symbol, position in ledger.open_positions().items():
            balances[symbol.split("/")[0]] = position.qty
        try:
            venue.restore(point.venue, balances)
        except SnapshotError as error:
            raise ResumePointError(f"resume point venue: {error}") from None
    return account_trader(settings, ledger, venue, traded, fees, gate, point)


def restored_ledger(point: ResumePoint) -> Ledger:
    """The ledger a resume point holds, or a :class:`ResumePointError` naming the problem."""
    try:
        return Ledger.restore(point.ledger)
    except LedgerError as error:
        raise ResumePointError(f"resume point ledger: {error}") from None


def account_trader(
    settings: Settings,
    ledger: Ledger,
    venue: Venue,
    specs: Mapping[str, MarketSpec],
    fees: FeeSchedule,
    gate: OrderGate,
    point: ResumePoint | None,
) -> Trader:
    """The trader over ``ledger`` and ``venue`` (paper or exchange), with what ``point``
    left of the account's per-symbol state (cursor, marks, volumes, protection, trades)."""
    trader = Trader(
        ledger=ledger,
        venue=venue,
        rules={s: OrderRules(spec) for s, spec in specs.items()},
        gate=gate,
        fees=fees,
        max_slippage_pct=settings.safety.max_slippage_pct,
    )
    if point is not None:
        trader.cursor = dict(point.cursor)
        trader.marks = dict(point.marks)
        trader.volumes = dict(point.volumes)
        trader.protection = dict(point.protection)
        trader.trades = dict(point.trades)
    return trader
