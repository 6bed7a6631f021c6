"""The venue protocol: where orders go and where their fills come from.

The engine talks to every venue through this protocol and never names a concrete one: the
paper venue (fills simulated against each new candle) and an exchange reached through ccxt
(fills made by the exchange, learnt by asking it). Commands go in (``submit``, ``cancel``),
events come out (``on_candle``: every fill, cancel or rejection the venue learnt of since the
last call, for one market). Nothing here assumes a fill comes back with the order: a market
order placed on an exchange may fill later, in parts, or not at all.

``now_ms`` is the engine's clock (a candle close in a replay, about wall time live); a venue
stamps acceptances and cancels with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sigmax.domain.candles import Candle
from sigmax.domain.orders import Fill, Order, OrderStatus


@dataclass(frozen=True, slots=True)
class VenueEvent:
    """What happened to an order: accepted (``open``), ``rejected``, ``filled`` (in whole, or
    ``partially_filled``) or ``cancelled``.

    ``fill`` is set for fills; ``reason`` says why an order was rejected or cancelled, and why a
    fill was chosen when a one-cancels-other group had to be resolved.
    """

    order: Order
    status: OrderStatus
    fill: Fill | None = None
    reason: str | None = None


@runtime_checkable
class Venue(Protocol):
    """An execution venue: commands in, events out."""

    #: ``paper``, or the exchange's ccxt id (``binance``, ``coinbase``, ``kraken``).
    name: str

    async def submit(self, order: Order, now_ms: int) -> VenueEvent:
        """Send ``order``; the answer is its acknowledgement: ``open`` (accepted, fills come
        later through :meth:`on_candle`) or ``rejected`` with the venue's reason. Submitting
        an id the venue already knows returns that order's state, never a second order."""
        ...

    async def cancel(self, client_order_id: str, now_ms: int) -> VenueEvent | None:
        """Cancel a resting order; the confirmed ``cancelled`` event, or None when the venue
        holds no open order of that id (already filled, cancelled or unknown)."""
        ...

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """The orders resting at the venue as it last reported them, oldest first."""
        ...

    async def balances(self) -> Mapping[str, Decimal]:
        """Free plus locked amount of every asset the account holds (quote currency
        included), as the venue reports it."""
        ...

    async def on_candle(self, symbol: str, candle: Candle) -> list[VenueEvent]:
        """Events of ``symbol``'s orders since the last call, at the close of ``candle``: the
        paper venue fills resting orders against the candle; an exchange venue reports the
        fills, cancels and expiries the exchange made meanwhile."""
        ...


@runtime_checkable
class SimulatedVenue(Venue, Protocol):
    """A venue whose market is simulated from candles (the paper venue): what the engine needs
    beyond :class:`Venue` for a backtest's passed-over candles, for closing positions at the
    last mark with no candle to come (an offline panic), and for a resume point that holds the
    venue itself (an exchange keeps its own state and is asked for it instead)."""

    def pass_candle(self, symbol: str, timestamp_ms: int) -> None:
        """Note a candle on which no resting order can fill, as :meth:`on_candle` would."""
        ...

    def fill_market_at(
        self, symbol: str, price: Decimal, volume: Decimal, timestamp_ms: int
    ) -> list[VenueEvent]:
        """Fill the resting market orders of ``symbol`` now at ``price``."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The venue's state as JSON-able data."""
        ...

    def restore(
        self, state: Mapping[str, Any], balances: Mapping[str, Decimal] | None = None
    ) -> None:
        """Replace the venue's state with a :meth:`snapshot`."""
        ...


@dataclass(frozen=True, slots=True)
class Holdings:
    """What an exchange account holds now, as the exchange reports it when asked: the open
    orders of the venue's symbols (client ids) and every asset's free plus locked amount."""

    open_orders: tuple[str, ...]
    balances: Mapping[str, Decimal]


@runtime_checkable
class ExchangeVenue(Venue, Protocol):
    """A venue whose account lives on an exchange: besides :class:`Venue`, what the account's
    owner asks outside a candle (a panic, a reconciliation), each answer the exchange's own."""

    #: The markets the venue trades.
    symbols: tuple[str, ...]

    async def catch_up(self, symbol: str) -> list[VenueEvent]:
        """The events of ``symbol``'s orders since the last call, without a candle."""
        ...

    async def cancel_all(self) -> tuple[list[str], list[str]]:
        """Cancel every open order of the venue's symbols on the exchange (SIGMAX's or not);
        (cancelled, still open) as the exchange reports afterwards. SIGMAX's cancels come
        as events through :meth:`catch_up`."""
        ...

    async def holdings(self) -> Holdings:
        """The open orders and balances as the exchange reports them now."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The venue's part of the resume point."""
        ...
