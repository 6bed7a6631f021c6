"""Random sequences of fills, fees, deposits and marks: the ledger must balance after each one.

The accounting identity checked after every step, exactly (no tolerance):

    equity(marks) - starting_cash - deposits_total
        == realized_pnl + unrealized_pnl(marks) - fees_total + rounding_residue

``rounding_residue`` is the sum of what cash quantisation changed, recorded entry by entry; each
entry's share is at most half a unit of the quote precision, so the residue cannot hide an error.
An independent model in exact fractions (no quantisation at all) checks quantities and fees
exactly, and cash and realized PnL within the rounding the ledger is allowed to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sigmax.domain.ledger import (
    InsufficientCashError,
    Ledger,
    OversellError,
    utc_day,
)
from sigmax.domain.orders import Fill, Liquidity, OrderSide

SYMBOLS = ("BTC/USDT", "ETH/USDT")
START_MS = 1_679_529_600_000  # 2023-03-23 00:00 UTC
TEN_HOURS_MS = 36_000_000


def positive_decimals(max_int: int, max_scale: int) -> st.SearchStrategy[Decimal]:
    """Positive Decimals built exactly from an integer and a number of decimals."""
    return st.builds(
        lambda digits, scale: Decimal(digits).scaleb(-scale),
        st.integers(1, max_int),
        st.integers(0, max_scale),
    )


@dataclass(frozen=True)
class Step:
    """One random event; which fields matter depends on ``action``."""

    advance_ms: int
    action: str
    symbol: str
    price: Decimal
    fee_rate: Decimal
    buy_share_permille: int  # of the cash, up to 110 % so that some buys must be refused
    sell_share_permille: int  # of the holding; 1000 closes the position
    qty_decimals: int
    oversell: bool
    marks: tuple[Decimal, Decimal]
    amount: Decimal  # standalone fee or deposit
    save_and_resume: bool


STEPS = st.builds(
    Step,
    advance_ms=st.integers(0, TEN_HOURS_MS),
    action=st.sampled_from(["buy", "buy", "sell", "sell", "sell", "mark", "fee", "deposit"]),
    symbol=st.sampled_from(SYMBOLS),
    price=positive_decimals(10**8, 6),
    fee_rate=st.integers(0, 20).map(lambda bp: Decimal(bp).scaleb(-4)),  # 0 to 0.2 %
    buy_share_permille=st.integers(1, 1100),
    sell_share_permille=st.one_of(st.just(1000), st.integers(1, 999)),
    qty_decimals=st.integers(0, 8),
    oversell=st.integers(0, 9).map(lambda n: n == 0),
    marks=st.tuples(positive_decimals(10**8, 4), positive_decimals(10**8, 4)),
    amount=positive_decimals(10**8, 10),
    save_and_resume=st.booleans(),
)


@dataclass
class Model:
    """What the ledger should hold, in exact fractions, without any quantisation."""

    cash: Fraction
    qty: dict[str, Fraction] = field(default_factory=dict)
    cost: dict[str, Fraction] = field(default_factory=dict)
    realized: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)
    partial_sells: int = 0

    def buy(self, symbol: str, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        self.cash -= Fraction(qty) * Fraction(price) + Fraction(fee)
        self.qty[symbol] = self.qty.get(symbol, Fraction(0)) + Fraction(qty)
        self.cost[symbol] = self.cost.get(symbol, Fraction(0)) + Fraction(qty) * Fraction(price)
        self.fees += Fraction(fee)

    def sell(self, symbol: str, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        held, cost = self.qty[symbol], self.cost[symbol]
        released = cost * Fraction(qty) / held
        if Fraction(qty) < held:
            self.partial_sells += 1
        self.realized += Fraction(qty) * Fraction(price) - released
        self.cash += Fraction(qty) * Fraction(price) - Fraction(fee)
        self.qty[symbol] = held - Fraction(qty)
        self.cost[symbol] = cost - released
        self.fees += Fraction(fee)


def check_everything(ledger: Ledger, model: Model, marks: dict[str, Decimal]) -> None:
    ledger.check_balanced()
    entries = ledger.entries
    half_unit = ledger.quote_precision / 2
    with localcontext() as context:
        context.prec = 300  # the expected values must not be rounded by the test itself
        positions = ledger.open_positions()
        held_value = sum((p.qty * marks[s] for s, p in positions.items()), start=Decimal(0))
        assert ledger.equity(marks) == ledger.cash + held_value
        assert ledger.cash == ledger.starting_cash + sum(
            (e.cash_delta for e in entries), start=Decimal(0)
        )
        assert ledger.unrealized_pnl(marks) == sum(
            (p.qty * marks[s] - p.cost_basis for s, p in positions.items()), start=Decimal(0)
        )
        left = ledger.equity(marks) - ledger.starting_cash - ledger.deposits_total
        right = (
            ledger.realized_pnl
            + ledger.unrealized_pnl(marks)
            - ledger.fees_total
            + ledger.rounding_residue
        )
        assert left == right
        assert all(abs(e.rounding) <= half_unit for e in entries)
        assert ledger.cash >= 0
        assert ledger.cash == ledger.cash.quantize(ledger.quote_precision)

        # The exact model: quantities and fees agree exactly, cash and realized PnL within
        # the rounding the ledger is allowed (half a unit per entry, one unit per partial sell).
        for symbol in SYMBOLS:
            assert Fraction(ledger.position(symbol).qty) == model.qty.get(symbol, 0)
            assert ledger.position(symbol).qty >= 0
        assert Fraction(ledger.fees_total) == model.fees
        unit = Fraction(ledger.quote_precision)
        assert Fraction(ledger.cash) - model.cash == Fraction(ledger.rounding_residue)
        assert abs(Fraction(ledger.cash) - model.cash) <= len(entries) * unit / 2
        assert abs(Fraction(ledger.realized_pnl) - model.realized) <= model.partial_sells * unit

        days = {utc_day(e.timestamp_ms) for e in entries}
        assert sum((ledger.daily_realized_pnl(d) for d in days), start=Decimal(0)) == (
            ledger.realized_pnl
        )
        assert sum((ledger.daily_fees(d) for d in days), start=Decimal(0)) == ledger.fees_total
        if ledger.current_day is not None:
            day: date = ledger.current_day
            assert ledger.daily_pnl(day, marks) == (
                ledger.equity(marks) - ledger.day_open_equity(day)
            )


@settings(max_examples=300, deadline=None)
@given(
    quote_precision=st.sampled_from([Decimal("0.01"), Decimal("0.00000001")]),
    starting_cents=st.integers(0, 10**9),
    first_marks=st.tuples(positive_decimals(10**8, 4), positive_decimals(10**8, 4)),
    steps=st.lists(STEPS, min_size=1, max_size=30),
)
def test_random_sequences_keep_the_ledger_exactly_balanced(
    quote_precision: Decimal,
    starting_cents: int,
    first_marks: tuple[Decimal, Decimal],
    steps: list[Step],
) -> None:
    starting_cash = Decimal(starting_cents).scaleb(-2)
    ledger = Ledger(starting_cash, quote_precision)
    twin = Ledger(starting_cash, quote_precision)  # saved and restored along the way
    model = Model(cash=Fraction(starting_cash))
    marks = dict(zip(SYMBOLS, first_marks, strict=True))
    now = START_MS

    for index, step in enumerate(steps):
        now += step.advance_ms
        symbol, price, fee_rate = step.symbol, step.price, step.fee_rate
        if step.action == "sell" and not step.oversell and ledger.open_positions():
            # Sell something that is held, so that most sells are real ones.
            symbol = symbol if symbol in ledger.open_positions() else min(ledger.open_positions())
        held = ledger.position(symbol).qty

        if step.action == "buy":
            # Aim at up to 110 % of the cash, so some buys must be refused.
            unit = Decimal(1).scaleb(-step.qty_decimals)
            with localcontext() as context:
                context.prec = 300
                budget = ledger.cash * step.buy_share_permille / 1000 / (price * (1 + fee_rate))
                qty = max(budget.quantize(unit, rounding=ROUND_DOWN), unit)
                fee = qty * price * fee_rate
                affordable = qty * price + fee <= ledger.cash
            fill = Fill(f"b{index}", symbol, OrderSide.BUY, qty, price, fee, now, Liquidity.TAKER)
            before = ledger.snapshot()
            event(f"buy {'applied' if affordable else 'refused'}")
            if affordable:
                ledger.apply_fill(fill)
                twin.apply_fill(fill)
                model.buy(symbol, qty, price, fee)
            else:
                with pytest.raises(InsufficientCashError):
                    ledger.apply_fill(fill)
                assert ledger.snapshot() == before
        elif step.action == "sell":
            oversell = held == 0 or step.oversell
            with localcontext() as context:
                context.prec = 300
                if oversell:
                    qty = held + Decimal(1).scaleb(-step.qty_decimals)
                else:
                    share = step.sell_share_permille
                    qty = (held * share / 1000).quantize(Decimal("1e-10"), rounding=ROUND_DOWN)
                    qty = qty if qty > 0 else held
                fee = qty * price * fee_rate
            fill = Fill(f"s{index}", symbol, OrderSide.SELL, qty, price, fee, now, Liquidity.MAKER)
            before = ledger.snapshot()
            event(f"sell {'refused' if oversell else 'closing' if qty == held else 'partial'}")
            if oversell:
                with pytest.raises(OversellError):
                    ledger.apply_fill(fill)
                assert ledger.snapshot() == before
            else:
                ledger.apply_fill(fill)
                twin.apply_fill(fill)
                model.sell(symbol, qty, price, fee)
        elif step.action == "mark":
            marks = dict(zip(SYMBOLS, step.marks, strict=True))
            ledger.mark_to_market(now, marks)
            twin.mark_to_market(now, marks)
        elif step.action == "fee":
            fee = step.amount.scaleb(-4)
            if fee <= ledger.cash:
                ledger.charge_fee(now, fee, symbol=symbol)
                twin.charge_fee(now, fee, symbol=symbol)
                model.cash -= Fraction(fee)
                model.fees += Fraction(fee)
        else:
            amount = step.amount.quantize(Decimal("0.01"), rounding=ROUND_DOWN) + Decimal("0.01")
            ledger.deposit(now, amount)
            twin.deposit(now, amount)
            model.cash += Fraction(amount)

        check_everything(ledger, model, marks)
        if step.save_and_resume:
            # Save and resume the twin: from here on it must stay identical to the ledger.
            saved = twin.snapshot()
            twin = Ledger.restore(json.loads(json.dumps(saved)))
            assert twin.snapshot() == saved
    assert twin.snapshot() == ledger.snapshot()
