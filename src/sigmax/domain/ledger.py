"""The exact ledger: cash, spot positions, fees and realized PnL, all in ``Decimal``.

Accounting rules (spot, long only, fees charged in the quote currency):

* A buy of ``qty`` at ``price`` with ``fee`` changes cash by ``-(qty * price + fee)``, a sell by
  ``qty * price - fee``. After every change cash is quantised to ``quote_precision`` with
  ROUND_HALF_EVEN, as a venue's balance is; the quantised change minus the exact change is the
  entry's ``rounding`` (never more than half a unit of ``quote_precision``).
* A position carries its exact **cost basis**: the sum of ``qty * price`` of what was bought,
  **fees excluded**. Fees are booked as an expense of their own (``fees_total``) instead of being
  folded into the average price, so gross realized PnL measures the trades themselves, the fee
  drag stays visible, and ``realized_pnl_net = realized_pnl - fees_total`` is one subtraction.
  ``avg_price`` is ``cost_basis / qty``.
* A sell of ``qty`` out of ``held`` releases ``cost_basis * qty / held`` of cost, rounded to
  ``quote_precision`` (the whole cost basis when the position closes), and realizes
  ``qty * price - released``: that is ``(price - avg_price) * qty`` to the quote precision. The
  released cost leaves the position and enters realized PnL unchanged, so nothing is lost.

Hence the accounting identity, exact to the last unit for any marks::

    equity(marks) - starting_cash - deposits_total
        == realized_pnl + unrealized_pnl(marks) - fees_total + rounding_residue

where ``rounding_residue`` is the sum of the entries' ``rounding``.

Days (UTC). Every event (fill, fee, deposit, :meth:`Ledger.mark_to_market`) carries a timestamp.
The first event whose UTC day is later than every day seen so far *opens* that day: the ledger
records the day's opening equity as the state just before that event, valued at the newest marks
known at that moment. For a ``mark_to_market`` call those are the marks it passes (an engine that
marks at every candle close therefore opens the day at the midnight prices); for a fill, fee or
deposit they are the marks of the latest ``mark_to_market`` call. A held symbol that was never
marked is valued at its cost basis. An event stamped on an earlier day than the current one (a
late fill) is booked in its own day's realized and fee totals but does not reopen that day.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum
from typing import Any, TypeVar

from sigmax.domain.orders import Fill, OrderSide
from sigmax.errors import SigmaxError

#: Version of the :meth:`Ledger.snapshot` format; :meth:`Ledger.restore` refuses other versions.
SNAPSHOT_VERSION = 1

_MS_PER_DAY = 86_400_000
_EPOCH_DAY = date(1970, 1, 1)
_ZERO = Decimal(0)
_E = TypeVar("_E", bound=StrEnum)

# Ledger arithmetic must be exact: with this context an addition or product that would need
# rounding raises instead of silently losing a unit. 200 digits is far beyond any real amount.
_EXACT = Context(
    prec=200,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
# Where rounding is intended (quantising cash, allocating cost, displaying an average).
_ROUNDING = Context(prec=200, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero])


class LedgerError(SigmaxError):
    """The ledger refused a change, or its state is inconsistent."""


class InsufficientCashError(LedgerError):
    """A change would make cash negative (paper spot trading has no credit)."""


class OversellError(LedgerError):
    """A sell of more than is held (spot, long only)."""


class DuplicateFillError(LedgerError):
    """A fill with the same order id and sequence was already applied."""


class UnbalancedLedgerError(LedgerError):
    """:meth:`Ledger.check_balanced` found state that its entries do not explain."""


class EntryKind(StrEnum):
    FILL = "fill"
    FEE = "fee"
    DEPOSIT = "deposit"


def utc_day(timestamp_ms: int) -> date:
    """The UTC calendar day of a millisecond timestamp (integer arithmetic, no float)."""
    return _EPOCH_DAY + timedelta(days=timestamp_ms // _MS_PER_DAY)


@contextmanager
def _exact_arithmetic() -> Iterator[None]:
    with localcontext(_EXACT):
        try:
            yield
        except Inexact as error:
            raise LedgerError(
                "an amount needs more than 200 significant digits; refusing to round it"
            ) from error
        except DecimalException as error:
            raise LedgerError(f"invalid decimal arithmetic: {error!r}") from error


def _inexact_error(error: DecimalException) -> LedgerError:
    """The error :func:`_exact_arithmetic` raises for ``error``, for code that calls the exact
    context's methods directly (no thread-context switch on the per-candle path)."""
    if isinstance(error, Inexact):
        return LedgerError("an amount needs more than 200 significant digits; refusing to round it")
    return LedgerError(f"invalid decimal arithmetic: {error!r}")


def _require_finite(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise LedgerError(f"{name} must be a finite Decimal (got {value!r})")


@dataclass(frozen=True, slots=True)
class Position:
    """A spot holding. ``cost_basis`` is the exact cost of ``qty`` (fees excluded);
    ``realized_pnl`` is the gross PnL realized on this symbol so far."""

    symbol: str
    qty: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal

    @property
    def avg_price(self) -> Decimal:
        """Average entry price, fees excluded; ``0`` for a flat position. Rounded to 28
        significant digits for display: the ledger itself uses the exact cost basis."""
        if self.qty == 0:
            return _ZERO
        return Context(prec=28, rounding=ROUND_HALF_EVEN).divide(self.cost_basis, self.qty)

    @property
    def is_open(self) -> bool:
        return self.qty > 0


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change to the ledger.

    ``qty`` is unsigned (``0`` outside fills); ``signed_qty`` is ``+qty`` for a buy and ``-qty``
    for a sell. ``cash_delta`` is the quantised change of cash; ``rounding`` is ``cash_delta``
    minus the exact change, so ``cash == starting_cash + Σ cash_delta`` holds exactly.
    """

    sequence: int
    timestamp_ms: int
    kind: EntryKind
    symbol: str | None
    side: OrderSide | None
    qty: Decimal
    price: Decimal
    cash_delta: Decimal
    fee: Decimal
    realized_pnl: Decimal
    rounding: Decimal
    client_order_id: str | None
    fill_sequence: int | None

    @property
    def signed_qty(self) -> Decimal:
        if self.side is OrderSide.SELL:
            return -self.qty
        return self.qty

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "timestamp_ms": self.timestamp_ms,
            "kind": self.kind.value,
            "symbol": self.symbol,
            "side": None if self.side is None else self.side.value,
            "qty": str(self.qty),
            "price": str(self.price),
            "cash_delta": str(self.cash_delta),
            "fee": str(self.fee),
            "realized_pnl": str(self.realized_pnl),
            "rounding": str(self.rounding),
            "client_order_id": self.client_order_id,
            "fill_sequence": self.fill_sequence,
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> LedgerEntry:
        reader = _StateReader(data, where)
        side = reader.optional_str("side")
        return cls(
            sequence=reader.integer("sequence"),
            timestamp_ms=reader.integer("timestamp_ms"),
            kind=reader.enum("kind", EntryKind),
            symbol=reader.optional_str("symbol"),
            side=None if side is None else reader.enum("side", OrderSide),
            qty=reader.decimal("qty"),
            price=reader.decimal("price"),
            cash_delta=reader.decimal("cash_delta"),
            fee=reader.decimal("fee"),
            realized_pnl=reader.decimal("realized_pnl"),
            rounding=reader.decimal("rounding"),
            client_order_id=reader.optional_str("client_order_id"),
            fill_sequence=reader.optional_int("fill_sequence"),
        )


class Ledger:
    """Cash, positions, fees and realized PnL of one account, changed only by entries.

    See the module docstring for the accounting rules and how UTC days are opened.
    """

    def __init__(
        self, starting_cash: Decimal, quote_precision: Decimal = Decimal("0.00000001")
    ) -> None:
        _require_finite("quote_precision", quote_precision)
        if quote_precision <= 0 or quote_precision.normalize().as_tuple().digits != (1,):
            raise LedgerError(
                f"quote_precision must be a positive power of ten such as 0.00000001 "
                f"(got {quote_precision})"
            )
        _require_finite("starting_cash", starting_cash)
        if starting_cash < 0:
            raise LedgerError(f"starting_cash must be >= 0 (got {starting_cash})")
        if self._quantise(starting_cash, quote_precision) != starting_cash:
            raise LedgerError(
                f"starting_cash {starting_cash} has more decimals than quote_precision "
                f"{quote_precision}"
            )
        self._starting_cash = starting_cash
        self._quote_precision = quote_precision
        self._cash = starting_cash
        self._positions: dict[str, Position] = {}
        self._entries: list[LedgerEntry] = []
        self._fees_total = _ZERO
        self._realized_total = _ZERO
        self._rounding_total = _ZERO
        self._deposits_total = _ZERO
        self._daily_realized: dict[date, Decimal] = {}
        self._daily_fees: dict[date, Decimal] = {}
        self._day_open_equity: dict[date, Decimal] = {}
        self._current_day: date | None = None
        self._last_marks: dict[str, Decimal] = {}
        self._applied_fills: set[tuple[str, int]] = set()
        #: Per symbol, the cash its fills and fees moved (signed, quantised as booked).
        self._symbol_cash_flow: dict[str, Decimal] = {}

    # ----------------------------------------------------------------- reading

    @property
    def starting_cash(self) -> Decimal:
        return self._starting_cash

    @property
    def quote_precision(self) -> Decimal:
        return self._quote_precision

    @property
    def cash(self) -> Decimal:
        return self._cash

    @property
    def fees_total(self) -> Decimal:
        """Every fee charged, exact (before cash quantisation)."""
        return self._fees_total

    @property
    def realized_pnl(self) -> Decimal:
        """Gross realized PnL of all sells, fees not deducted."""
        return self._realized_total

    @property
    def realized_pnl_net(self) -> Decimal:
        """Realized PnL after every fee paid (buys' and sells' alike)."""
        with _exact_arithmetic():
            return self._realized_total - self._fees_total

    @property
    def rounding_residue(self) -> Decimal:
        """Σ of the entries' ``rounding``: what cash quantisation added or removed in total."""
        return self._rounding_total

    @property
    def deposits_total(self) -> Decimal:
        """Cash deposited after the start (not counting ``starting_cash``)."""
        return self._deposits_total

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(self._entries)

    @property
    def entry_count(self) -> int:
        """How many entries have been booked (the next entry's ``sequence``)."""
        return len(self._entries)

    def entries_since(self, count: int) -> tuple[LedgerEntry, ...]:
        """The entries booked after the first ``count`` (those a store has not written yet)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise LedgerError(f"count must be an int >= 0 (got {count!r})")
        if count > len(self._entries):
            raise LedgerError(f"count {count} is beyond the {len(self._entries)} entries booked")
        return tuple(self._entries[count:])

    @property
    def current_day(self) -> date | None:
        """The latest UTC day an event opened, or ``None`` before the first event."""
        return self._current_day

    @property
    def last_marks(self) -> dict[str, Decimal]:
        """The newest mark price per symbol passed to :meth:`mark_to_market`."""
        return dict(self._last_marks)

    def symbol_cash_flow(self, symbol: str) -> Decimal:
        """The cash the entries of ``symbol`` moved in total (buys and fees negative, sells
        positive, as booked): ``starting share + this`` is the cash a sleeve of the account that
        trades only ``symbol`` holds."""
        return self._symbol_cash_flow.get(symbol, _ZERO)

    def position(self, symbol: str) -> Position:
        """The position in ``symbol`` (flat with zero cost if never traded)."""
        return self._positions.get(symbol, Position(symbol, _ZERO, _ZERO, _ZERO))

    def open_positions(self) -> dict[str, Position]:
        """Positions with a quantity above zero, by symbol."""
        return {symbol: p for symbol, p in self._positions.items() if p.is_open}

    def all_positions(self) -> dict[str, Position]:
        """Every symbol ever traded, open or flat (flat ones keep their realized PnL)."""
        return dict(self._positions)

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """``cash + Σ qty × mark`` over open positions; every open symbol needs a mark."""
        # Called for every equity point: the exact context's own methods, in the order of
        # ``cash + sum(..., start=0)``, so the result is the same Decimal (digits and exponent).
        exact = _EXACT
        holdings = _ZERO
        try:
            for position in self._positions.values():
                if position.qty > 0:
                    value = exact.multiply(position.qty, self._mark(marks, position))
                    holdings = exact.add(holdings, value)
            return exact.add(self._cash, holdings)
        except DecimalException as error:
            raise _inexact_error(error) from error

    def unrealized_pnl(self, marks: Mapping[str, Decimal]) -> Decimal:
        """``Σ (mark - avg_price) × qty``, computed exactly as ``Σ (qty × mark - cost_basis)``."""
        exact = _EXACT
        total = _ZERO
        try:
            for position in self._positions.values():
                if position.qty > 0:
                    value = exact.multiply(position.qty, self._mark(marks, position))
                    total = exact.add(total, exact.subtract(value, position.cost_basis))
            return total
        except DecimalException as error:
            raise _inexact_error(error) from error

    def day_open_equity(self, day: date) -> Decimal:
        """Equity recorded when ``day`` was opened (see the module docstring)."""
        try:
            return self._day_open_equity[day]
        except KeyError:
            raise LedgerError(
                f"no opening equity recorded for {day.isoformat()}: no ledger event opened "
                "that UTC day"
            ) from None

    def daily_pnl(self, day: date, marks: Mapping[str, Decimal]) -> Decimal:
        """Equity now (at ``marks``) minus the equity at the start of ``day``."""
        opening = self.day_open_equity(day)
        return self._since(opening, self.equity(marks))

    def pnl_since_day_open(self, day: date, equity: Decimal) -> Decimal:
        """``equity`` (the ledger's equity at some marks) minus the equity at the start of
        ``day``: :meth:`daily_pnl` for a caller that has the equity already."""
        return self._since(self.day_open_equity(day), equity)

    @staticmethod
    def _since(opening: Decimal, equity: Decimal) -> Decimal:
        try:
            return _EXACT.subtract(equity, opening)
        except DecimalException as error:
            raise _inexact_error(error) from error

    def daily_realized_pnl(self, day: date) -> Decimal:
        """Gross realized PnL of the fills stamped on ``day``."""
        return self._daily_realized.get(day, _ZERO)

    def daily_fees(self, day: date) -> Decimal:
        """Fees of the fills and fee entries stamped on ``day``."""
        return self._daily_fees.get(day, _ZERO)

    # ---------------------------------------------------------------- changing

    def apply_fill(self, fill: Fill) -> LedgerEntry:
        """Book a fill; refuses overselling, a buy cash cannot pay and a repeated fill.

        A refused fill leaves the ledger unchanged.
        """
        for name in ("qty", "price", "fee"):
            _require_finite(f"fill {name}", getattr(fill, name))
        self._require_timestamp(fill.timestamp_ms)
        key = (fill.client_order_id, fill.sequence)
        if key in self._applied_fills:
            raise DuplicateFillError(
                f"fill {fill.client_order_id} #{fill.sequence} was already applied"
            )
        held = self.position(fill.symbol)
        with _exact_arithmetic():
            notional = fill.qty * fill.price
            if fill.side is OrderSide.BUY:
                exact_delta = -(notional + fill.fee)
                if -exact_delta > self._cash:
                    raise InsufficientCashError(
                        f"buy of {fill.qty} {fill.symbol} at {fill.price} needs "
                        f"{-exact_delta} (fee {fill.fee} included) but cash is {self._cash}"
                    )
                realized = _ZERO
                after = replace(
                    held, qty=held.qty + fill.qty, cost_basis=held.cost_basis + notional
                )
            else:
                if fill.qty > held.qty:
                    raise OversellError(
                        f"sell of {fill.qty} {fill.symbol} exceeds the {held.qty} held "
                        "(spot trading is long only)"
                    )
                exact_delta = notional - fill.fee
                released = self._released_cost(held, fill.qty)
                realized = notional - released
                after = replace(
                    held,
                    qty=held.qty - fill.qty,
                    cost_basis=held.cost_basis - released,
                    realized_pnl=held.realized_pnl + realized,
                )
            new_cash = self._quantise(self._cash + exact_delta, self._quote_precision)
            if new_cash < 0:
                raise InsufficientCashError(
                    f"{fill.side.value} of {fill.qty} {fill.symbol} with fee {fill.fee} would "
                    f"leave cash at {new_cash}"
                )
            cash_delta = new_cash - self._cash
            entry = LedgerEntry(
                sequence=len(self._entries),
                timestamp_ms=fill.timestamp_ms,
                kind=EntryKind.FILL,
                symbol=fill.symbol,
                side=fill.side,
                qty=fill.qty,
                price=fill.price,
                cash_delta=cash_delta,
                fee=fill.fee,
                realized_pnl=realized,
                rounding=cash_delta - exact_delta,
                client_order_id=fill.client_order_id,
                fill_sequence=fill.sequence,
            )
            self._open_day(fill.timestamp_ms, self._last_marks)
            self._positions[fill.symbol] = after
            self._applied_fills.add(key)
            self._book(entry)
        return entry

    def charge_fee(
        self,
        timestamp_ms: int,
        fee: Decimal,
        *,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> LedgerEntry:
        """Book a fee that no fill carries (e.g. one a venue reports separately)."""
        _require_finite("fee", fee)
        if fee <= 0:
            raise LedgerError(f"fee must be > 0 (got {fee})")
        self._require_timestamp(timestamp_ms)
        with _exact_arithmetic():
            new_cash = self._quantise(self._cash - fee, self._quote_precision)
            if new_cash < 0:
                raise InsufficientCashError(f"fee {fee} exceeds cash {self._cash}")
            cash_delta = new_cash - self._cash
            entry = LedgerEntry(
                sequence=len(self._entries),
                timestamp_ms=timestamp_ms,
                kind=EntryKind.FEE,
                symbol=symbol,
                side=None,
                qty=_ZERO,
                price=_ZERO,
                cash_delta=cash_delta,
                fee=fee,
                realized_pnl=_ZERO,
                rounding=cash_delta + fee,
                client_order_id=client_order_id,
                fill_sequence=None,
            )
            self._open_day(timestamp_ms, self._last_marks)
            self._book(entry)
        return entry

    def deposit(self, timestamp_ms: int, amount: Decimal) -> LedgerEntry:
        """Add cash. ``amount`` must be > 0 and have no more decimals than ``quote_precision``."""
        _require_finite("amount", amount)
        if amount <= 0:
            raise LedgerError(f"deposit amount must be > 0 (got {amount})")
        if self._quantise(amount, self._quote_precision) != amount:
            raise LedgerError(
                f"deposit amount {amount} has more decimals than quote_precision "
                f"{self._quote_precision}"
            )
        self._require_timestamp(timestamp_ms)
        entry = LedgerEntry(
            sequence=len(self._entries),
            timestamp_ms=timestamp_ms,
            kind=EntryKind.DEPOSIT,
            symbol=None,
            side=None,
            qty=_ZERO,
            price=_ZERO,
            cash_delta=amount,
            fee=_ZERO,
            realized_pnl=_ZERO,
            rounding=_ZERO,
            client_order_id=None,
            fill_sequence=None,
        )
        with _exact_arithmetic():
            self._open_day(timestamp_ms, self._last_marks)
            self._book(entry)
        return entry

    def mark_to_market(self, timestamp_ms: int, marks: Mapping[str, Decimal]) -> None:
        """Record mark prices at ``timestamp_ms``; the first event of a UTC day opens it."""
        self._require_timestamp(timestamp_ms)
        last = self._last_marks
        for symbol, mark in marks.items():
            if last.get(symbol) is mark:
                continue  # this very object was checked when it was recorded
            _require_finite(f"mark of {symbol}", mark)
            if mark <= 0:
                raise LedgerError(f"mark of {symbol} must be > 0 (got {mark})")
        current = self._current_day
        if current is not None and utc_day(timestamp_ms) <= current:
            # The usual call (a day already opened): no day to value, the marks just replace.
            last.update(marks)
            return
        newest = {**last, **marks}
        with _exact_arithmetic():
            self._open_day(timestamp_ms, newest)
        self._last_marks = newest

    # --------------------------------------------------------------- invariants

    def check_balanced(self) -> None:
        """Raise :class:`UnbalancedLedgerError` unless the entries explain the whole state:
        cash, each position's quantity, cost basis and realized PnL, the fee, realized,
        rounding and deposit totals, and the daily totals."""
        problems: list[str] = []
        with _exact_arithmetic():
            cash = self._starting_cash
            fees = realized = rounding = deposits = _ZERO
            qty: dict[str, Decimal] = {}
            cost: dict[str, Decimal] = {}
            realized_by_symbol: dict[str, Decimal] = {}
            daily_fees: dict[date, Decimal] = {}
            daily_realized: dict[date, Decimal] = {}
            for entry in self._entries:
                cash += entry.cash_delta
                fees += entry.fee
                realized += entry.realized_pnl
                rounding += entry.rounding
                day = utc_day(entry.timestamp_ms)
                if entry.fee:
                    daily_fees[day] = daily_fees.get(day, _ZERO) + entry.fee
                if entry.kind is EntryKind.DEPOSIT:
                    deposits += entry.cash_delta
                if entry.kind is not EntryKind.FILL or entry.symbol is None:
                    continue
                symbol = entry.symbol
                notional = entry.qty * entry.price
                qty[symbol] = qty.get(symbol, _ZERO) + entry.signed_qty
                if entry.side is OrderSide.BUY:
                    cost[symbol] = cost.get(symbol, _ZERO) + notional
                else:
                    # A sell releases notional - realized of cost (see the module docstring).
                    cost[symbol] = cost.get(symbol, _ZERO) - (notional - entry.realized_pnl)
                    daily_realized[day] = daily_realized.get(day, _ZERO) + entry.realized_pnl
                realized_by_symbol[symbol] = (
                    realized_by_symbol.get(symbol, _ZERO) + entry.realized_pnl
                )
            if cash != self._cash:
                problems.append(f"cash {self._cash} != starting cash + Σ cash_delta = {cash}")
            for name, expected, actual in (
                ("fees_total", fees, self._fees_total),
                ("realized_pnl", realized, self._realized_total),
                ("rounding_residue", rounding, self._rounding_total),
                ("deposits_total", deposits, self._deposits_total),
            ):
                if expected != actual:
                    problems.append(f"{name} {actual} != Σ of the entries = {expected}")
            for symbol in sorted(set(qty) | set(self._positions)):
                position = self.position(symbol)
                checks = (
                    ("qty", qty.get(symbol, _ZERO), position.qty),
                    ("cost basis", cost.get(symbol, _ZERO), position.cost_basis),
                    ("realized PnL", realized_by_symbol.get(symbol, _ZERO), position.realized_pnl),
                )
                for name, expected, actual in checks:
                    if expected != actual:
                        problems.append(
                            f"{symbol} {name} {actual} != what its fills imply, {expected}"
                        )
                if position.qty < 0:
                    problems.append(f"{symbol} qty {position.qty} is negative")
            if _non_zero(daily_fees) != _non_zero(self._daily_fees):
                problems.append("daily fee totals disagree with the entries")
            if _non_zero(daily_realized) != _non_zero(self._daily_realized):
                problems.append("daily realized PnL totals disagree with the entries")
        if self._cash < 0:
            problems.append(f"cash {self._cash} is negative")
        if problems:
            raise UnbalancedLedgerError("ledger is not balanced: " + "; ".join(problems))

    # ------------------------------------------------------------- persistence

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict (Decimals and days as strings)."""
        state = self.snapshot_head()
        del state["entry_count"]
        state["entries"] = [entry.to_dict() for entry in self._entries]
        return state

    def snapshot_head(self) -> dict[str, Any]:
        """:meth:`snapshot` without the entries, which a store keeps apart (each written once):
        totals, positions, days and marks, and ``entry_count``. Its size does not grow with
        the entries booked. :meth:`restore` takes it back once ``entries`` (``entry_count`` of
        them) are added to it."""
        return {
            "version": SNAPSHOT_VERSION,
            "starting_cash": str(self._starting_cash),
            "quote_precision": str(self._quote_precision),
            "cash": str(self._cash),
            "fees_total": str(self._fees_total),
            "realized_pnl": str(self._realized_total),
            "rounding_residue": str(self._rounding_total),
            "deposits_total": str(self._deposits_total),
            "positions": [
                {
                    "symbol": p.symbol,
                    "qty": str(p.qty),
                    "cost_basis": str(p.cost_basis),
                    "realized_pnl": str(p.realized_pnl),
                }
                for p in self._positions.values()
            ],
            "entry_count": len(self._entries),
            "daily_realized": _days_to_json(self._daily_realized),
            "daily_fees": _days_to_json(self._daily_fees),
            "day_open_equity": _days_to_json(self._day_open_equity),
            "current_day": None if self._current_day is None else self._current_day.isoformat(),
            "last_marks": {symbol: str(mark) for symbol, mark in self._last_marks.items()},
        }

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> Ledger:
        """Rebuild a ledger from :meth:`snapshot` (or a :meth:`snapshot_head` with its
        ``entries`` added: its ``entry_count`` must then equal their number); the result is
        checked with :meth:`check_balanced`. Continuing it gives the same state as never
        stopping."""
        reader = _StateReader(state, "ledger state")
        version = reader.integer("version")
        if version != SNAPSHOT_VERSION:
            raise LedgerError(
                f"ledger state version {version} is not supported (expected {SNAPSHOT_VERSION})"
            )
        if "entries" not in reader.mapping and "entry_count" in reader.mapping:
            raise LedgerError(
                "ledger state: a head without its entries (entry_count "
                f"{reader.mapping['entry_count']!r}); add the stored entries before restoring"
            )
        entries = reader.sequence("entries")
        if "entry_count" in reader.mapping and reader.integer("entry_count") != len(entries):
            raise LedgerError(
                f"ledger state: field 'entry_count' says {reader.integer('entry_count')} "
                f"entries, {len(entries)} are given"
            )
        ledger = cls(reader.decimal("starting_cash"), reader.decimal("quote_precision"))
        ledger._cash = reader.decimal("cash")
        ledger._fees_total = reader.decimal("fees_total")
        ledger._realized_total = reader.decimal("realized_pnl")
        ledger._rounding_total = reader.decimal("rounding_residue")
        ledger._deposits_total = reader.decimal("deposits_total")
        for index, raw in enumerate(reader.sequence("positions")):
            item = _StateReader(raw, f"ledger state positions[{index}]")
            position = Position(
                item.string("symbol"),
                item.decimal("qty"),
                item.decimal("cost_basis"),
                item.decimal("realized_pnl"),
            )
            ledger._positions[position.symbol] = position
        for index, raw in enumerate(entries):
            entry = LedgerEntry.from_dict(raw, f"ledger state entries[{index}]")
            if entry.sequence != index:
                raise LedgerError(
                    f"ledger state entries[{index}]: sequence {entry.sequence} != {index}"
                )
            ledger._entries.append(entry)
            with _exact_arithmetic():
                ledger._flow(entry)
            if entry.client_order_id is not None and entry.fill_sequence is not None:
                ledger._applied_fills.add((entry.client_order_id, entry.fill_sequence))
        ledger._daily_realized = reader.days("daily_realized")
        ledger._daily_fees = reader.days("daily_fees")
        ledger._day_open_equity = reader.days("day_open_equity")
        current_day = reader.optional_str("current_day")
        ledger._current_day = (
            None if current_day is None else reader.day(current_day, "current_day")
        )
        ledger._last_marks = {
            symbol: reader.decimal_value(value, f"last_marks.{symbol}")
            for symbol, value in reader.sub_mapping("last_marks").items()
        }
        ledger.check_balanced()
        return ledger

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _quantise(value: Decimal, precision: Decimal) -> Decimal:
        return value.quantize(precision, rounding=ROUND_HALF_EVEN, context=_ROUNDING)

    def _released_cost(self, held: Position, qty: Decimal) -> Decimal:
        """Cost basis a sell of ``qty`` out of ``held`` takes with it (see module docstring)."""
        if qty == held.qty:
            return held.cost_basis
        share = _ROUNDING.divide(_ROUNDING.multiply(held.cost_basis, qty), held.qty)
        # Rounding could, for a cost basis below one unit, exceed what is there: cap it.
        return min(self._quantise(share, self._quote_precision), held.cost_basis)

    def _open(self) -> Iterator[Position]:
        return (p for p in self._positions.values() if p.is_open)

    def _mark(self, marks: Mapping[str, Decimal], position: Position) -> Decimal:
        symbol = position.symbol
        mark = marks.get(symbol)
        if mark is None:
            raise LedgerError(f"no mark price for {symbol}, of which {position.qty} is held")
        if mark is not self._last_marks.get(symbol):  # the recorded mark was checked already
            _require_finite(f"mark of {symbol}", mark)
        return mark

    @staticmethod
    def _require_timestamp(timestamp_ms: int) -> None:
        if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms < 0:
            raise LedgerError(
                f"timestamp_ms must be an int of milliseconds since the epoch >= 0 "
                f"(got {timestamp_ms!r})"
            )

    def _open_day(self, timestamp_ms: int, marks: Mapping[str, Decimal]) -> None:
        """Record the opening equity of a UTC day later than every day seen so far."""
        day = utc_day(timestamp_ms)
        if self._current_day is not None and day <= self._current_day:
            return
        value = self._cash
        for position in self._open():
            mark = marks.get(position.symbol)
            value += position.cost_basis if mark is None else position.qty * mark
        self._day_open_equity[day] = value
        self._current_day = day

    def _book(self, entry: LedgerEntry) -> None:
        day = utc_day(entry.timestamp_ms)
        self._entries.append(entry)
        self._cash += entry.cash_delta
        self._fees_total += entry.fee
        self._realized_total += entry.realized_pnl
        self._rounding_total += entry.rounding
        self._flow(entry)
        if entry.kind is EntryKind.DEPOSIT:
            self._deposits_total += entry.cash_delta
        if entry.fee:
            self._daily_fees[day] = self._daily_fees.get(day, _ZERO) + entry.fee
        if entry.side is OrderSide.SELL:
            self._daily_realized[day] = self._daily_realized.get(day, _ZERO) + entry.realized_pnl

    def _flow(self, entry: LedgerEntry) -> None:
        if entry.symbol is not None:
            flows = self._symbol_cash_flow
            flows[entry.symbol] = flows.get(entry.symbol, _ZERO) + entry.cash_delta


def _non_zero(totals: Mapping[date, Decimal]) -> dict[date, Decimal]:
    return {day: value for day, value in totals.items() if value != 0}


def _days_to_json(values: Mapping[date, Decimal]) -> dict[str, str]:
    return {day.isoformat(): str(value) for day, value in sorted(values.items())}


class _StateReader:
    """Typed access to a restored state dict; every error names the field and the rule."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise LedgerError(f"{where or 'ledger state'} must be an object (got {data!r})")
        self.mapping: Mapping[str, Any] = data
        self.where = where

    def _field(self, key: str) -> object:
        if key not in self.mapping:
            raise LedgerError(f"{self.where}: field {key!r} is missing")
        return self.mapping[key]

    def _error(self, key: str, rule: str, value: object) -> LedgerError:
        return LedgerError(f"{self.where}: field {key!r} {rule} (got {value!r})")

    def decimal(self, key: str) -> Decimal:
        return self.decimal_value(self._field(key), key)

    def decimal_value(self, value: object, key: str) -> Decimal:
        if not isinstance(value, str):
            raise self._error(key, "must be a decimal string", value)
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._error(key, "must be a decimal string", value) from None
        if not number.is_finite():
            raise self._error(key, "must be finite", value)
        return number

    def integer(self, key: str) -> int:
        value = self._field(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._error(key, "must be an integer", value)
        return value

    def optional_int(self, key: str) -> int | None:
        return None if self._field(key) is None else self.integer(key)

    def string(self, key: str) -> str:
        value = self._field(key)
        if not isinstance(value, str):
            raise self._error(key, "must be a string", value)
        return value

    def optional_str(self, key: str) -> str | None:
        return None if self._field(key) is None else self.string(key)

    def enum(self, key: str, kind: type[_E]) -> _E:
        value = self.string(key)
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise self._error(key, f"must be one of {allowed}", value) from None

    def sequence(self, key: str) -> list[object]:
        value = self._field(key)
        if not isinstance(value, list):
            raise self._error(key, "must be a list", value)
        return value

    def sub_mapping(self, key: str) -> Mapping[str, object]:
        value = self._field(key)
        if not isinstance(value, Mapping):
            raise self._error(key, "must be an object", value)
        return value

    def day(self, text: str, key: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self._error(key, "must be an ISO date such as 2023-03-24", text) from None

    def days(self, key: str) -> dict[date, Decimal]:
        return {
            self.day(day, f"{key} key"): self.decimal_value(value, f"{key}.{day}")
            for day, value in self.sub_mapping(key).items()
        }
