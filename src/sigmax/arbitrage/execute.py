"""Paper execution of a cross-exchange opportunity, its legs as one group: both or none.

Off by default (``arbitrage.execute: false``). The steps, for an opportunity and a quantity:

1. Every leg becomes a market order (client ids derived from the group id, so a redone
   execution names the same orders and a venue refuses a second copy) and goes through the
   normal order gate (:class:`sigmax.engine.gate.OrderGate`: the safety enforcer, then the
   compliance policies). If any leg is refused, no leg is sent: the group is ``refused``.
2. The legs are submitted to their venues (the :class:`sigmax.execution.venue.Venue`
   protocol), then each venue is given the market as it is when the order arrives (the
   ``fill`` candle of the leg: in a paper scan the book walked for the quantity, read after
   submission) and reports its events. A leg that is rejected, or not filled on that candle, is
   cancelled: the group has failed.
3. A failed group is unwound: every leg that did fill is reversed by a market order on its
   venue (gated as a protective order: the safety enforcer lets it through, the policies still
   judge it), filled on the leg's ``unwind`` candle, and the loss of the round trip, fees
   included, is recorded.

Each step is appended to the group journal (one JSON line per event, flushed and fsynced before
the next step), so a crash leaves the intent, the legs sent and the fills on disk. Money is
exact: fills, fees and the group's profit or loss are decimals.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sigmax.arbitrage.model import Opportunity
from sigmax.domain.candles import Candle
from sigmax.domain.orders import (
    Fill,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id,
)
from sigmax.engine.gate import AccountView, OrderGate
from sigmax.errors import InputError, SigmaxError
from sigmax.execution.venue import Venue, VenueEvent

GroupStatus = Literal["filled", "refused", "unwound"]
_ZERO = Decimal(0)


class ExecutionError(SigmaxError):
    """A group could not be executed as asked; the message names the leg and the rule."""


@dataclass(frozen=True, slots=True)
class LegResult:
    role: str
    exchange: str
    market: str
    side: OrderSide
    qty: Decimal
    client_order_id: str
    status: str
    fill: Fill | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        fill = self.fill
        return {
            "role": self.role,
            "exchange": self.exchange,
            "market": self.market,
            "side": self.side.value,
            "qty": str(self.qty),
            "client_order_id": self.client_order_id,
            "status": self.status,
            "price": None if fill is None else str(fill.price),
            "fee": None if fill is None else str(fill.fee),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """What happened to a group: ``filled`` (every leg), ``refused`` (none sent) or
    ``unwound`` (a leg failed; the filled legs were reversed, ``pnl_usd`` is the loss)."""

    group_id: str
    status: GroupStatus
    legs: tuple[LegResult, ...]
    unwinds: tuple[LegResult, ...] = ()
    pnl_usd: Decimal = _ZERO
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "status": self.status,
            "legs": [leg.to_dict() for leg in self.legs],
            "unwinds": [leg.to_dict() for leg in self.unwinds],
            "pnl_usd": str(self.pnl_usd),
            "reason": self.reason,
        }


@dataclass(slots=True)
class GroupJournal:
    """Append-only JSON lines, each flushed and fsynced before the caller goes on."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.records.append(dict(record))


def group_id_of(opportunity: Opportunity, qty: Decimal) -> str:
    legs = ";".join(f"{leg.exchange}:{leg.market}:{leg.side}" for leg in opportunity.legs)
    text = f"arb:{opportunity.start_ms}:{legs}:{qty}"
    return "arb-" + hashlib.sha256(text.encode()).hexdigest()[:24]


class PaperArbitrageExecutor:
    """Executes cross-exchange opportunities on paper venues through the order gate."""

    def __init__(
        self,
        gate: OrderGate,
        venues: Mapping[str, Venue],
        account: Callable[[str], AccountView],
        journal: GroupJournal,
    ) -> None:
        """``account(exchange)`` is the account held at that exchange, as the policies see it
        (a cross-exchange sell needs the base currency already held on the selling venue)."""
        self.gate = gate
        self.venues = venues
        self.account = account
        self.journal = journal

    async def execute(
        self,
        opportunity: Opportunity,
        qty: Decimal,
        now_ms: int,
        fills: Mapping[tuple[str, str], Candle],
        unwinds: Mapping[tuple[str, str], Candle],
    ) -> GroupOutcome:
        """Execute ``qty`` (base units) of ``opportunity``; ``fills`` and ``unwinds`` give, per
        ``(exchange, market)``, the candle each leg (and its reversal) fills on."""
        if opportunity.kind != "cross_exchange":
            raise InputError(
                f"paper execution takes cross-exchange opportunities (got a {opportunity.kind}); "
                "cycles are reported, not executed"
            )
        if qty <= 0:
            raise InputError(f"qty must be > 0 (got {qty})")
        group = group_id_of(opportunity, qty)
        orders: list[tuple[str, Order]] = []
        for index, leg in enumerate(opportunity.legs):
            if leg.exchange not in self.venues:
                raise InputError(f"no paper venue for {leg.exchange} (leg {index})")
            side = OrderSide.BUY if leg.side == "buy" else OrderSide.SELL
            order = Order(
                client_order_id=client_order_id(group, f"leg{index}"),
                symbol=leg.market,
                side=side,
                type=OrderType.MARKET,
                qty=qty,
                created_ms=now_ms,
                reference_price=leg.price,
                decision_id=group,
                purpose=OrderPurpose.ENTRY,
            )
            orders.append((leg.exchange, order))
        self.journal.append(
            {
                "event": "intent",
                "group_id": group,
                "at_ms": now_ms,
                "opportunity": opportunity.to_dict(),
                "qty": str(qty),
            }
        )
        refusals = []
        for (exchange, order), leg in zip(orders, opportunity.legs, strict=True):
            verdict = self.gate.check(order, leg.price, self.account(exchange), now_ms, "engine")
            if not verdict.allowed:
                refusals.append(f"{exchange} {order.side.value} {order.symbol}: {verdict.reason}")
        if refusals:
            outcome = GroupOutcome(
                group,
                "refused",
                tuple(
                    self._unsent(exchange, order, index)
                    for index, (exchange, order) in enumerate(orders)
                ),
                reason="; ".join(refusals),
            )
            self.journal.append({"event": "outcome", **outcome.to_dict()})
            return outcome
        results = [
            await self._send(exchange, order, f"leg{index}", now_ms, fills)
            for index, (exchange, order) in enumerate(orders)
        ]
        for result in results:
            self.journal.append({"event": "leg", "group_id": group, **result.to_dict()})
        if all(r.fill is not None for r in results):
            pnl = _pnl([r.fill for r in results if r.fill is not None])
            outcome = GroupOutcome(group, "filled", tuple(results), pnl_usd=pnl)
        else:
            outcome = await self._unwind(group, results, now_ms, unwinds)
        self.journal.append({"event": "outcome", **outcome.to_dict()})
        return outcome

    @staticmethod
    def _unsent(exchange: str, order: Order, index: int) -> LegResult:
        return LegResult(
            f"leg{index}",
            exchange,
            order.symbol,
            order.side,
            order.qty,
            order.client_order_id,
            "not_sent",
        )

    async def _send(
        self,
        exchange: str,
        order: Order,
        role: str,
        now_ms: int,
        candles: Mapping[tuple[str, str], Candle],
    ) -> LegResult:
        venue = self.venues[exchange]

        def result(status: str, fill: Fill | None = None, reason: str | None = None) -> LegResult:
            return LegResult(
                role,
                exchange,
                order.symbol,
                order.side,
                order.qty,
                order.client_order_id,
                status,
                fill,
                reason,
            )

        ack = await venue.submit(order, now_ms)
        if ack.status is OrderStatus.REJECTED:
            return result("rejected", reason=ack.reason)
        candle = candles.get((exchange, order.symbol))
        if candle is None:
            await venue.cancel(order.client_order_id, now_ms)
            return result("cancelled", reason=f"no market data from {exchange} to fill on")
        events = await venue.on_candle(order.symbol, candle)
        for event in _events_of(events, order.client_order_id):
            if event.fill is not None:
                return result("filled", event.fill)
            if event.status is OrderStatus.CANCELLED:
                return result("cancelled", reason=event.reason)
        await venue.cancel(order.client_order_id, candle.timestamp)
        return result(
            "cancelled", reason=f"not filled on {exchange}'s market at {candle.timestamp}"
        )

    async def _unwind(
        self,
        group: str,
        results: Sequence[LegResult],
        now_ms: int,
        candles: Mapping[tuple[str, str], Candle],
    ) -> GroupOutcome:
        failed = "; ".join(
            f"{r.exchange} {r.side.value} {r.market} {r.status}: {r.reason}"
            for r in results
            if r.fill is None
        )
        reversals: list[LegResult] = []
        fills: list[Fill] = []
        for result in results:
            if result.fill is None:
                continue
            fills.append(result.fill)
            side = OrderSide.SELL if result.side is OrderSide.BUY else OrderSide.BUY
            order = Order(
                client_order_id=client_order_id(group, f"unwind-{result.role}"),
                symbol=result.market,
                side=side,
                type=OrderType.MARKET,
                qty=result.fill.qty,
                created_ms=now_ms,
                reference_price=result.fill.price,
                decision_id=group,
                purpose=OrderPurpose.EXIT,
            )
            # The account as the leg's fill left it (the caller's view predates the fill).
            account = _after(self.account(result.exchange), result.fill)
            verdict = self.gate.check(order, result.fill.price, account, now_ms, "protective")
            if not verdict.allowed:
                reversal = LegResult(
                    f"unwind-{result.role}",
                    result.exchange,
                    order.symbol,
                    side,
                    order.qty,
                    order.client_order_id,
                    "refused",
                    reason=verdict.reason,
                )
            else:
                reversal = await self._send(
                    result.exchange, order, f"unwind-{result.role}", now_ms, candles
                )
            self.journal.append({"event": "unwind", "group_id": group, **reversal.to_dict()})
            reversals.append(reversal)
            if reversal.fill is not None:
                fills.append(reversal.fill)
        stuck = [r for r in reversals if r.fill is None]
        reason = f"leg failed ({failed}); filled legs unwound"
        if stuck:
            reason += "; NOT unwound: " + "; ".join(
                f"{r.exchange} {r.market} {r.status}: {r.reason}" for r in stuck
            )
        return GroupOutcome(group, "unwound", tuple(results), tuple(reversals), _pnl(fills), reason)


def _after(view: AccountView, fill: Fill) -> AccountView:
    """``view`` with ``fill`` applied: the position and the cash it changed."""
    notional = fill.qty * fill.price
    signed = fill.qty if fill.side is OrderSide.BUY else -fill.qty
    qty = dict(view.positions_qty)
    qty[fill.symbol] = qty.get(fill.symbol, _ZERO) + signed
    value = dict(view.positions_usd)
    value[fill.symbol] = qty[fill.symbol] * fill.price
    cash = view.cash_usd - fill.fee + (-notional if fill.side is OrderSide.BUY else notional)
    return AccountView(view.equity_usd - fill.fee, cash, value, qty)


def _events_of(events: Sequence[VenueEvent], order_id: str) -> list[VenueEvent]:
    return [event for event in events if event.order.client_order_id == order_id]


def _pnl(fills: Sequence[Fill]) -> Decimal:
    """Quote received minus quote paid, fees included (the quote is USD-like)."""
    total = _ZERO
    for fill in fills:
        notional = fill.qty * fill.price
        total += notional if fill.side is OrderSide.SELL else -notional
        total -= fill.fee
    return total
