"""``sigmax rebuild-history``: rebuild what the fills and orders determine, say what they do not.

The fills are the account's record and the resume point's ledger holds a second copy of each
(order, sequence, side, quantity, price, fee, realized PnL, time). So:

* a fill row that is missing while the ledger holds it is written back from the ledger entry
  (its candle time is not in the ledger: it stays empty);
* each order's filled quantity becomes the sum of its fills;
* the ``positions`` table is rewritten from the fills (quantity, average price, realized PnL);
* a ledger that disagrees with the fills is rebuilt from them, keeping the stored daily opening
  equities and last marks (they need the market's prices at each moment, which the fills do not
  hold);
* equity snapshots need the marks at each moment: those that disagree with the fills are named,
  not rewritten (a new replay regenerates them).

Refused while an engine runs on the store (its next step would overwrite the repair).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from sigmax.domain.ledger import Ledger
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.lease import engine_alive
from sigmax.errors import InputError
from sigmax.ops.resume import read_resume_point, write_ledger
from sigmax.ops.store import load_store, replay_fills
from sigmax.ops.verify import verify_view
from sigmax.storage.database import Database
from sigmax.storage.models import FillRow, OrderRow, PositionRow


@dataclass(slots=True)
class RebuildReport:
    rebuilt: list[str] = field(default_factory=list)
    not_rebuilt: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if not self.remaining else 2

    def as_json(self) -> dict[str, Any]:
        return {
            "rebuilt": self.rebuilt,
            "not_rebuilt": self.not_rebuilt,
            "remaining_problems": self.remaining,
        }


def rebuild_history(db: Database) -> RebuildReport:
    lease = engine_alive(db)
    if lease is not None:
        raise InputError(
            f"an engine is running on this store ({lease.describe()}); stop it before "
            "rebuilding its history"
        )
    report = RebuildReport()
    with db.transaction() as session:
        view = load_store(session)
        run = view.account_run
        if run is None:
            report.not_rebuilt.append("the store holds no run: nothing to rebuild")
            return report
        orders = {o.id: o for o in view.orders}
        by_client = {o.client_order_id: o for o in view.orders}
        have = {
            (orders[f.order_id].client_order_id, f.trade_seq)
            for f in view.fills
            if f.order_id in orders
        }
        point = view.resume
        stored_ledger: Ledger | None = None
        if point is None:
            report.not_rebuilt.append(
                f"run {run.id} has no resume point: missing fills cannot be recovered"
            )
        else:
            stored_ledger = point.ledger()
            currency = view.fills[0].fee_currency if view.fills else "USDT"
            for entry in stored_ledger.entries:
                if (
                    entry.client_order_id is None
                    or entry.fill_sequence is None
                    or entry.side is None
                ):
                    continue
                key = (entry.client_order_id, entry.fill_sequence + 1)
                if key in have:
                    continue
                order = by_client.get(entry.client_order_id)
                if order is None:
                    report.not_rebuilt.append(
                        f"the ledger's fill of order {entry.client_order_id} cannot be written "
                        "back: the order itself is not stored"
                    )
                    continue
                session.add(
                    FillRow(
                        order_id=order.id,
                        trade_seq=entry.fill_sequence + 1,
                        exchange_trade_id=None,
                        symbol=entry.symbol,
                        side=entry.side,
                        qty=entry.qty,
                        price=entry.price,
                        fee=entry.fee,
                        fee_currency=currency,
                        realized_pnl=entry.realized_pnl,
                        filled_at_ms=entry.timestamp_ms,
                        candle_open_ms=None,
                        decision_id=order.decision_id,
                    )
                )
                report.rebuilt.append(
                    f"fill #{entry.fill_sequence} of order {entry.client_order_id} written back "
                    f"from the ledger ({entry.side.value} {entry.qty} {entry.symbol} at "
                    f"{entry.price}); its candle time is unknown"
                )
            session.flush()
            view = load_store(session)
            orders = {o.id: o for o in view.orders}
        totals: dict[int, Decimal] = {}
        for fill in view.fills:
            totals[fill.order_id] = totals.get(fill.order_id, Decimal(0)) + fill.qty
        for order in view.orders:
            total = totals.get(order.id, Decimal(0))
            if total != order.filled_qty:
                session.execute(
                    update(OrderRow).where(OrderRow.id == order.id).values(filled_qty=total)
                )
                report.rebuilt.append(
                    f"order {order.client_order_id}: filled quantity {order.filled_qty} -> {total}"
                )
        replay = replay_fills(view.fills, orders, run.starting_capital)
        for fill, reason in replay.refused:
            report.not_rebuilt.append(f"fill {fill.id} left out of the account: {reason}")
        stored_positions = {s: (q, a, r) for s, q, a, r in view.positions}
        now = wall_clock_ms()
        for symbol, position in sorted(replay.ledger.all_positions().items()):
            want = (position.qty, position.avg_price, position.realized_pnl)
            if stored_positions.get(symbol) == want:
                continue
            row = session.scalar(select(PositionRow).where(PositionRow.symbol == symbol))
            if row is None:
                session.add(
                    PositionRow(
                        symbol=symbol, qty=want[0], avg_price=want[1], realized_pnl=want[2],
                        updated_at_ms=now,
                    )
                )  # fmt: skip
            else:
                row.qty, row.avg_price, row.realized_pnl = want
                row.updated_at_ms = now
            report.rebuilt.append(
                f"position {symbol}: {stored_positions.get(symbol, ('none',))[0]} -> {want[0]} "
                f"(realized {want[2]})"
            )
        for symbol in sorted(set(stored_positions) - set(replay.ledger.all_positions())):
            if stored_positions[symbol][0] != 0:
                session.execute(
                    update(PositionRow)
                    .where(PositionRow.symbol == symbol)
                    .values(qty=Decimal(0), avg_price=Decimal(0), updated_at_ms=now)
                )
                report.rebuilt.append(f"position {symbol}: no fill holds it, set to 0")
        if (
            point is not None
            and stored_ledger is not None
            and _fills_of(stored_ledger) != _fills_of(replay.ledger)
        ):
            rebuilt = _ledger_with_days(replay.ledger, stored_ledger)
            fresh = read_resume_point(session, run.id)
            assert fresh is not None
            write_ledger(session, fresh, rebuilt, fresh.updated_at_ms)
            report.rebuilt.append(
                f"the ledger of run {run.id} rebuilt from {len(view.fills)} fills "
                f"(cash {rebuilt.cash})"
            )
            report.not_rebuilt.append(
                "the ledger's daily opening equities and last marks were kept as stored: "
                "they need the market's prices at each moment"
            )
        session.flush()
        after = verify_view(load_store(session))
    for problem in after.problems:
        if problem.code in ("equity_fills_mismatch", "equity_identity"):
            report.not_rebuilt.append(
                f"{problem.message}: equity snapshots need the marks at each moment; replay "
                "the run in a new SIGMAX_HOME to regenerate them"
            )
        else:
            report.remaining.append(problem.message)
    return report


def _ledger_with_days(rebuilt: Ledger, stored: Ledger) -> Ledger:
    state = rebuilt.snapshot()
    old = stored.snapshot_head()
    for key in ("day_open_equity", "current_day", "last_marks"):
        state[key] = old[key]
    return Ledger.restore(state)


def _fills_of(ledger: Ledger) -> list[tuple[object, ...]]:
    """The ledger's fill entries as values (equal decimals compare equal whatever their
    exponent: the store may keep ``0.0999226`` for ``0.09992260``)."""
    return [
        (e.client_order_id, e.fill_sequence, e.side, e.qty, e.price, e.fee, e.cash_delta,
         e.realized_pnl, e.timestamp_ms)
        for e in ledger.entries
    ]  # fmt: skip
