"""``sigmax verify``: the store's integrity, each problem named with its ids.

Checks, over the stored tables and the newest run's resume point:

* the ledger's accounting identity (:meth:`Ledger.check_balanced`) and the ledger against the
  fill rows: every fill in the ledger has its row and every row is in the ledger, with the same
  quantity, price and fee;
* every fill matched to its order (same symbol and side), each order's filled quantity equal to
  the sum of its fills;
* every order traced to its origin: a decision (which must exist), an operator's command (a
  ``control_commands`` row), a manual order of the CLI, or a panic the safety record shows; and
  every order the engine checked carries its policy verdict;
* the ``positions`` table equal to the positions the fills make (quantity and realized PnL);
* equity snapshots consistent: cash, realized PnL and fees equal to what the fills before each
  snapshot make, and ``equity - starting cash == realized + unrealized - fees`` within the
  ledger's rounding;
* decision ids unique per run, symbol and moment, and no gap in a run's steps: every candle
  close from a symbol's first decision to its resume point's cursor has its decision.

Exit code 2 on any problem (:class:`VerifyReport.exit_code`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from sigmax.domain.candles import ms_to_iso
from sigmax.domain.ledger import LedgerError
from sigmax.domain.orders import OrderPurpose, client_order_id
from sigmax.engine.trader import command_key
from sigmax.ops.resume import ResumePointError
from sigmax.ops.store import (
    FillView,
    OrderView,
    StoreView,
    ledger_sequence,
    load_store,
    replay_fills,
)
from sigmax.storage.database import Database

#: The id scheme of an operator's order for control command N before the command key was
#: hashed into the id (``sgx-manual-cmdN``): still traced in old stores.
LEGACY_COMMAND_ORDER_PREFIX: Final = "sgx-manual-cmd"
_HALF: Final = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: a short code, a sentence, and the ids it concerns."""

    code: str
    message: str
    ids: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "ids": self.ids}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: dict[str, int]
    problems: list[Problem]
    #: What is worth knowing but not wrong: moments where the market data had no candle.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 2

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [p.as_json() for p in self.problems],
            "notes": self.notes,
        }


def verify_store(db: Database) -> VerifyReport:
    with db.session() as session:
        view = load_store(session)
    return verify_view(view)


def verify_view(view: StoreView) -> VerifyReport:
    problems: list[Problem] = []
    orders = {o.id: o for o in view.orders}
    problems += _fills_and_orders(view, orders)
    problems += _origins(view)
    problems += _ledger(view, orders)
    problems += _positions(view, orders)
    problems += _equity(view, orders)
    notes: list[str] = []
    problems += _decisions(view, notes)
    checked = {
        "runs": len(view.runs),
        "orders": len(view.orders),
        "fills": len(view.fills),
        "positions": len(view.positions),
        "equity_snapshots": len(view.equity),
        "decisions": len(view.decisions),
    }
    return VerifyReport(checked, problems, notes)


def origin_of(order: OrderView, view: StoreView) -> tuple[str, str | None]:
    """Where an order came from, read from its ``purpose``, and, when it cannot be traced,
    why: ``("decision", None)``, ``("command 12", None)``, ``("operator (sigmax trade)",
    None)``, ``("panic", None)``.

    An operator's order is traced to its control command through its client id, which derives
    from the command (``client_order_id("cmd<id>", "manual")``, one scheme for a running engine
    and the CLI alike). Two older schemes are still recognised, as what they are: the
    ``sgx-manual-cmd<id>`` ids of operator orders before the command key was hashed, and the
    random ``sgx-manual-<hex>`` ids ``sigmax trade`` gave with no engine running."""
    purpose = order.purpose
    if order.decision_id is not None:
        return "decision", None
    if purpose is OrderPurpose.MANUAL:
        command = _commands_by_order(view).get(order.client_order_id)
        if command is not None:
            return f"command {command}", None
        coid = order.client_order_id
        if coid.startswith(LEGACY_COMMAND_ORDER_PREFIX):
            number = coid[len(LEGACY_COMMAND_ORDER_PREFIX) :]
            if number.isdigit() and int(number) in view.commands:
                return f"command {number}", None
            return f"command {number}", f"names control command {number}, which does not exist"
        return "operator (sigmax trade)", None
    if purpose is OrderPurpose.PANIC:
        if any(event.kind == "panic" for event in view.safety):
            return "panic", None
        return "panic", "is a panic close-out but no panic is recorded in the safety events"
    return "unknown", f"is a {purpose.value} order without a decision"


def _commands_by_order(view: StoreView) -> dict[str, int]:
    """The client id of each control command's manual order (a few dozen commands)."""
    return {client_order_id(command_key(c), "manual"): c for c in view.commands}


def _fills_and_orders(view: StoreView, orders: dict[int, OrderView]) -> list[Problem]:
    problems = []
    filled: dict[int, Decimal] = defaultdict(Decimal)
    for fill in view.fills:
        order = orders.get(fill.order_id)
        if order is None:
            problems.append(
                Problem(
                    "fill_without_order",
                    f"fill {fill.id} names order {fill.order_id}, which does not exist",
                    {"fill_id": fill.id, "order_id": fill.order_id},
                )
            )
            continue
        filled[order.id] += fill.qty
        if (fill.symbol, fill.side) != (order.symbol, order.side):
            problems.append(
                Problem(
                    "fill_order_mismatch",
                    f"fill {fill.id} is a {fill.side.value} of {fill.symbol} but its order "
                    f"{order.client_order_id} is a {order.side.value} of {order.symbol}",
                    {"fill_id": fill.id, "client_order_id": order.client_order_id},
                )
            )
        if fill.decision_id != order.decision_id:
            problems.append(
                Problem(
                    "fill_decision_mismatch",
                    f"fill {fill.id} names decision {fill.decision_id} but its order "
                    f"{order.client_order_id} names {order.decision_id}",
                    {"fill_id": fill.id, "client_order_id": order.client_order_id},
                )
            )
    for order in view.orders:
        total = filled.get(order.id, Decimal(0))
        if total != order.filled_qty:
            problems.append(
                Problem(
                    "order_fills_mismatch",
                    f"order {order.client_order_id} records {order.filled_qty} filled but its "
                    f"fills add up to {total}",
                    {"client_order_id": order.client_order_id, "order_id": order.id},
                )
            )
    return problems


def _origins(view: StoreView) -> list[Problem]:
    problems = []
    decisions = {d.id for d in view.decisions}
    for order in view.orders:
        origin, trouble = origin_of(order, view)
        ids = {"client_order_id": order.client_order_id}
        if order.decision_id is not None and order.decision_id not in decisions:
            problems.append(
                Problem(
                    "order_decision_missing",
                    f"order {order.client_order_id} names decision {order.decision_id}, which "
                    "is not stored",
                    {**ids, "decision_id": order.decision_id},
                )
            )
        if trouble is not None:
            problems.append(
                Problem("order_without_origin", f"order {order.client_order_id} {trouble}", ids)
            )
        # Orders the CLI queued with no engine are checked then; the verdict is not stored.
        if origin != "operator (sigmax trade)" and order.policy_verdict is None:
            problems.append(
                Problem(
                    "order_without_verdict",
                    f"order {order.client_order_id} ({origin}) carries no policy verdict",
                    ids,
                )
            )
    return problems


def _ledger(view: StoreView, orders: dict[int, OrderView]) -> list[Problem]:
    if view.resume is None:
        return []
    run_id = view.resume.run_id
    try:
        ledger = view.resume.ledger()
        ledger.check_balanced()
    except (LedgerError, ResumePointError) as error:
        return [
            Problem("ledger_unbalanced", f"the ledger of run {run_id}: {error}", {"run_id": run_id})
        ]
    problems = []
    rows: dict[tuple[str, int], FillView] = {}
    for fill in view.fills:
        order = orders.get(fill.order_id)
        if order is not None:
            rows[(order.client_order_id, ledger_sequence(fill.trade_seq))] = fill
    seen: set[tuple[str, int]] = set()
    for entry in ledger.entries:
        if entry.client_order_id is None or entry.fill_sequence is None:
            continue
        key = (entry.client_order_id, entry.fill_sequence)
        seen.add(key)
        row = rows.get(key)
        ids = {"client_order_id": entry.client_order_id, "ledger_entry": entry.sequence}
        if row is None:
            problems.append(
                Problem(
                    "fill_missing",
                    f"the ledger of run {run_id} holds fill #{entry.fill_sequence} of order "
                    f"{entry.client_order_id} ({entry.side} {entry.qty} {entry.symbol} at "
                    f"{entry.price}, {ms_to_iso(entry.timestamp_ms)}) but the fills table "
                    "does not",
                    ids,
                )
            )
        elif (row.qty, row.price, row.fee) != (entry.qty, entry.price, entry.fee):
            problems.append(
                Problem(
                    "fill_ledger_mismatch",
                    f"fill {row.id} ({row.qty} at {row.price}, fee {row.fee}) differs from the "
                    f"ledger's entry ({entry.qty} at {entry.price}, fee {entry.fee})",
                    {**ids, "fill_id": row.id},
                )
            )
    for key, row in rows.items():
        if key not in seen:
            problems.append(
                Problem(
                    "fill_not_in_ledger",
                    f"fill {row.id} (order {key[0]}) is not in the ledger of run {run_id}",
                    {"fill_id": row.id, "client_order_id": key[0]},
                )
            )
    return problems


def _positions(view: StoreView, orders: dict[int, OrderView]) -> list[Problem]:
    run = view.account_run
    if run is None:
        return []
    replay = replay_fills(view.fills, orders, run.starting_capital)
    problems = [
        Problem(
            "fill_refused_by_ledger",
            f"fill {fill.id} cannot be applied to the account its earlier fills make: {reason}",
            {"fill_id": fill.id},
        )
        for fill, reason in replay.refused
        if fill.order_id in orders
    ]
    made = replay.ledger.all_positions()
    stored = {symbol: (qty, realized) for symbol, qty, _avg, realized in view.positions}
    for symbol in sorted(set(made) | set(stored)):
        position = made.get(symbol)
        want = (
            (Decimal(0), Decimal(0)) if position is None else (position.qty, position.realized_pnl)
        )
        have = stored.get(symbol)
        if have is None:
            if want[0] != 0:
                problems.append(
                    Problem(
                        "position_missing",
                        f"the fills hold {want[0]} {symbol} but the positions table has no row",
                        {"symbol": symbol},
                    )
                )
            continue
        if have[0] != want[0] or have[1] != want[1]:
            problems.append(
                Problem(
                    "position_mismatch",
                    f"position {symbol}: the positions table holds qty {have[0]} (realized "
                    f"{have[1]}) but the fills make qty {want[0]} (realized {want[1]})",
                    {"symbol": symbol},
                )
            )
    return problems


def _equity(view: StoreView, orders: dict[int, OrderView]) -> list[Problem]:
    run = view.account_run
    if run is None:
        return []
    start = run.starting_capital
    fills = sorted(
        (f for f in view.fills if f.order_id in orders), key=lambda f: (f.filled_at_ms, f.id)
    )
    problems: list[Problem] = []
    mismatched: list[Problem] = []
    previous: int | None = None
    index = 0
    cash, realized, fees = start, Decimal(0), Decimal(0)
    unit = Decimal("0.00000001")
    for snap in view.equity:
        if snap.run_id != run.id:
            continue
        ids = {"equity_snapshot_id": snap.id, "taken_at": ms_to_iso(snap.taken_at_ms)}
        if previous is not None and snap.taken_at_ms == previous:
            problems.append(
                Problem("equity_duplicate", f"two equity snapshots at {ids['taken_at']}", ids)
            )
        previous = snap.taken_at_ms
        while index < len(fills) and fills[index].filled_at_ms < snap.taken_at_ms:
            fill = fills[index]
            notional = fill.qty * fill.price
            delta = -(notional + fill.fee) if fill.side.value == "buy" else notional - fill.fee
            cash = (cash + delta).quantize(unit)
            realized += fill.realized_pnl
            fees += fill.fee
            index += 1
        if (snap.cash, snap.realized_pnl, snap.fees) != (cash, realized, fees):
            mismatched.append(
                Problem(
                    "equity_fills_mismatch",
                    f"equity snapshot {snap.id} at {ids['taken_at']} shows cash {snap.cash}, "
                    f"realized {snap.realized_pnl}, fees {snap.fees}; the fills before it make "
                    f"cash {cash}, realized {realized}, fees {fees}",
                    ids,
                )
            )
        # Each ledger entry rounds cash by at most half a unit of the quote precision.
        bound = unit * _HALF * (index + 1)
        gap = (snap.equity - start) - (snap.realized_pnl + snap.unrealized_pnl - snap.fees)
        if abs(gap) > bound:
            problems.append(
                Problem(
                    "equity_identity",
                    f"equity snapshot {snap.id} at {ids['taken_at']}: equity - starting cash "
                    f"= {snap.equity - start} but realized + unrealized - fees = "
                    f"{snap.realized_pnl + snap.unrealized_pnl - snap.fees}",
                    ids,
                )
            )
    if mismatched:
        # One corruption shifts every later snapshot: name the first, count the others.
        first = mismatched[0]
        more = len(mismatched) - 1
        problems.append(
            Problem(
                first.code,
                first.message + (f" (and {more} later snapshots likewise)" if more else ""),
                {**first.ids, "snapshots": len(mismatched)},
            )
        )
    return problems


def _decisions(view: StoreView, notes: list[str]) -> list[Problem]:
    problems = []
    by_moment: dict[tuple[str | None, str, str, int], list[str]] = defaultdict(list)
    for decision in view.decisions:
        by_moment[
            (decision.run_id, decision.symbol, decision.timeframe, decision.decided_at_ms)
        ].append(decision.id)
    for (run_id, symbol, _tf, at_ms), ids in sorted(by_moment.items(), key=lambda kv: kv[0][3]):
        if len(ids) > 1:
            problems.append(
                Problem(
                    "decision_duplicate",
                    f"run {run_id} decided {symbol} at {ms_to_iso(at_ms)} {len(ids)} times "
                    f"({', '.join(sorted(ids))})",
                    {"run_id": run_id, "decision_ids": sorted(ids)},
                )
            )
    run = view.account_run
    if run is None or view.resume is None or run.timeframe is None:
        return problems
    step = run.timeframe.ms
    moments_of: dict[str, set[int]] = defaultdict(set)
    for decision in view.decisions:
        if decision.run_id == run.id:
            moments_of[decision.symbol].add(decision.decided_at_ms)
    marked = {s.taken_at_ms for s in view.equity if s.run_id == run.id}
    feed_gaps: set[int] = set()
    for symbol, cursor in sorted(view.resume.cursor.items()):
        moments = sorted(moments_of.get(symbol, ()))
        if not moments:
            problems.append(
                Problem(
                    "steps_missing",
                    f"run {run.id} processed {symbol} up to {ms_to_iso(cursor)} but stored no "
                    "decision for it",
                    {"run_id": run.id, "symbol": symbol},
                )
            )
            continue
        last = cursor + step
        have = set(moments)
        missing = []
        for at in range(moments[0], last + 1, step):
            if at in have:
                continue
            # No symbol decided and no equity mark at that moment: the engine saw no candle
            # there (the market data has a gap), which is not a step it skipped.
            if at not in marked and all(at not in m for m in moments_of.values()):
                feed_gaps.add(at)
            else:
                missing.append(at)
        if missing:
            shown = ", ".join(ms_to_iso(at) for at in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            problems.append(
                Problem(
                    "step_gap",
                    f"run {run.id} has no decision for {symbol} at {shown}{more} (between its "
                    f"first at {ms_to_iso(moments[0])} and its resume point at "
                    f"{ms_to_iso(last)})",
                    {
                        "run_id": run.id,
                        "symbol": symbol,
                        "missing": [ms_to_iso(a) for a in missing],
                    },
                )
            )
        beyond = [at for at in moments if at > last]
        if beyond:
            problems.append(
                Problem(
                    "steps_beyond_resume_point",
                    f"run {run.id} stored decisions for {symbol} after its resume point "
                    f"({ms_to_iso(last)}): {', '.join(ms_to_iso(a) for a in beyond[:5])}",
                    {"run_id": run.id, "symbol": symbol},
                )
            )
    if feed_gaps:
        notes.append(
            f"the market data of run {run.id} has no candle at "
            + ", ".join(ms_to_iso(at) for at in sorted(feed_gaps)[:10])
            + (f" and {len(feed_gaps) - 10} more" if len(feed_gaps) > 10 else "")
            + " (no symbol decided and no equity mark then: a gap in the feed, not a skipped step)"
        )
    return problems
