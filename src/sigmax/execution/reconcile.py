"""Reconciliation: the exchange's balances, open orders and fills against SIGMAX's ledger.

Run at start and every ``trading.reconcile_minutes`` (default 5) in live mode, and on demand
(``sigmax reconcile [--json]`` calls :func:`reconcile`). Each difference is a
:class:`Mismatch` naming what differs and both sides' values; any mismatch pauses trading
(:func:`pause_on_mismatch`) until an operator looks.

What is compared, exactly (no tolerance: the ledger books what the exchange reports, fees in
base converted exactly, see :mod:`sigmax.execution.order_manager`):

* **balances**: the quote asset against the ledger's cash, and each traded symbol's base asset
  against the ledger's position (free plus locked on the exchange). Other assets on the account
  are not SIGMAX's and are not compared.
* **open orders**: every order open on the exchange for the venue's symbols must be one the
  venue knows as open (else ``unknown_open_order``: placed behind SIGMAX's back), and every
  order the venue holds open on the exchange must be open there (``missing_open_order``).
* **fills**: every exchange trade since ``since_ms`` of the venue's symbols must be in the ledger
  with the same client order id, trade id and quantity (``unrecorded_fill``,
  ``fill_differs``), and every ledger fill of an exchange order must be an exchange trade
  (``unknown_fill``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sigmax.domain.ledger import EntryKind, Ledger
from sigmax.domain.orders import Order
from sigmax.execution.ccxt_venue import CcxtVenue
from sigmax.execution.order_manager import fill_from_trade
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.state import Hold

_ZERO = Decimal(0)

#: The safety hold a reconciliation mismatch takes.
RECONCILE_TRIGGER = "reconciliation"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference: ``kind``, what it is about, each side's value, and in words."""

    kind: str
    subject: str
    ledger: str | None
    exchange: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "ledger": self.ledger,
            "exchange": self.exchange,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    exchange: str
    at_ms: int
    mismatches: tuple[Mismatch, ...]
    balances_checked: tuple[str, ...]
    open_orders_checked: int
    fills_checked: int

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        if self.ok:
            return (
                f"reconciliation with {self.exchange}: everything matches "
                f"({len(self.balances_checked)} balances, {self.open_orders_checked} open "
                f"orders, {self.fills_checked} fills)"
            )
        return f"reconciliation with {self.exchange}: {len(self.mismatches)} mismatch(es): " + (
            "; ".join(m.detail for m in self.mismatches)
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "exchange": self.exchange,
                "at_ms": self.at_ms,
                "ok": self.ok,
                "mismatches": [m.to_json() for m in self.mismatches],
                "checked": {
                    "balances": list(self.balances_checked),
                    "open_orders": self.open_orders_checked,
                    "fills": self.fills_checked,
                },
            },
            sort_keys=True,
        )


@dataclass(frozen=True, slots=True)
class ExchangeTrade:
    """One exchange trade, with the SIGMAX order it belongs to when there is one."""

    symbol: str
    trade_id: int
    client_order_id: str | None
    qty: Decimal  # as the ledger would book it (fees in base converted)


def compare(
    *,
    exchange: str,
    at_ms: int,
    ledger: Ledger,
    quote: str,
    symbols: Sequence[str],
    balances: Mapping[str, Decimal],
    exchange_open: Mapping[str, str],
    known_open: Sequence[str],
    trades: Sequence[ExchangeTrade],
) -> ReconcileReport:
    """The pure comparison. ``exchange_open`` maps each order open on the exchange to its
    client id; ``known_open`` are the client ids the venue holds open on the exchange."""
    found: list[Mismatch] = []
    checked: list[str] = [quote]
    if balances.get(quote, _ZERO) != ledger.cash:
        found.append(_balance(quote, ledger.cash, balances.get(quote, _ZERO)))
    for symbol in symbols:
        base = symbol.split("/")[0]
        checked.append(base)
        held = ledger.position(symbol).qty
        if balances.get(base, _ZERO) != held:
            found.append(_balance(base, held, balances.get(base, _ZERO)))
    for exchange_id, client in sorted(exchange_open.items()):
        if client not in known_open:
            found.append(
                Mismatch("unknown_open_order", client, None, "open",
                         f"order {client} (exchange id {exchange_id}) is open on the exchange "
                         "but SIGMAX did not place it or thinks it closed")
            )  # fmt: skip
    open_clients = set(exchange_open.values())
    for client in known_open:
        if client not in open_clients:
            found.append(
                Mismatch("missing_open_order", client, "open", None,
                         f"order {client} is open for SIGMAX but not on the exchange")
            )  # fmt: skip
    booked: dict[tuple[str, int], Decimal] = {}
    for entry in ledger.entries:
        if entry.kind is EntryKind.FILL and entry.client_order_id and entry.symbol in symbols:
            assert entry.fill_sequence is not None
            booked[(entry.client_order_id, entry.fill_sequence)] = entry.qty
    seen: set[tuple[str, int]] = set()
    for trade in trades:
        subject = f"{trade.symbol} trade {trade.trade_id}"
        if trade.client_order_id is None:
            found.append(
                Mismatch("unrecorded_fill", subject, None, str(trade.qty),
                         f"{subject} of an order SIGMAX does not know is not in the ledger")
            )  # fmt: skip
            continue
        key = (trade.client_order_id, trade.trade_id)
        seen.add(key)
        if key not in booked:
            found.append(
                Mismatch("unrecorded_fill", subject, None, str(trade.qty),
                         f"{subject} of {trade.client_order_id} ({trade.qty}) is not in the "
                         "ledger")
            )  # fmt: skip
        elif booked[key] != trade.qty:
            found.append(
                Mismatch("fill_differs", subject, str(booked[key]), str(trade.qty),
                         f"{subject} of {trade.client_order_id}: ledger {booked[key]}, "
                         f"exchange {trade.qty}")
            )  # fmt: skip
    for key in sorted(set(booked) - seen):
        found.append(
            Mismatch("unknown_fill", f"{key[0]} #{key[1]}", str(booked[key]), None,
                     f"ledger fill {key[0]} #{key[1]} is not among the exchange's trades")
        )  # fmt: skip
    return ReconcileReport(
        exchange, at_ms, tuple(found), tuple(checked), len(exchange_open), len(trades)
    )


def _balance(asset: str, ledger: Decimal, exchange: Decimal) -> Mismatch:
    return Mismatch(
        "balance",
        asset,
        str(ledger),
        str(exchange),
        f"{asset}: ledger {ledger}, exchange {exchange} (difference {exchange - ledger})",
    )


async def reconcile(
    venue: CcxtVenue, ledger: Ledger, *, since_ms: int, at_ms: int, quote: str = "USDT"
) -> ReconcileReport:
    """Ask the exchange (balances, open orders, trades since ``since_ms``) and compare."""
    balances = await venue.balances()
    exchange_open: dict[str, str] = {}
    trades: list[ExchangeTrade] = []
    for symbol in venue.symbols:
        for raw in await venue._open_on_exchange(symbol):
            client = venue.orders.client_id_of(str(raw["id"])) or str(
                raw.get("clientOrderId") or raw["id"]
            )
            exchange_open[str(raw["id"])] = client
        trades += await _trades(venue, symbol, since_ms)
    known_open = [
        t.order.client_order_id for t in venue.orders.tracked() if t.is_open and t.exchange_order_id
    ]
    return compare(
        exchange=venue.name,
        at_ms=at_ms,
        ledger=ledger,
        quote=quote,
        symbols=venue.symbols,
        balances=balances,
        exchange_open=exchange_open,
        known_open=known_open,
        trades=trades,
    )


async def _trades(venue: CcxtVenue, symbol: str, since_ms: int) -> list[ExchangeTrade]:
    async def fetch() -> Any:
        return await venue.session.exchange.fetch_my_trades(symbol, since_ms)

    raw_trades: list[Any] = await venue.session.call("fetch_my_trades", fetch)
    base, quote = symbol.split("/")
    found: list[ExchangeTrade] = []
    for raw in raw_trades:
        order_id = str(raw.get("order"))
        client = venue.orders.client_id_of(order_id)
        if client is None:
            # An order of an earlier process of this run (the venue follows only the open
            # ones across a restart): its client id is asked of the exchange.
            client = await _client_id_on_exchange(venue, symbol, order_id)
        tracked = venue.orders.get(client) if client else None
        order: Order | None = tracked.order if tracked else None
        if order is None:
            qty = _net_qty(raw, base)
        else:
            qty = fill_from_trade(order, raw, base, quote, venue.name).qty
        found.append(ExchangeTrade(symbol, int(raw["id"]), client, qty))
    return found


async def _client_id_on_exchange(venue: CcxtVenue, symbol: str, order_id: str) -> str | None:
    async def fetch() -> Any:
        return await venue.session.exchange.fetch_order(order_id, symbol)

    answer = await venue.session.call("fetch_order", fetch)
    client = (answer.get("info") or {}).get("clientOrderId") or answer.get("clientOrderId")
    if not client:
        return None
    venue.orders.remember(order_id, str(client))
    return str(client)


def _net_qty(raw: Mapping[str, Any], base: str) -> Decimal:
    """A trade's quantity as the ledger books it: a fee charged in the base asset is what the
    account did not receive (a buy) or gave up besides (a sell)."""
    info = raw.get("info") or {}
    qty = Decimal(str(info.get("qty") or raw.get("amount")))
    fee = raw.get("fee") or {}
    if (info.get("commissionAsset") or fee.get("currency")) == base:
        paid = Decimal(str(info.get("commission") or fee.get("cost") or 0))
        qty = qty - paid if raw.get("side") == "buy" else qty + paid
    return qty


def pause_on_mismatch(report: ReconcileReport, enforcer: SafetyEnforcer) -> Hold | None:
    """Pause trading (until a resume) when the report holds any mismatch."""
    if report.ok:
        return None
    return enforcer.pause(report.summary(), report.at_ms, trigger=RECONCILE_TRIGGER)
