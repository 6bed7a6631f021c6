"""The bundled markets' rules, quantisation and every reason an order can be refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sigmax.domain.instruments import Symbol
from sigmax.domain.market import MarketSpec
from sigmax.domain.orders import OrderSide, OrderType
from sigmax.execution.instruments import (
    OrderRules,
    OrderRulesInputError,
    RuleVerdict,
    bundled_market_specs,
    size_to_qty,
)

D = Decimal


@pytest.fixture
def btc() -> OrderRules:
    return OrderRules(bundled_market_specs()["BTC/USDT"])


def _spec(**overrides: object) -> MarketSpec:
    """A market with every limit published, for the rules the bundled specs leave out."""
    values: dict[str, object] = {
        "exchange": "binance",
        "symbol": Symbol("TST", "USDT"),
        "active": True,
        "price_tick": D("0.5"),
        "amount_step": D("0.2"),
        "min_amount": D("0.3"),
        "max_amount": D("100.3"),
        "min_price": D("1.25"),
        "max_price": D("1000.25"),
        "min_notional": D("10"),
        "max_notional": D("5000"),
    }
    values.update(overrides)
    return MarketSpec(**values)  # type: ignore[arg-type]


# -------------------------------------------------------------- the bundled


@pytest.mark.parametrize(
    ("symbol", "tick", "step"),
    [
        ("BTC/USDT", "0.01", "0.00001"),
        ("ETH/USDT", "0.01", "0.0001"),
        ("SOL/USDT", "0.01", "0.001"),
        ("BNB/USDT", "0.1", "0.001"),
    ],
)
def test_bundled_specs_are_binance_spot_2023(symbol: str, tick: str, step: str) -> None:
    spec = bundled_market_specs()[symbol]
    assert spec.exchange == "binance"
    assert str(spec.symbol) == symbol
    assert spec.active
    assert spec.price_tick == D(tick)
    assert spec.amount_step == D(step)
    assert spec.min_amount == D(step)
    assert spec.min_notional == D("5")  # NOTIONAL filter, not the older 10 USDT MIN_NOTIONAL


def test_exactly_the_four_bundled_markets() -> None:
    assert sorted(bundled_market_specs()) == ["BNB/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT"]


# ------------------------------------------------------------- quantisation


@pytest.mark.parametrize(
    ("qty", "expected"),
    [
        ("0.123456789", "0.12345"),
        ("0.00001", "0.00001"),
        ("0.0000199999", "0.00001"),
        ("0.000004", "0"),
        ("0", "0"),
        ("3", "3"),
    ],
)
def test_quantize_qty_rounds_down_to_the_step(btc: OrderRules, qty: str, expected: str) -> None:
    assert btc.quantize_qty(D(qty)) == D(expected)


def test_quantize_qty_follows_a_grid_that_starts_at_the_minimum() -> None:
    rules = OrderRules(_spec())  # grid 0.3, 0.5, 0.7, ...
    assert rules.quantize_qty(D("0.69")) == D("0.5")
    assert rules.quantize_qty(D("0.7")) == D("0.7")
    assert rules.quantize_qty(D("0.29")) == 0


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        ("65000.001", OrderSide.BUY, "65000.01"),
        ("65000.001", OrderSide.SELL, "65000.00"),
        ("65000.009", OrderSide.SELL, "65000.00"),
        ("65000.01", OrderSide.BUY, "65000.01"),
        ("65000.01", OrderSide.SELL, "65000.01"),
    ],
)
def test_quantize_price_rounds_against_the_trader(
    btc: OrderRules, price: str, side: OrderSide, expected: str
) -> None:
    assert btc.quantize_price(D(price), side) == D(expected)


def test_bnb_prices_use_its_tenth_tick() -> None:
    bnb = OrderRules(bundled_market_specs()["BNB/USDT"])
    assert bnb.quantize_price(D("246.31"), OrderSide.BUY) == D("246.4")
    assert bnb.quantize_price(D("246.39"), OrderSide.SELL) == D("246.3")


def test_quantize_price_on_a_grid_that_starts_at_the_minimum_price() -> None:
    rules = OrderRules(_spec())  # grid 1.25, 1.75, 2.25, ...
    assert rules.quantize_price(D("2"), OrderSide.BUY) == D("2.25")
    assert rules.quantize_price(D("2"), OrderSide.SELL) == D("1.75")


@pytest.mark.parametrize(
    ("size", "price", "expected"),
    [
        ("10", "65000", "0.00015"),  # 10 / 65000 = 0.000153...
        ("6.5", "65000", "0.0001"),  # exactly on the grid: no rounding down past it
        ("100", "3", "33.33333"),
        ("0.1", "65000", "0"),
        ("0", "65000", "0"),
    ],
)
def test_size_to_qty_never_exceeds_the_size(
    btc: OrderRules, size: str, price: str, expected: str
) -> None:
    qty = size_to_qty(D(size), D(price), btc)
    assert qty == D(expected)
    assert qty * D(price) <= D(size)


# ---------------------------------------------------------------- the checks


def test_a_valid_order_passes(btc: OrderRules) -> None:
    assert btc.check(D("0.001"), D("65000.01")) == RuleVerdict(ok=True, reasons=())


def test_min_notional_is_exactly_five_usdt(btc: OrderRules) -> None:
    assert btc.check(D("0.0001"), D("50000")).ok  # 5.0000 USDT
    verdict = btc.check(D("0.0001"), D("49999.99"))
    assert verdict.reasons == ("notional 4.999999 USDT below min notional 5 USDT (NOTIONAL)",)


def test_the_rejection_reasons_name_the_filter(btc: OrderRules) -> None:
    assert btc.check(D("0.0001"), D("32000")).reasons == (
        "notional 3.20 USDT below min notional 5 USDT (NOTIONAL)",
    )
    assert btc.check(D("0.000004"), D("2000000")).reasons == (
        "qty 0.000004 below min qty 0.00001 (LOT_SIZE)",
        "qty 0.000004 is not a multiple of step size 0.00001 (LOT_SIZE)",
    )
    assert btc.check(D("0.000105"), D("65000")).reasons == (
        "qty 0.000105 is not a multiple of step size 0.00001 (LOT_SIZE)",
    )
    assert btc.check(D("0.001"), D("65000.005")).reasons == (
        "price 65000.005 is not a multiple of tick size 0.01 (PRICE_FILTER)",
    )


def test_a_market_order_reference_price_need_not_be_on_the_tick(btc: OrderRules) -> None:
    assert btc.check(D("0.001"), D("65000.005"), OrderType.MARKET).ok
    # ... but its estimated notional must still reach the minimum
    assert not btc.check(D("0.00005"), D("65000.005"), OrderType.MARKET).ok


def test_every_published_limit_is_enforced() -> None:
    rules = OrderRules(_spec())
    assert rules.check(D("0.5"), D("25.25")).ok
    assert rules.check(D("100.5"), D("25.25")).reasons == (
        "qty 100.5 above max qty 100.3 (LOT_SIZE)",
    )
    assert rules.check(D("0.6"), D("25.25")).reasons == (
        "qty 0.6 is not a multiple of step size 0.2 (LOT_SIZE)",  # grid 0.3, 0.5, 0.7, ...
    )
    assert rules.check(D("10.3"), D("1.00")).reasons == (
        "price 1 below min price 1.25 (PRICE_FILTER)",
        "price 1 is not a multiple of tick size 0.5 (PRICE_FILTER)",
    )
    assert rules.check(D("0.5"), D("1001.25")).reasons == (
        "price 1001.25 above max price 1000.25 (PRICE_FILTER)",
    )
    assert rules.check(D("10.3"), D("500.25")).reasons == (
        "notional 5152.575 USDT above max notional 5000 USDT (NOTIONAL)",
    )


def test_an_inactive_market_refuses_everything() -> None:
    rules = OrderRules(_spec(active=False))
    assert rules.check(D("0.5"), D("25.25")).reasons == ("market TST/USDT is not trading",)


def test_a_market_without_published_rules_accepts_any_positive_order() -> None:
    rules = OrderRules(
        _spec(
            price_tick=None,
            amount_step=None,
            min_amount=None,
            max_amount=None,
            min_price=None,
            max_price=None,
            min_notional=None,
            max_notional=None,
        )
    )
    assert rules.check(D("0.0000001"), D("0.0000003")).ok
    assert rules.quantize_qty(D("0.123456789")) == D("0.123456789")
    assert rules.quantize_price(D("1.23456"), OrderSide.BUY) == D("1.23456")


@pytest.mark.parametrize(
    ("qty", "price", "message"),
    [
        ("0", "65000", "order_qty must be > 0"),
        ("-1", "65000", "order_qty must be > 0"),
        ("0.001", "0", "price must be > 0"),
        ("0.001", "NaN", "price must be a finite Decimal"),
        ("Infinity", "65000", "order_qty must be a finite Decimal"),
    ],
)
def test_bad_numbers_are_refused_with_the_field_named(
    btc: OrderRules, qty: str, price: str, message: str
) -> None:
    with pytest.raises(OrderRulesInputError, match=message):
        btc.check(D(qty), D(price))


def test_bad_numbers_are_refused_by_the_quantisers(btc: OrderRules) -> None:
    with pytest.raises(OrderRulesInputError, match="qty must be >= 0"):
        btc.quantize_qty(D("-0.1"))
    with pytest.raises(OrderRulesInputError, match="price must be > 0"):
        btc.quantize_price(D("0"), OrderSide.BUY)
    with pytest.raises(OrderRulesInputError, match="size_usd must be >= 0"):
        size_to_qty(D("-5"), D("100"), btc)
    with pytest.raises(ValueError, match="price must be > 0"):  # also a ValueError
        size_to_qty(D("5"), D("0"), btc)
