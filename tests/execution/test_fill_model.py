"""The fill model's formulas, checked against prices worked out by hand."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from sigmax.domain.candles import Candle
from sigmax.domain.orders import Fill, Liquidity, Order, OrderPurpose, OrderSide, OrderType
from sigmax.execution.fill_model import (
    CandlePrices,
    Execution,
    FeeSchedule,
    SlippageModel,
    Unfillable,
    adverse_price,
    decimal_from_float,
    execute,
    reference_price,
    round_to_tick,
    slippage_pct,
)

TICK = Decimal("0.01")
T0 = 1_700_000_000_000
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def order(
    side: OrderSide,
    kind: OrderType,
    price: str | None = None,
    qty: str = "2",
    reference: str | None = None,
) -> Order:
    return Order(
        client_order_id=f"t-{side.value}-{kind.value}",
        symbol="BTC/USDT",
        side=side,
        type=kind,
        qty=Decimal(qty),
        created_ms=T0,
        price=None if price is None else Decimal(price),
        reference_price=None if reference is None else Decimal(reference),
        purpose=OrderPurpose.MANUAL,
    )


def candle(
    open_: float, high: float, low: float, close: float, volume: float = 1000.0
) -> CandlePrices:
    return CandlePrices.from_candle(Candle(T0, open_, high, low, close, volume))


def run(
    o: Order, c: CandlePrices, slippage: SlippageModel | None = None
) -> Execution | Unfillable | None:
    return execute(o, c, slippage or SlippageModel(), TICK)


# -- conversions and rounding -----------------------------------------------------------------


def test_float_prices_come_back_as_the_exchange_wrote_them() -> None:
    assert decimal_from_float(58202.01, "open") == Decimal("58202.01")
    assert decimal_from_float(1850.541826, "volume") == Decimal("1850.541826")
    assert decimal_from_float(0.1, "x") == Decimal("0.1")  # not 0.1000000000000000055511...


def test_non_finite_float_is_refused_with_its_field() -> None:
    with pytest.raises(ValueError, match="open must be a finite number"):
        decimal_from_float(float("nan"), "open")


def test_rounding_to_tick_goes_against_the_trader() -> None:
    assert round_to_tick(Decimal("12349.373701"), TICK, BUY) == Decimal("12349.38")
    assert round_to_tick(Decimal("12341.966299"), TICK, SELL) == Decimal("12341.96")
    assert round_to_tick(Decimal("100.50"), TICK, BUY) == Decimal("100.50")
    assert round_to_tick(Decimal("100.50"), TICK, SELL) == Decimal("100.50")
    assert round_to_tick(Decimal("7.123456789"), None, BUY) == Decimal("7.12345679")
    assert round_to_tick(Decimal("7.123456789"), None, SELL) == Decimal("7.12345678")
    assert round_to_tick(Decimal("103"), Decimal("5"), BUY) == Decimal("105")


def test_candle_with_inconsistent_prices_is_refused_naming_the_candle() -> None:
    with pytest.raises(ValueError, match=f"candle at {T0}: prices must satisfy low <= open"):
        candle(100.0, 99.0, 98.0, 98.5)
    with pytest.raises(ValueError, match="volume must be >= 0"):
        candle(100.0, 101.0, 99.0, 100.0, volume=-1.0)


# -- fees ---------------------------------------------------------------------------------------


def test_default_fee_is_binance_spot_point_one_percent_exactly() -> None:
    fees = FeeSchedule()
    # 0.5 BTC × 57 915.50 = 28 957.75 USDT notional; × 0.001 = 28.95775 USDT.
    assert fees.fee(Decimal("0.5") * Decimal("57915.50"), Liquidity.TAKER) == Decimal("28.95775")
    assert fees.fee(Decimal("1000"), Liquidity.MAKER) == Decimal("1.00000000")


def test_fee_is_quantised_to_1e8_and_never_rounded_down() -> None:
    fees = FeeSchedule(maker=Decimal("0.00075"), taker=Decimal("0.001"))
    # 1.2345678912 × 0.001 = 0.0012345678912 -> 0.00123457 (up, not to nearest)
    assert fees.fee(Decimal("1.2345678912"), Liquidity.TAKER) == Decimal("0.00123457")
    # 10.00000001 × 0.00075 = 0.0075000000075 -> 0.00750001
    assert fees.fee(Decimal("10.00000001"), Liquidity.MAKER) == Decimal("0.00750001")
    assert fees.fee(Decimal("0"), Liquidity.MAKER) == Decimal("0E-8")


@pytest.mark.parametrize(
    ("maker", "message"),
    [
        (Decimal("-0.001"), "maker must be >= 0 and < 1"),
        (Decimal("1"), "maker must be >= 0 and < 1"),
        (Decimal("NaN"), "maker must be a finite Decimal"),
        (0.001, "maker must be a finite Decimal"),
    ],
)
def test_bad_fee_rates_are_refused(maker: Decimal, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeeSchedule(maker=maker)


# -- slippage -----------------------------------------------------------------------------------


def test_slippage_is_half_spread_plus_linear_impact() -> None:
    model = SlippageModel()  # 1 bp half spread, impact coefficient 0.1
    # 1 / 10 000 + 0.1 × 2 / 1000 = 0.0001 + 0.0002
    assert model.fraction(Decimal("2"), Decimal("1000")) == Decimal("0.0003")
    # Ten times the size, ten times the impact.
    assert model.fraction(Decimal("20"), Decimal("1000")) == Decimal("0.0021")


def test_slippage_cap_limits_the_total() -> None:
    model = SlippageModel(max_slippage_bps=Decimal("2"))
    assert model.fraction(Decimal("2"), Decimal("1000")) == Decimal("0.0002")
    assert model.fraction(Decimal("0.001"), Decimal("1000")) == Decimal("0.0001001")


def test_frictionless_model_has_no_slippage() -> None:
    assert SlippageModel.none().fraction(Decimal("50"), Decimal("1")) == 0


def test_impact_needs_volume() -> None:
    with pytest.raises(ValueError, match="candle volume must be > 0"):
        SlippageModel().impact(Decimal("1"), Decimal("0"))


def test_adverse_price_moves_against_the_trader() -> None:
    assert adverse_price(Decimal("100"), Decimal("0.01"), BUY) == Decimal("101.00")
    assert adverse_price(Decimal("100"), Decimal("0.01"), SELL) == Decimal("99.00")


# -- rules per order type -----------------------------------------------------------------------


def test_market_orders_fill_at_the_open_adjusted_against_the_trader() -> None:
    c = candle(12345.67, 12400.0, 12300.0, 12390.0)
    # 12 345.67 × (1 + 0.0003) = 12 349.373701 -> up to the tick 12 349.38
    assert run(order(BUY, OrderType.MARKET), c) == Execution(
        Decimal("12349.38"), Liquidity.TAKER, at_open=True
    )
    # 12 345.67 × (1 − 0.0003) = 12 341.966299 -> down to the tick 12 341.96
    assert run(order(SELL, OrderType.MARKET), c) == Execution(
        Decimal("12341.96"), Liquidity.TAKER, at_open=True
    )
    frictionless = run(order(BUY, OrderType.MARKET), c, SlippageModel.none())
    assert frictionless == Execution(Decimal("12345.67"), Liquidity.TAKER, at_open=True)


def test_nothing_fills_on_a_zero_volume_candle() -> None:
    halted = candle(100.0, 100.0, 100.0, 100.0, volume=0.0)
    assert run(order(BUY, OrderType.MARKET), halted) is None
    assert run(order(BUY, OrderType.LIMIT, "100"), halted) is None
    assert run(order(SELL, OrderType.STOP_LOSS, "100"), halted) is None
    assert run(order(SELL, OrderType.TAKE_PROFIT, "100"), halted) is None


def test_limit_buy_fills_at_its_price_when_reached_and_at_the_open_through_a_gap() -> None:
    limit = order(BUY, OrderType.LIMIT, "100")
    touched = candle(102.0, 103.0, 100.0, 101.0)
    assert run(limit, touched) == Execution(Decimal("100"), Liquidity.MAKER, at_open=False)
    gap = candle(97.5, 99.0, 96.0, 98.0)
    assert run(limit, gap) == Execution(Decimal("97.5"), Liquidity.TAKER, at_open=True)
    assert run(limit, candle(102.0, 103.0, 100.01, 101.0)) is None


def test_limit_sell_mirrors_the_buy() -> None:
    limit = order(SELL, OrderType.LIMIT, "100")
    assert run(limit, candle(98.0, 100.0, 97.0, 99.0)) == Execution(
        Decimal("100"), Liquidity.MAKER, at_open=False
    )
    assert run(limit, candle(101.25, 102.0, 100.5, 101.0)) == Execution(
        Decimal("101.25"), Liquidity.TAKER, at_open=True
    )
    assert run(limit, candle(98.0, 99.99, 97.0, 99.0)) is None


def test_limit_fills_pay_no_slippage() -> None:
    limit = order(BUY, OrderType.LIMIT, "100", qty="900")  # 90 % of the candle's volume
    result = run(limit, candle(102.0, 103.0, 99.0, 101.0))
    assert isinstance(result, Execution)
    assert result.price == Decimal("100")


def test_sell_stop_fills_at_the_stop_less_slippage_when_reached() -> None:
    stop = order(SELL, OrderType.STOP_LOSS, "100")
    # 100 × (1 − 0.0003) = 99.97
    assert run(stop, candle(101.0, 102.0, 99.5, 100.5)) == Execution(
        Decimal("99.97"), Liquidity.TAKER, at_open=False
    )
    assert run(stop, candle(101.0, 102.0, 100.01, 100.5)) is None


def test_sell_stop_gap_fills_at_the_worse_open() -> None:
    stop = order(SELL, OrderType.STOP_LOSS, "100")
    # Opens at 95 below the stop at 100: 95 × 0.9997 = 94.9715 -> down to 94.97
    assert run(stop, candle(95.0, 96.0, 94.0, 95.5)) == Execution(
        Decimal("94.97"), Liquidity.TAKER, at_open=True
    )


def test_buy_stop_mirrors_the_sell_stop() -> None:
    stop = order(BUY, OrderType.STOP_LOSS, "100")
    # 100 × 1.0003 = 100.03; gap: 105 × 1.0003 = 105.0315 -> up to 105.04
    assert run(stop, candle(99.0, 100.0, 98.0, 99.5)) == Execution(
        Decimal("100.03"), Liquidity.TAKER, at_open=False
    )
    assert run(stop, candle(105.0, 106.0, 104.0, 105.0)) == Execution(
        Decimal("105.04"), Liquidity.TAKER, at_open=True
    )
    assert run(stop, candle(99.0, 99.99, 98.0, 99.5)) is None


def test_take_profit_is_a_resting_limit_at_the_target() -> None:
    target = order(SELL, OrderType.TAKE_PROFIT, "110")
    assert run(target, candle(108.0, 110.0, 107.0, 109.0)) == Execution(
        Decimal("110"), Liquidity.MAKER, at_open=False
    )
    assert run(target, candle(111.5, 112.0, 109.0, 110.0)) == Execution(
        Decimal("111.5"), Liquidity.TAKER, at_open=True
    )
    assert run(target, candle(108.0, 109.99, 107.0, 109.0)) is None


def test_a_sell_too_large_for_the_market_is_unfillable_not_priced_at_zero() -> None:
    # 0.1 × 100 000 / 1000 = 10: an impact of 1000 % of the price.
    result = run(order(SELL, OrderType.MARKET, qty="100000"), candle(100.0, 101.0, 99.0, 100.0))
    assert isinstance(result, Unfillable)
    assert "too large for this market" in result.reason


# -- measuring slippage -------------------------------------------------------------------------


def fill(side: OrderSide, price: str) -> Fill:
    return Fill(
        "t", "BTC/USDT", side, Decimal("1"), Decimal(price), Decimal("0"), T0, Liquidity.TAKER
    )


def test_slippage_pct_is_positive_when_worse_for_the_trader() -> None:
    buy = order(BUY, OrderType.MARKET, reference="100")
    assert slippage_pct(buy, fill(BUY, "101")) == Decimal("1")
    assert slippage_pct(buy, fill(BUY, "99.5")) == Decimal("-0.5")
    sell = order(SELL, OrderType.MARKET, reference="200")
    assert slippage_pct(sell, fill(SELL, "195")) == Decimal("2.5")


def test_slippage_reference_falls_back_to_the_order_price() -> None:
    stop = order(SELL, OrderType.STOP_LOSS, "100")
    assert reference_price(stop) == Decimal("100")
    assert slippage_pct(stop, fill(SELL, "94.97")) == Decimal("5.03")
    assert slippage_pct(order(BUY, OrderType.MARKET), fill(BUY, "100")) is None


def test_prices_do_not_depend_on_the_callers_decimal_context() -> None:
    c = candle(12345.67, 12400.0, 12300.0, 12390.0, volume=1850.541826)
    with localcontext() as ctx:
        ctx.prec = 4  # a caller's coarse context would otherwise round 12 345.67 to 1.235E+4
        result = run(order(BUY, OrderType.MARKET, qty="0.5"), c)
    # 0.0001 + 0.1 × 0.5 / 1850.541826 = 0.000127019…; 12 345.67 × 1.000127019… = 12 347.238…
    assert result == Execution(Decimal("12347.24"), Liquidity.TAKER, at_open=True)
