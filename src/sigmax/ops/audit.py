"""``sigmax audit --month YYYY-MM``: every fill of the month with its order, its origin (the
decision or the operator's command), the policy verdict the order was checked against and the
safety state at that moment; then the orphans (fills whose order has no origin) and the
mismatches (fill against order, ledger or decision) among them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigmax.domain.candles import datetime_to_ms, ms_to_iso
from sigmax.errors import InputError
from sigmax.ops.store import SafetyView, load_store
from sigmax.ops.verify import origin_of, verify_view
from sigmax.storage.database import Database

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: Problems of verify that concern a fill or an order: an audit lists them as mismatches.
_MISMATCH_CODES = frozenset(
    {
        "fill_order_mismatch", "fill_decision_mismatch", "order_fills_mismatch", "fill_missing",
        "fill_not_in_ledger", "fill_ledger_mismatch", "order_decision_missing",
        "order_without_verdict", "fill_refused_by_ledger",
    }
)  # fmt: skip
_HOLDS = frozenset({"pause", "panic", "trigger"})
_RELEASES = frozenset({"resume", "force_resume"})


def month_range(text: str) -> tuple[int, int]:
    """``2024-03`` as [start, end) in ms UTC."""
    match = _MONTH.match(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InputError(f"--month {text!r}: expected YYYY-MM, e.g. 2024-03")
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return datetime_to_ms(start), datetime_to_ms(end)


def safety_at(events: list[SafetyView], at_ms: int) -> str:
    """``trading`` or ``paused (<trigger>: <reason>)`` from the safety record up to ``at_ms``."""
    state = "trading"
    for event in events:
        if event.occurred_at_ms > at_ms:
            break
        if event.kind in _HOLDS:
            state = f"paused ({event.trigger or event.kind}: {event.reason})"
        elif event.kind in _RELEASES:
            state = "trading"
    return state


@dataclass(frozen=True, slots=True)
class AuditReport:
    month: str
    fills: list[dict[str, Any]]
    orphans: list[dict[str, Any]]
    mismatches: list[dict[str, Any]]

    @property
    def exit_code(self) -> int:
        return 2 if self.orphans or self.mismatches else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "fills": self.fills,
            "orphans": self.orphans,
            "mismatches": self.mismatches,
        }


def audit_month(db: Database, month: str) -> AuditReport:
    start, end = month_range(month)
    with db.session() as session:
        view = load_store(session)
        verdicts = {o.id: o.policy_verdict for o in view.orders}
    orders = {o.id: o for o in view.orders}
    decisions = {d.id: d for d in view.decisions}
    lines: list[dict[str, Any]] = []
    orphans: list[dict[str, Any]] = []
    month_orders: set[str] = set()
    month_fills: set[int] = set()
    for fill in view.fills:
        if not start <= fill.filled_at_ms < end:
            continue
        month_fills.add(fill.id)
        order = orders.get(fill.order_id)
        decision = (
            None if order is None or order.decision_id is None else decisions.get(order.decision_id)
        )
        origin, trouble = (
            ("none", f"names order {fill.order_id}, which does not exist")
            if order is None
            else origin_of(order, view)
        )
        if order is not None:
            month_orders.add(order.client_order_id)
        line = {
            "fill_id": fill.id,
            "time": ms_to_iso(fill.filled_at_ms),
            "symbol": fill.symbol,
            "side": fill.side.value,
            "qty": format(fill.qty, "f"),
            "price": format(fill.price, "f"),
            "fee": format(fill.fee, "f"),
            "realized_pnl": format(fill.realized_pnl, "f"),
            "client_order_id": None if order is None else order.client_order_id,
            "order_type": None if order is None else order.type.value,
            "origin": origin,
            "decision_id": None if order is None else order.decision_id,
            "decision_action": None if decision is None else decision.action,
            "decision_confidence": None if decision is None else decision.confidence,
            "decision_time": None if decision is None else ms_to_iso(decision.decided_at_ms),
            "policy_verdict": None if order is None else verdicts.get(order.id),
            "safety_state": safety_at(view.safety, fill.filled_at_ms),
        }
        lines.append(line)
        if trouble is not None:
            orphans.append(
                {
                    "fill_id": fill.id,
                    "client_order_id": line["client_order_id"],
                    "why": f"its order {trouble}",
                }
            )
    mismatches = []
    for problem in verify_view(view).problems:
        if problem.code not in _MISMATCH_CODES:
            continue
        if (
            problem.ids.get("fill_id") in month_fills
            or problem.ids.get("client_order_id") in month_orders
        ):
            mismatches.append(problem.as_json())
    return AuditReport(month, lines, orphans, mismatches)
