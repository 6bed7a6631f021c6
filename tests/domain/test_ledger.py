"""The ledger on hand-computed cases: every expected number below was worked out by hand."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from sigmax.domain.candles import datetime_to_ms
from sigmax.domain.ledger import (
    DuplicateFillError,
    EntryKind,
    InsufficientCashError,
    Ledger,
    LedgerError,
    OversellError,
    UnbalancedLedgerError,
    utc_day,
)
from sigmax.domain.orders import Fill, Liquidity, OrderSide

BTC = "BTC/USDT"
ETH = "ETH/USDT"
D = Decimal


def at(day: int, hour: int, minute: int = 0) -> int:
    """Milliseconds of 2023-03-<day> <hour>:<minute> UTC."""
    return datetime_to_ms(datetime(2023, 3, day, hour, minute, tzinfo=UTC))


def _content_id(*parts: object) -> str:
    return "o-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def fill(
    side: OrderSide,
    qty: str,
    price: str,
    fee: str = "0",
    *,
    symbol: str = BTC,
    ts: int | None = None,
    order_id: str | None = None,
    sequence: int = 0,
) -> Fill:
    timestamp_ms = at(23, 12) if ts is None else ts
    return Fill(
        # Derived from the fill's content so that building the same fill twice names the same
        # order, as a venue would.
        client_order_id=order_id or _content_id(side, symbol, qty, price, timestamp_ms),
        symbol=symbol,
        side=side,
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        timestamp_ms=timestamp_ms,
        liquidity=Liquidity.TAKER,
        sequence=sequence,
    )


def buy(qty: str, price: str, fee: str = "0", **kwargs: Any) -> Fill:
    return fill(OrderSide.BUY, qty, price, fee, **kwargs)


def sell(qty: str, price: str, fee: str = "0", **kwargs: Any) -> Fill:
    return fill(OrderSide.SELL, qty, price, fee, **kwargs)


def assert_identity(ledger: Ledger, marks: dict[str, Decimal]) -> None:
    """equity - start - deposits == realized + unrealized - fees + rounding, exactly."""
    left = ledger.equity(marks) - ledger.starting_cash - ledger.deposits_total
    right = (
        ledger.realized_pnl
        + ledger.unrealized_pnl(marks)
        - ledger.fees_total
        + ledger.rounding_residue
    )
    assert left == right


# --------------------------------------------------------------------- fills


def test_buy_takes_notional_plus_fee_from_cash_and_keeps_the_fee_out_of_the_cost() -> None:
    ledger = Ledger(D("10000"))
    entry = ledger.apply_fill(buy("0.1", "20000", "2"))

    assert ledger.cash == D("7998")
    assert entry.kind is EntryKind.FILL
    assert entry.cash_delta == D("-2002")
    assert entry.fee == D("2")
    assert entry.rounding == 0
    assert entry.signed_qty == D("0.1")
    position = ledger.position(BTC)
    assert (position.qty, position.cost_basis, position.avg_price) == (
        D("0.1"),
        D("2000"),
        D("20000"),
    )
    assert ledger.fees_total == D("2")
    assert ledger.realized_pnl == 0
    assert ledger.realized_pnl_net == D("-2")
    assert ledger.equity({BTC: D("21000")}) == D("7998") + D("2100")
    assert ledger.unrealized_pnl({BTC: D("21000")}) == D("100")
    ledger.check_balanced()


def test_averaging_up_then_partial_sells_realize_against_the_weighted_average() -> None:
    ledger = Ledger(D("10000"))
    ledger.apply_fill(buy("0.1", "20000", "2"))
    ledger.apply_fill(buy("0.3", "24000", "7.2"))
    # (0.1 × 20000 + 0.3 × 24000) / 0.4 = 9200 / 0.4 = 23000; fees do not move it.
    assert ledger.position(BTC).avg_price == D("23000")
    assert ledger.position(BTC).cost_basis == D("9200")

    first = ledger.apply_fill(sell("0.1", "25000", "2.5"))
    assert first.realized_pnl == D("200")  # (25000 - 23000) × 0.1
    assert first.signed_qty == D("-0.1")
    assert ledger.position(BTC).qty == D("0.3")
    assert ledger.position(BTC).cost_basis == D("6900")
    assert ledger.position(BTC).avg_price == D("23000")

    second = ledger.apply_fill(sell("0.3", "22000", "6.6"))
    assert second.realized_pnl == D("-300")  # (22000 - 23000) × 0.3
    position = ledger.position(BTC)
    assert (position.qty, position.cost_basis, position.realized_pnl) == (D(0), D(0), D("-100"))
    assert ledger.open_positions() == {}
    assert BTC in ledger.all_positions()

    assert ledger.realized_pnl == D("-100")
    assert ledger.fees_total == D("18.3")  # 2 + 7.2 + 2.5 + 6.6
    assert ledger.realized_pnl_net == D("-118.3")
    # 10000 - 2002 - 7207.2 + 2497.5 + 6593.4
    assert ledger.cash == D("9881.7")
    assert ledger.cash == ledger.starting_cash + ledger.realized_pnl_net
    assert ledger.equity({}) == D("9881.7")
    ledger.check_balanced()


def test_sell_fee_reduces_the_proceeds_not_the_realized_pnl() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("2", "100"))
    entry = ledger.apply_fill(sell("1", "110", "0.11"))
    assert entry.realized_pnl == D("10")
    assert entry.cash_delta == D("109.89")
    assert ledger.cash == D("909.89")
    assert ledger.realized_pnl_net == D("9.89")
    assert ledger.position(BTC).realized_pnl == D("10")


def test_a_sell_releases_cost_in_proportion_and_the_last_one_releases_the_rest() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("3", "3.33333333"))
    ledger.apply_fill(buy("1", "0.00000001"))
    # cost 10.00000000 for 4 units; the first sell releases 10 × 1 / 4 exactly = 2.5
    assert ledger.position(BTC).cost_basis == D("10.00000000")
    ledger.apply_fill(sell("1", "3"))
    assert ledger.realized_pnl == D("0.5")
    # 7.5 left over 3 units; selling 1 releases 2.5 again; buy 1 more at 1 to break symmetry
    ledger.apply_fill(buy("1", "1"))  # cost 8.5 over 4 units: 2.125 per unit
    third = ledger.apply_fill(sell("3", "2"))  # releases 8.5 × 3 / 4 = 6.375
    assert third.realized_pnl == D("-0.375")
    # Last unit: the whole remaining cost 2.125 is released, nothing is left behind.
    last = ledger.apply_fill(sell("1", "2"))
    assert last.realized_pnl == D("-0.125")
    assert ledger.position(BTC).cost_basis == 0
    ledger.check_balanced()


def test_repeating_average_rounds_each_release_and_the_last_sell_takes_the_rest() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("3", "3.33333334"))  # cost 10.00000002, avg 3.33333334
    ledger.apply_fill(buy("3", "0.00000001"))  # cost 10.00000005
    # avg = 10.00000005 / 6 = 1.666666675; releasing 1 unit takes 1.66666668 (to 8 decimals)
    first = ledger.apply_fill(sell("1", "2"))
    assert first.realized_pnl == D("2") - D("1.66666668")
    assert ledger.position(BTC).cost_basis == D("10.00000005") - D("1.66666668")
    # the remaining 5 units are sold at once: they take the rest of the cost, exactly
    rest = ledger.apply_fill(sell("5", "2"))
    assert rest.realized_pnl == D("10") - (D("10.00000005") - D("1.66666668"))
    assert ledger.realized_pnl == D("12") - D("10.00000005")
    ledger.check_balanced()


def test_cash_is_quantised_half_even_and_the_difference_is_kept_in_the_entry() -> None:
    ledger = Ledger(D("100.00"), quote_precision=D("0.01"))
    # exact change: -(0.333 × 1.005 + 0.000333) = -0.334998; 99.665002 rounds to 99.67
    entry = ledger.apply_fill(buy("0.333", "1.005", "0.000333"))
    assert ledger.cash == D("99.67")
    assert entry.cash_delta == D("-0.33")
    assert entry.rounding == D("0.004998")
    # selling at 1.015: exact change 0.333 × 1.015 - 0.000333 = 0.337662; 100.007662 -> 100.01
    entry = ledger.apply_fill(sell("0.333", "1.015", "0.000333"))
    assert ledger.cash == D("100.01")
    assert entry.rounding == D("0.002338")
    assert ledger.rounding_residue == D("0.007336")
    # realized 0.00333, fees 0.000666: 100.01 - 100 = 0.00333 - 0.000666 + 0.007336
    assert ledger.realized_pnl == D("0.00333")
    assert_identity(ledger, {})
    ledger.check_balanced()


def test_half_even_rounding_goes_to_the_even_unit() -> None:
    ledger = Ledger(D("10.00"), quote_precision=D("0.01"))
    ledger.apply_fill(buy("1", "0.005"))  # 9.995 -> 10.00 (0 is even), not 9.99
    assert ledger.cash == D("10.00")
    ledger.apply_fill(buy("1", "0.015"))  # 9.985 -> 9.98
    assert ledger.cash == D("9.98")


# ------------------------------------------------------------------ refusals


def test_selling_more_than_held_is_refused_and_changes_nothing() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("1", "100"))
    before = ledger.snapshot()
    with pytest.raises(OversellError, match=r"sell of 1\.5 BTC/USDT exceeds the 1 held"):
        ledger.apply_fill(sell("1.5", "100"))
    with pytest.raises(OversellError, match="exceeds the 0 held"):
        ledger.apply_fill(sell("1", "100", symbol=ETH))
    assert ledger.snapshot() == before


def test_a_buy_cash_cannot_pay_is_refused_and_changes_nothing() -> None:
    ledger = Ledger(D("100"))
    before = ledger.snapshot()
    with pytest.raises(
        InsufficientCashError, match=r"needs 100\.10 \(fee 0\.1 included\) but cash is 100"
    ):
        ledger.apply_fill(buy("0.01", "10000", "0.1"))
    assert ledger.snapshot() == before
    ledger.apply_fill(buy("0.01", "10000"))  # exactly all the cash
    assert ledger.cash == 0
    with pytest.raises(InsufficientCashError):
        ledger.charge_fee(at(23, 13), D("0.01"))


def test_the_same_fill_is_applied_once() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("1", "100", order_id="sgx-entry-1", sequence=0))
    ledger.apply_fill(buy("1", "100", order_id="sgx-entry-1", sequence=1))
    with pytest.raises(DuplicateFillError, match="sgx-entry-1 #1 was already applied"):
        ledger.apply_fill(buy("1", "100", order_id="sgx-entry-1", sequence=1))
    assert ledger.position(BTC).qty == D("2")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Ledger(D("100"), quote_precision=D("0.5")), "power of ten"),
        (lambda: Ledger(D("100"), quote_precision=D("0")), "power of ten"),
        (lambda: Ledger(D("100.001"), quote_precision=D("0.01")), "more decimals"),
        (lambda: Ledger(D("-1")), "starting_cash must be >= 0"),
        (lambda: Ledger(D("NaN")), "starting_cash must be a finite Decimal"),
    ],
)
def test_invalid_ledger_settings_are_refused(make: Callable[[], Ledger], message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        make()


def test_invalid_events_are_refused() -> None:
    ledger = Ledger(D("100"))
    with pytest.raises(LedgerError, match="fill price must be a finite Decimal"):
        ledger.apply_fill(buy("1", "Infinity"))
    with pytest.raises(LedgerError, match="timestamp_ms"):
        ledger.apply_fill(buy("1", "1", ts=-5))
    with pytest.raises(LedgerError, match="mark of BTC/USDT must be > 0"):
        ledger.mark_to_market(at(23, 1), {BTC: D("0")})
    with pytest.raises(LedgerError, match="deposit amount must be > 0"):
        ledger.deposit(at(23, 1), D("-5"))
    with pytest.raises(LedgerError, match="more decimals"):
        ledger.deposit(at(23, 1), D("0.000000001"))
    with pytest.raises(LedgerError, match="fee must be > 0"):
        ledger.charge_fee(at(23, 1), D("0"))
    assert ledger.entries == ()


def test_equity_needs_a_mark_for_every_open_position() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("1", "100"))
    with pytest.raises(LedgerError, match="no mark price for BTC/USDT, of which 1 is held"):
        ledger.equity({ETH: D("2000")})
    assert ledger.equity({BTC: D("90"), ETH: D("2000")}) == D("990")


# ----------------------------------------------------------- fees, deposits


def test_standalone_fees_and_deposits_keep_the_books_balanced() -> None:
    ledger = Ledger(D("100"), quote_precision=D("0.01"))
    ledger.deposit(at(23, 1), D("50.25"))
    fee = ledger.charge_fee(at(23, 2), D("0.125"), symbol=BTC, client_order_id="sgx-x")
    assert fee.kind is EntryKind.FEE
    assert fee.cash_delta == D("-0.13")  # 150.25 - 0.125 = 150.125 rounds half even to 150.12
    assert fee.rounding == D("-0.005")
    assert ledger.cash == D("150.12")
    assert ledger.deposits_total == D("50.25")
    assert ledger.fees_total == D("0.125")
    assert ledger.daily_fees(date(2023, 3, 23)) == D("0.125")
    assert_identity(ledger, {})
    ledger.check_balanced()


# ---------------------------------------------------------------------- days


def test_utc_day_is_computed_without_float_rounding() -> None:
    assert utc_day(at(24, 0)) == date(2023, 3, 24)
    assert utc_day(at(24, 0) - 1) == date(2023, 3, 23)
    assert utc_day(0) == date(1970, 1, 1)


def test_daily_pnl_across_a_utc_midnight() -> None:
    day23, day24, day25 = date(2023, 3, 23), date(2023, 3, 24), date(2023, 3, 25)
    ledger = Ledger(D("10000"))
    ledger.mark_to_market(at(23, 22), {BTC: D("20000")})
    assert ledger.day_open_equity(day23) == D("10000")
    ledger.apply_fill(buy("0.1", "20000", "2", ts=at(23, 23)))
    ledger.mark_to_market(at(23, 23, 30), {BTC: D("20500")})  # same day: no new opening
    # The first event of the 24th is the midnight mark: the state as it stood (cash 7998 and
    # 0.1 BTC) valued at the marks it brings.
    ledger.mark_to_market(at(24, 0), {BTC: D("21000")})
    assert ledger.day_open_equity(day24) == D("7998") + D("2100")
    marks = {BTC: D("22000")}
    assert ledger.daily_pnl(day23, marks) == D("10198") - D("10000")
    assert ledger.daily_pnl(day24, marks) == D("10198") - D("10098")

    # On the 25th a fill comes first: the day opens on the state before it at the last marks.
    entry = ledger.apply_fill(sell("0.05", "22500", "1.125", ts=at(25, 1)))
    assert ledger.day_open_equity(day25) == D("7998") + D("0.1") * D("21000")
    assert entry.realized_pnl == D("125")  # (22500 - 20000) × 0.05
    assert ledger.daily_realized_pnl(day25) == D("125")
    assert ledger.daily_realized_pnl(day24) == 0
    assert ledger.daily_fees(day23) == D("2")
    assert ledger.daily_fees(day25) == D("1.125")
    # equity 7998 + 1123.875 + 0.05 × 22000 = 10221.875
    assert ledger.daily_pnl(day25, marks) == D("10221.875") - D("10098")
    assert ledger.current_day == day25

    with pytest.raises(LedgerError, match="no opening equity recorded for 2023-03-26"):
        ledger.daily_pnl(date(2023, 3, 26), marks)
    ledger.check_balanced()


def test_a_late_fill_counts_on_its_own_day_and_does_not_reopen_it() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("1", "100", ts=at(23, 10)))
    ledger.mark_to_market(at(24, 0), {BTC: D("110")})
    opening = ledger.day_open_equity(date(2023, 3, 24))
    ledger.apply_fill(sell("1", "105", "0.1", ts=at(23, 23, 59)))  # stamped before midnight
    assert ledger.daily_realized_pnl(date(2023, 3, 23)) == D("5")
    assert ledger.daily_fees(date(2023, 3, 23)) == D("0.1")
    assert ledger.daily_realized_pnl(date(2023, 3, 24)) == 0
    assert ledger.day_open_equity(date(2023, 3, 24)) == opening
    assert ledger.current_day == date(2023, 3, 24)
    ledger.check_balanced()


def test_a_symbol_never_marked_opens_the_day_at_its_cost() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("2", "100", ts=at(23, 10)))
    ledger.apply_fill(buy("1", "50", symbol=ETH, ts=at(24, 1)))
    assert ledger.day_open_equity(date(2023, 3, 24)) == D("800") + D("200")


# --------------------------------------------------------- snapshot, restore


def _scenario() -> list[Callable[[Ledger], object]]:
    """Buys, sells, fees, a deposit and marks across three UTC days, with rounding."""
    return [
        lambda lg: lg.mark_to_market(at(23, 20), {BTC: D("20000"), ETH: D("1500")}),
        lambda lg: lg.apply_fill(buy("0.12345", "20000.01", "2.469001", ts=at(23, 21))),
        lambda lg: lg.apply_fill(buy("1.3333", "1500.07", "1.99", symbol=ETH, ts=at(23, 22))),
        lambda lg: lg.mark_to_market(at(24, 0), {BTC: D("20100.5"), ETH: D("1490.33")}),
        lambda lg: lg.apply_fill(sell("0.04", "20200.02", "0.80800080", ts=at(24, 3))),
        lambda lg: lg.charge_fee(at(24, 4), D("0.0000000049"), symbol=ETH),
        lambda lg: lg.deposit(at(24, 5), D("250")),
        lambda lg: lg.apply_fill(buy("0.00777", "20300", "0.157731", ts=at(24, 6))),
        lambda lg: lg.apply_fill(sell("0.3333", "1512.34", "0.504", symbol=ETH, ts=at(24, 23))),
        lambda lg: lg.mark_to_market(at(25, 0), {BTC: D("20010"), ETH: D("1520")}),
        lambda lg: lg.apply_fill(sell("0.09122", "19999.99", "1.82", ts=at(25, 2))),
        lambda lg: lg.apply_fill(sell("1", "1530.5", "1.53", symbol=ETH, ts=at(25, 3))),
    ]


@pytest.mark.parametrize("stop_after", range(len(_scenario()) + 1))
def test_restoring_then_continuing_equals_never_stopping(stop_after: int) -> None:
    steps = _scenario()
    never_stopped = Ledger(D("5000"))
    for step in steps:
        step(never_stopped)

    first_half = Ledger(D("5000"))
    for step in steps[:stop_after]:
        step(first_half)
    saved = json.dumps(first_half.snapshot())
    resumed = Ledger.restore(json.loads(saved))
    assert resumed.snapshot() == first_half.snapshot()
    for step in steps[stop_after:]:
        step(resumed)

    assert resumed.snapshot() == never_stopped.snapshot()
    assert resumed.open_positions() == never_stopped.open_positions() == {}
    resumed.check_balanced()
    day25 = date(2023, 3, 25)
    assert resumed.daily_pnl(day25, {}) == never_stopped.daily_pnl(day25, {})


@pytest.mark.parametrize("stop_after", range(len(_scenario()) + 1))
def test_a_head_with_the_entries_stored_apart_restores_the_same_ledger(stop_after: int) -> None:
    """What a store keeps: the head once per commit, each entry once (``entries_since``)."""
    ledger = Ledger(D("5000"))
    stored: list[dict[str, Any]] = []
    for step in _scenario()[:stop_after]:
        step(ledger)
        stored += [entry.to_dict() for entry in ledger.entries_since(len(stored))]
    head = json.loads(json.dumps(ledger.snapshot_head()))
    assert "entries" not in head
    assert head["entry_count"] == len(stored) == ledger.entry_count
    resumed = Ledger.restore({**head, "entries": stored})
    assert resumed.snapshot() == ledger.snapshot()


def test_a_head_is_refused_without_its_entries_or_with_another_number_of_them() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("2", "100", "0.2", ts=at(23, 1)))
    ledger.apply_fill(sell("1", "110", "0.11", ts=at(23, 2)))
    head = ledger.snapshot_head()
    with pytest.raises(LedgerError, match="a head without its entries"):
        Ledger.restore(head)
    one = [ledger.entries[0].to_dict()]
    with pytest.raises(LedgerError, match="'entry_count' says 2 entries, 1 are given"):
        Ledger.restore({**head, "entries": one})
    with pytest.raises(LedgerError, match="count 3 is beyond the 2 entries booked"):
        ledger.entries_since(3)
    assert ledger.entries_since(2) == ()


def test_a_restored_ledger_still_refuses_a_fill_it_already_applied() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("1", "100", order_id="sgx-entry-9", sequence=3))
    resumed = Ledger.restore(json.loads(json.dumps(ledger.snapshot())))
    with pytest.raises(DuplicateFillError):
        resumed.apply_fill(buy("1", "100", order_id="sgx-entry-9", sequence=3))


def _tampered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("2", "100", "0.2", ts=at(23, 1)))
    ledger.apply_fill(sell("1", "110", "0.11", ts=at(23, 2)))
    state: dict[str, Any] = json.loads(json.dumps(ledger.snapshot()))
    change(state)
    return state


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(cash="900"), "cash 900 != starting cash"),
        (lambda s: s["positions"][0].update(qty="1.5"), "BTC/USDT qty 1.5 != what its fills"),
        (lambda s: s["positions"][0].update(cost_basis="99"), "BTC/USDT cost basis 99"),
        (lambda s: s["positions"][0].update(realized_pnl="11"), "BTC/USDT realized PnL 11"),
        (lambda s: s.update(fees_total="0.3"), "fees_total 0.3 != Σ of the entries"),
        (lambda s: s.update(realized_pnl="0"), "realized_pnl 0 != Σ of the entries"),
        (lambda s: s["entries"][1].update(cash_delta="109"), "cash .* != starting cash"),
        (lambda s: s.update(daily_fees={}), "daily fee totals"),
        (lambda s: s.update(daily_realized={"2023-03-24": "10"}), "daily realized PnL totals"),
    ],
)
def test_check_balanced_finds_state_the_entries_do_not_explain(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(UnbalancedLedgerError, match=message):
        Ledger.restore(_tampered(change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(version=2), "version 2 is not supported"),
        (lambda s: s.pop("cash"), "field 'cash' is missing"),
        (lambda s: s.update(cash="ten"), "field 'cash' must be a decimal string"),
        (lambda s: s.update(cash=10), "field 'cash' must be a decimal string"),
        (lambda s: s["entries"][0].update(kind="gift"), r"entries\[0\]: field 'kind' must be"),
        (lambda s: s["entries"][1].update(sequence=5), r"entries\[1\]: sequence 5 != 1"),
        (lambda s: s.update(daily_fees={"yesterday": "1"}), "must be an ISO date"),
        (lambda s: s.update(positions={}), "field 'positions' must be a list"),
    ],
)
def test_restore_names_the_field_and_the_rule(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(LedgerError, match=message):
        Ledger.restore(_tampered(change))


def test_symbol_cash_flow_is_what_each_symbols_fills_and_fees_moved_and_survives_restore() -> None:
    ledger = Ledger(D("1000"))
    ledger.apply_fill(buy("2", "100", "0.2", ts=at(23, 1)))
    ledger.apply_fill(buy("1", "50", "0.05", symbol=ETH, ts=at(23, 2)))
    ledger.apply_fill(sell("2", "110", "0.22", ts=at(23, 3)))
    ledger.charge_fee(at(23, 4), D("0.01"), symbol=ETH)
    ledger.deposit(at(23, 5), D("10"))
    assert ledger.symbol_cash_flow(BTC) == D("19.58")  # -200.2 + 219.78
    assert ledger.symbol_cash_flow(ETH) == D("-50.06")
    assert ledger.symbol_cash_flow("SOL/USDT") == 0
    assert ledger.cash == D("1000") + D("19.58") - D("50.06") + D("10")
    resumed = Ledger.restore(json.loads(json.dumps(ledger.snapshot())))
    assert resumed.symbol_cash_flow(BTC) == D("19.58")
    assert resumed.symbol_cash_flow(ETH) == D("-50.06")
