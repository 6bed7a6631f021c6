"""The paper venue: orders rest here and fill against the candles the engine feeds it.

The engine calls :meth:`PaperVenue.on_candle` at each closed candle of a symbol *before* it
decides on that candle, so an order submitted at a candle's close can only fill on a later
candle: an order is never priced on a candle that opened before it was submitted. How each
order type fills is :mod:`sigmax.execution.fill_model`; this module keeps the resting orders,
refuses bad submissions, resolves one-cancels-other groups, and saves and restores its state.

It implements the :class:`~sigmax.execution.venue.Venue` protocol (and the
:class:`~sigmax.execution.venue.SimulatedVenue` extension a backtest and an offline panic use),
and keeps its own simulated account of the fills it makes: the quote cash and the base assets,
booked as an exchange would (cash to the quote precision, as the ledger books it), so
:meth:`PaperVenue.balances` can be compared with the ledger. A buy whose cost the account cannot
pay when it fills is rejected then, never half-booked.

A fill is stamped with the open time of the candle that filled it: the fill happened within
that candle (at its first trade for market orders and for gaps). Every order here fills whole,
so each fill is the order's first and carries ``sequence`` 1. Nothing depends on a clock or on
chance: the same orders and candles always give the same events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any, TypeVar

from sigmax.domain.candles import Candle
from sigmax.domain.market import MarketSpec
from sigmax.domain.orders import (
    Fill,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    legacy_purpose,
)
from sigmax.errors import SigmaxError
from sigmax.execution.fill_model import (
    EXACT_CONTEXT,
    CandlePrices,
    Execution,
    FeeSchedule,
    SlippageModel,
    Unfillable,
    execute,
    slippage_pct,
)
from sigmax.execution.venue import VenueEvent

__all__ = ["PaperVenue", "SnapshotError", "VenueEvent", "slippage_pct"]

#: Version of the :meth:`PaperVenue.snapshot` layout. Format 1 (before the venue kept an
#: account) is read too, given the balances from the ledger; restore refuses any other.
SNAPSHOT_FORMAT = 2
_FORMAT_WITHOUT_BALANCES = 1
#: The quote precision the ledger books cash to by default.
QUOTE_PRECISION = Decimal("0.00000001")
_T = TypeVar("_T")
_E = TypeVar("_E", OrderSide, OrderType, OrderPurpose)

#: Orders fill whole here, so every fill is its order's first.
_FIRST_FILL = 1


class SnapshotError(SigmaxError):
    """A saved paper-venue state cannot be restored; the message names the field and rule."""


@dataclass(frozen=True, slots=True)
class _Resting:
    order: Order
    accepted_ms: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    resting: _Resting
    result: Execution | Unfillable
    rank: int  # acceptance order, the last tie-breaker


class PaperVenue:
    """A simulated spot venue for backtests and paper trading.

    ``specs`` maps each tradable symbol (``"BTC/USDT"``) to its trading rules; the venue uses
    the price tick and amount step. The caller checks minimum quantities and notionals.
    """

    name = "paper"

    def __init__(
        self,
        specs: Mapping[str, MarketSpec],
        fees: FeeSchedule | None = None,
        slippage: SlippageModel | None = None,
        *,
        cash: Decimal,
        quote_precision: Decimal = QUOTE_PRECISION,
    ) -> None:
        """``cash``: the quote currency the simulated account starts with (the run's starting
        capital); every market traded here must share that quote currency."""
        for key, spec in specs.items():
            if str(spec.symbol) != key:
                raise ValueError(f"specs[{key!r}] describes {spec.symbol}, not {key}")
        quotes = sorted({spec.symbol.quote for spec in specs.values()})
        if len(quotes) > 1:
            raise ValueError(f"specs: every market must share one quote currency (got {quotes})")
        if not cash.is_finite() or cash < 0:
            raise ValueError(f"cash must be a finite amount >= 0 (got {cash})")
        self._specs = dict(specs)
        self.quote = quotes[0] if quotes else "USDT"
        self.fees = fees if fees is not None else FeeSchedule()
        self.slippage = slippage if slippage is not None else SlippageModel()
        self._quote_precision = quote_precision
        self._resting: dict[str, _Resting] = {}
        self._known_ids: set[str] = set()
        self._last_candle_ms: dict[str, int] = {}
        self._balances: dict[str, Decimal] = {self.quote: cash}

    # -- the Venue protocol -------------------------------------------------------------------

    async def submit(self, order: Order, now_ms: int) -> VenueEvent:
        """See :meth:`accept`: the paper venue answers at once."""
        return self.accept(order, now_ms)

    async def cancel(self, client_order_id: str, now_ms: int) -> VenueEvent | None:
        """See :meth:`withdraw`."""
        return self.withdraw(client_order_id, now_ms)

    async def on_candle(self, symbol: str, candle: Candle) -> list[VenueEvent]:
        """See :meth:`process_candle`."""
        return self.process_candle(symbol, candle)

    async def balances(self) -> Mapping[str, Decimal]:
        """The simulated account: quote cash and every base asset held (zeros left out, the
        quote currency always listed)."""
        return self.holdings()

    def holdings(self) -> dict[str, Decimal]:
        """:meth:`balances` without awaiting (the simulated account is local)."""
        return {
            asset: amount
            for asset, amount in sorted(self._balances.items())
            if amount != 0 or asset == self.quote
        }

    # -- orders -------------------------------------------------------------------------------

    def accept(self, order: Order, now_ms: int) -> VenueEvent:
        """Accept ``order`` (``open``) or refuse it (``rejected`` with the reason).

        ``now_ms`` is when the order reaches the venue (a candle's close in a backtest); it can
        fill only on candles that open at or after that moment. A ``client_order_id`` the venue
        has accepted before is refused, even if that order is long filled: replaying a decision
        must not trade twice. A refused duplicate leaves the original order untouched.
        """
        reason = self._refusal(order, now_ms)
        if reason is not None:
            return VenueEvent(order, OrderStatus.REJECTED, reason=reason)
        self._resting[order.client_order_id] = _Resting(order, now_ms)
        self._known_ids.add(order.client_order_id)
        return VenueEvent(order, OrderStatus.OPEN)

    def withdraw(self, client_order_id: str, now_ms: int) -> VenueEvent | None:
        """Cancel one resting order; ``None`` when no such order is resting (it filled, was
        cancelled, or never existed), so cancelling twice is harmless.

        Only that order goes: the other orders of its one-cancels-other group stay resting, so
        a caller that removes a whole bracket cancels each of its orders.
        """
        resting = self._resting.get(client_order_id)
        if resting is None:
            return None
        if now_ms < resting.accepted_ms:
            raise ValueError(
                f"cancel of {client_order_id} at {now_ms} precedes its submission at "
                f"{resting.accepted_ms}: the clock went backwards"
            )
        return self._close(resting, "cancelled on request")

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Resting orders in the order they were accepted, of one symbol or of all."""
        return [
            r.order for r in self._resting.values() if symbol is None or r.order.symbol == symbol
        ]

    # -- candles ------------------------------------------------------------------------------

    def process_candle(self, symbol: str, candle: Candle) -> list[VenueEvent]:
        """Process every resting order of ``symbol`` against one closed candle.

        Orders are taken in the order they were accepted; only those submitted no later than
        the candle's open take part. Candles must come oldest first: a candle at or before the
        last one processed for the symbol is ignored (a resumed engine may feed it again), so
        no order is ever filled twice by one candle.
        """
        if symbol not in self._specs:
            raise ValueError(f"no market spec for {symbol!r}; known: {self._known_symbols()}")
        last = self._last_candle_ms.get(symbol)
        if last is not None and candle.timestamp <= last:
            return []
        self._last_candle_ms[symbol] = candle.timestamp
        eligible = [
            r
            for r in self._resting.values()
            if r.order.symbol == symbol and r.accepted_ms <= candle.timestamp
        ]
        if not eligible:
            return []  # most candles: nothing rests, so no prices to work out
        prices = CandlePrices.from_candle(candle)
        events: list[VenueEvent] = []
        seen: set[str] = set()
        for resting in eligible:
            if resting.order.client_order_id in seen:
                continue
            group = resting.order.oco_group
            members = [resting]
            if group is not None:
                members = [r for r in eligible if r.order.oco_group == group]
            seen.update(r.order.client_order_id for r in members)
            events += self._settle(members, prices)
        return events

    def fill_market_at(
        self, symbol: str, price: Decimal, volume: Decimal, timestamp_ms: int
    ) -> list[VenueEvent]:
        """Fill the resting market orders of ``symbol`` now, as if a candle opened at ``price``
        with the last candle's ``volume`` (what prices the market impact): the same fill model,
        slippage and fees as a candle's open. No candle is noted as processed, so the real
        next candle is still processed in full. Used to close positions at the last mark when
        no engine will feed a candle soon (a panic with no run running).
        """
        if symbol not in self._specs:
            raise ValueError(f"no market spec for {symbol!r}; known: {self._known_symbols()}")
        prices = CandlePrices(timestamp_ms, price, price, price, volume)
        events: list[VenueEvent] = []
        for resting in list(self._resting.values()):
            order = resting.order
            if (
                order.symbol != symbol
                or order.type is not OrderType.MARKET
                or resting.accepted_ms > timestamp_ms
            ):
                continue
            events += self._settle([resting], prices)
        return events

    def pass_candle(self, symbol: str, timestamp_ms: int) -> None:
        """Note a candle of ``symbol`` on which the caller knows no resting order can fill.

        It leaves the venue as :meth:`on_candle` would have: the candle counts as processed,
        so an older or repeated one is ignored afterwards.
        """
        last = self._last_candle_ms.get(symbol)
        if last is None or timestamp_ms > last:
            self._last_candle_ms[symbol] = timestamp_ms

    def _settle(self, members: list[_Resting], candle: CandlePrices) -> list[VenueEvent]:
        """Fill at most one of ``members`` (one order, or one OCO group) and cancel its peers."""
        tick = self._specs[members[0].order.symbol].price_tick
        outcomes = []
        for rank, resting in enumerate(members):
            result = execute(resting.order, candle, self.slippage, tick)
            if result is not None:
                outcomes.append(_Outcome(resting, result, rank))
        if not outcomes:
            return []
        first = min(outcomes, key=_first_in_candle)
        winner = first.resting
        if isinstance(first.result, Unfillable):
            events = [self._close(winner, first.result.reason)]
            peer_reason = f"oco group {winner.order.oco_group}: {winner.order.client_order_id} "
            peer_reason += "could not be filled and was cancelled"
        else:
            events = [self._fill(winner, first.result, candle.timestamp_ms)]
            peer_reason = f"oco group {winner.order.oco_group}: "
            peer_reason += f"{winner.order.client_order_id} filled"
            if len(outcomes) > 1 and not first.result.at_open:
                # OHLC cannot tell which level traded first; assume the one worse for the trader.
                peer_reason += (
                    "; both were reached in the same candle and the order of events is unknown, "
                    "so the fill worse for the trader is assumed"
                )
        group = winner.order.oco_group
        if group is not None:
            # Every other order of the group goes, including one submitted after this candle
            # opened (which took no part in it).
            events += [self._close(peer, peer_reason) for peer in self._group_members(group)]
        return events

    def _fill(self, resting: _Resting, execution: Execution, timestamp_ms: int) -> VenueEvent:
        order = resting.order
        qty = order.qty
        if order.spend is not None:
            spent = self._spend_qty(order, execution)
            if spent is None:
                del self._resting[order.client_order_id]
                reason = (
                    f"spending {order.spend} at {execution.price} buys less than the market's "
                    "minimum quantity or notional"
                )
                return VenueEvent(order, OrderStatus.CANCELLED, reason=reason)
            qty = spent
        notional = qty * execution.price
        fee = self.fees.fee(notional, execution.liquidity)
        refusal = self._unpaid(order, qty, execution.price, notional, fee)
        if refusal is not None:
            del self._resting[order.client_order_id]
            return VenueEvent(order, OrderStatus.REJECTED, reason=refusal)
        fill = Fill(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=execution.price,
            fee=fee,
            timestamp_ms=timestamp_ms,
            liquidity=execution.liquidity,
            sequence=_FIRST_FILL,
        )
        del self._resting[order.client_order_id]
        self._book(fill)
        return VenueEvent(order, OrderStatus.FILLED, fill=fill)

    def _unpaid(
        self, order: Order, qty: Decimal, price: Decimal, notional: Decimal, fee: Decimal
    ) -> str | None:
        """Why the account cannot settle this fill (a buy costing more than the cash, as a gap
        up at the open can make it), or None. The words are the ledger's."""
        if order.side is not OrderSide.BUY:
            return None
        cash = self._balances[self.quote]
        with localcontext(EXACT_CONTEXT):
            cost = notional + fee
            left = (cash - cost).quantize(self._quote_precision, rounding=ROUND_HALF_EVEN)
        if cost > cash or left < 0:
            return (
                f"rejected at fill: buy of {qty} {order.symbol} at {price} needs {cost} "
                f"(fee {fee} included) but cash is {cash}"
            )
        return None

    def _book(self, fill: Fill) -> None:
        """Settle a fill in the simulated account: cash to the quote precision, the base
        asset exactly."""
        base = self._specs[fill.symbol].symbol.base
        with localcontext(EXACT_CONTEXT):
            notional = fill.qty * fill.price
            delta = -(notional + fill.fee) if fill.side is OrderSide.BUY else notional - fill.fee
            cash = self._balances[self.quote] + delta
            self._balances[self.quote] = cash.quantize(
                self._quote_precision, rounding=ROUND_HALF_EVEN
            )
            held = self._balances.get(base, Decimal(0))
            moved = fill.qty if fill.side is OrderSide.BUY else -fill.qty
            self._balances[base] = held + moved

    def _spend_qty(self, order: Order, execution: Execution) -> Decimal | None:
        """The most ``order.spend`` buys at the fill price, fee included, in whole amount steps
        (None: less than the market's minimum)."""
        assert order.spend is not None
        spec = self._specs[order.symbol]
        step = spec.amount_step or Decimal("1e-8")
        price = execution.price
        with localcontext(EXACT_CONTEXT):
            rate = self.fees.rate(execution.liquidity)
            qty = (order.spend / (price * (1 + rate)) / step).to_integral_value(ROUND_FLOOR) * step
            # The fee rounds up to the quote quantum: step down until price and fee fit.
            while qty > 0 and qty * price + self.fees.fee(qty * price, execution.liquidity) > (
                order.spend
            ):
                qty -= step
            too_small = (spec.min_amount is not None and qty < spec.min_amount) or (
                spec.min_notional is not None and qty * price < spec.min_notional
            )
        return None if qty <= 0 or too_small else qty

    def _close(self, resting: _Resting, reason: str) -> VenueEvent:
        del self._resting[resting.order.client_order_id]
        return VenueEvent(resting.order, OrderStatus.CANCELLED, reason=reason)

    def _group_members(self, group: str) -> list[_Resting]:
        return [r for r in self._resting.values() if r.order.oco_group == group]

    # -- validation ---------------------------------------------------------------------------

    def _refusal(self, order: Order, now_ms: int) -> str | None:
        """Why ``order`` is refused, or ``None`` when it is acceptable."""
        if order.client_order_id in self._known_ids:
            return (
                f"duplicate client_order_id {order.client_order_id}: the venue already accepted "
                "an order with this id, and an id is used once so a replayed decision cannot "
                "trade twice"
            )
        spec = self._specs.get(order.symbol)
        if spec is None:
            return f"unknown symbol {order.symbol!r}: this venue trades {self._known_symbols()}"
        if not spec.active:
            return f"market {order.symbol} is not trading (inactive)"
        if order.created_ms > now_ms:
            return f"order created at {order.created_ms}, after its submission at {now_ms}"
        if spec.amount_step is not None and order.qty % spec.amount_step != 0:
            return f"qty {order.qty} is not a multiple of the amount step {spec.amount_step}"
        tick = spec.price_tick
        if order.price is not None and tick is not None and order.price % tick != 0:
            return f"price {order.price} is not a multiple of the price tick {tick}"
        if order.oco_group is not None:
            for peer in self._group_members(order.oco_group):
                if (peer.order.symbol, peer.order.side) != (order.symbol, order.side):
                    return (
                        f"oco group {order.oco_group} holds {peer.order.side.value} orders of "
                        f"{peer.order.symbol}; a group's orders share one symbol and side"
                    )
        return None

    def _known_symbols(self) -> str:
        return ", ".join(sorted(self._specs)) or "nothing"

    # -- crash-safe state ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The venue's state as JSON-able data (decimals as strings) for :meth:`restore`.

        It holds the resting orders in acceptance order, every client id ever accepted (so
        duplicates stay refused after a restart) and the last candle processed per symbol.
        """
        return {
            "format": SNAPSHOT_FORMAT,
            "orders": [_order_to_dict(r) for r in self._resting.values()],
            "accepted_ids": sorted(self._known_ids),
            "last_candle_ms": dict(sorted(self._last_candle_ms.items())),
            "balances": {asset: str(amount) for asset, amount in sorted(self._balances.items())},
        }

    def restore(
        self, state: Mapping[str, Any], balances: Mapping[str, Decimal] | None = None
    ) -> None:
        """Replace this venue's state with a :meth:`snapshot`; refused whole if any part is bad.

        A format-1 snapshot (written before the venue kept an account) holds no balances:
        ``balances`` gives them (the ledger's cash and positions, which the venue's fills had
        made); it is refused without them."""
        version = state.get("format")
        if version == _FORMAT_WITHOUT_BALANCES:
            if balances is None:
                raise SnapshotError(
                    "snapshot balances: a format-1 snapshot holds none, and none were given"
                )
            account = {self.quote: Decimal(0), **balances}
        elif version == SNAPSHOT_FORMAT:
            raw_balances = _typed(state, "balances", dict, "snapshot")
            account = {
                str(asset): _decimal(value, f"snapshot balances[{asset!r}]")
                for asset, value in raw_balances.items()
            }
            if self.quote not in account:
                raise SnapshotError(f"snapshot balances: no {self.quote} (the quote currency)")
        else:
            raise SnapshotError(
                f"snapshot format: expected {SNAPSHOT_FORMAT} or {_FORMAT_WITHOUT_BALANCES} "
                f"(got {version!r})"
            )
        raw_orders = _typed(state, "orders", list, "snapshot")
        raw_ids = _typed(state, "accepted_ids", list, "snapshot")
        raw_last = _typed(state, "last_candle_ms", dict, "snapshot")
        resting: dict[str, _Resting] = {}
        for index, raw in enumerate(raw_orders):
            where = f"snapshot orders[{index}]"
            if not isinstance(raw, dict):
                raise SnapshotError(f"{where}: must be an object (got {type(raw).__name__})")
            item = _order_from_dict(raw, where)
            if item.order.symbol not in self._specs:
                raise SnapshotError(f"{where}.symbol: no market spec for {item.order.symbol!r}")
            if item.order.client_order_id in resting:
                raise SnapshotError(f"{where}.client_order_id: {item.order.client_order_id} twice")
            resting[item.order.client_order_id] = item
        known: set[str] = set()
        for index, value in enumerate(raw_ids):
            if not isinstance(value, str):
                raise SnapshotError(f"snapshot accepted_ids[{index}]: must be a string")
            known.add(value)
        missing = sorted(set(resting) - known)
        if missing:
            raise SnapshotError(f"snapshot accepted_ids: resting orders {missing} are not listed")
        last: dict[str, int] = {}
        for symbol, value in raw_last.items():
            last[str(symbol)] = _int(value, f"snapshot last_candle_ms[{symbol!r}]")
        self._resting, self._known_ids, self._last_candle_ms = resting, known, last
        self._balances = account


def _first_in_candle(outcome: _Outcome) -> tuple[int, Decimal, int]:
    """Sort key: the outcome taken to have happened first within the candle.

    A member that cannot be filled is settled first; then a fill at the open, which certainly
    came first; otherwise the fill worse for the trader (the lowest sell, the highest buy),
    because a candle's high and low do not say which came first.
    """
    result = outcome.result
    if isinstance(result, Unfillable):
        return (0, Decimal(0), outcome.rank)
    worse_first = result.price if outcome.resting.order.side is OrderSide.SELL else -result.price
    return (1 if result.at_open else 2, worse_first, outcome.rank)


def _order_to_dict(resting: _Resting) -> dict[str, Any]:
    order = resting.order
    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": str(order.qty),
        "created_ms": order.created_ms,
        "price": _optional_str(order.price),
        "reference_price": _optional_str(order.reference_price),
        "decision_id": order.decision_id,
        "oco_group": order.oco_group,
        "spend": _optional_str(order.spend),
        "purpose": order.purpose.value,
        "accepted_ms": resting.accepted_ms,
    }


def _order_from_dict(raw: Mapping[str, Any], where: str) -> _Resting:
    kind = _enum(OrderType, raw, "type", where)
    client_id = _typed(raw, "client_order_id", str, where)
    # A snapshot written before orders carried their purpose: read once from id and type.
    purpose = (
        legacy_purpose(client_id, kind)
        if raw.get("purpose") is None
        else _enum(OrderPurpose, raw, "purpose", where)
    )
    try:
        order = Order(
            client_order_id=client_id,
            symbol=_typed(raw, "symbol", str, where),
            side=_enum(OrderSide, raw, "side", where),
            type=kind,
            qty=_decimal(raw.get("qty"), f"{where}.qty"),
            created_ms=_int(raw.get("created_ms"), f"{where}.created_ms"),
            price=_optional_decimal(raw, "price", where),
            reference_price=_optional_decimal(raw, "reference_price", where),
            decision_id=_optional_typed(raw, "decision_id", where),
            oco_group=_optional_typed(raw, "oco_group", where),
            spend=_optional_decimal(raw, "spend", where),
            purpose=purpose,
        )
    except ValueError as error:
        raise SnapshotError(f"{where}: {error}") from None
    return _Resting(order, _int(raw.get("accepted_ms"), f"{where}.accepted_ms"))


def _optional_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _typed(raw: Mapping[str, Any], key: str, kind: type[_T], where: str) -> _T:
    value = raw.get(key)
    if not isinstance(value, kind):
        raise SnapshotError(f"{where}.{key}: must be a {kind.__name__} (got {value!r})")
    return value


def _optional_typed(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise SnapshotError(f"{where}.{key}: must be a string or null (got {value!r})")
    return value


def _enum(kind: type[_E], raw: Mapping[str, Any], key: str, where: str) -> _E:
    value = raw.get(key)
    allowed: Sequence[str] = [member.value for member in kind]
    if value not in allowed:
        raise SnapshotError(f"{where}.{key}: must be one of {', '.join(allowed)} (got {value!r})")
    return kind(str(value))


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{where}: must be an integer of milliseconds (got {value!r})")
    return int(value)


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise SnapshotError(f"{where}: must be a decimal string (got {value!r})")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SnapshotError(f"{where}: must be a decimal string (got {value!r})") from None
    if not number.is_finite():
        raise SnapshotError(f"{where}: must be a finite decimal (got {value!r})")
    return number


def _optional_decimal(raw: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    value = raw.get(key)
    return None if value is None else _decimal(value, f"{where}.{key}")
