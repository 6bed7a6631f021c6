"""Each rule of config/policies allows and denies what it should, evaluated in process."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from policy_cases import CASES, LIMITS, POLICY_DIR, Case, account, buy, sell

from sigmax.config import load_settings
from sigmax.config.paths import source_config_dir
from sigmax.safety.policy import (
    REQUIRED_RULES,
    OrderPolicyInput,
    PolicyAccount,
    PolicyEngine,
    PolicyInputError,
    PolicyLimits,
    PolicyOrder,
    PolicyVerdict,
    PolicyViolation,
)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(POLICY_DIR)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_table(engine: PolicyEngine, case: Case) -> None:
    verdict = engine.evaluate(case.request)
    assert verdict.rules == tuple(sorted(case.expected)), verdict.summary()
    assert verdict.allowed == (not case.expected)
    assert verdict.evaluator == "embedded"
    for violation in verdict.violations:
        assert violation.message.startswith(f"{violation.rule}: ")
        assert "order denied" not in violation.message  # the detailed text, not the fallback


def test_every_required_rule_allows_and_denies_in_the_table() -> None:
    denied = {rule for case in CASES for rule in case.expected}
    assert denied == set(REQUIRED_RULES)
    assert any(not case.expected for case in CASES)


def test_doge_buy_is_denied_by_allowed_assets(engine: PolicyEngine) -> None:
    verdict = engine.evaluate(OrderPolicyInput(buy("DOGE/USDT", "1"), account(), LIMITS))
    assert not verdict.allowed
    assert verdict.violations == (
        PolicyViolation(
            "allowed_assets",
            "allowed_assets: DOGE/USDT may not be bought, only BTC, ETH, SOL, BNB against USDT",
        ),
    )


def test_messages_name_rule_value_and_limit(engine: PolicyEngine) -> None:
    cases = {
        "max_position_size: position would be 15.00 USD, limit 10.00 USD": (
            buy(notional="15"),
            account(),
        ),
        "max_exposure: open exposure would be 20.01 USD, limit 20.00 USD": (
            buy(notional="5"),
            account({"BTC/USDT": "5", "ETH/USDT": "10.01"}),
        ),
        "max_position_pct_of_equity: position would be 10.00 USD, 5.00% of equity 199.99 USD, "
        "limit 5.00%": (buy(notional="10"), account(equity="199.99")),
        "max_open_positions: BTC/USDT would open position 3, limit 2 open positions": (
            buy(),
            account({"ETH/USDT": "1", "SOL/USDT": "1"}),
        ),
        "spot_only: order is margin with leverage 1.000, only spot orders with leverage 1 to "
        "1.000 are allowed": (buy(market_type="margin"), account()),
        "no_shorting: sell of 1.50000000 BTC is more than the 1.00000000 held": (
            sell("BTC/USDT", "1.5"),
            account({"BTC/USDT": "1"}),
        ),
    }
    for expected, (order, acct) in cases.items():
        verdict = engine.evaluate(OrderPolicyInput(order, acct, LIMITS))
        assert [v.message for v in verdict.violations] == [expected]
    blacklisted = replace(LIMITS, blacklist=("SOL", "SOL/USDT"))
    verdict = engine.evaluate(OrderPolicyInput(buy("SOL/USDT", "1"), account(), blacklisted))
    assert [v.message for v in verdict.violations] == [
        "blacklist: SOL/USDT may never be bought (blacklisted: SOL, SOL/USDT)"
    ]


def test_messages_print_numbers_beyond_32_bits_exactly(engine: PolicyEngine) -> None:
    """rego-cpp's sprintf("%d") keeps 32 bits (8709234802 printed as 119300210): every figure
    of a denial is printed without it, exact up to the input caps."""
    at_the_cap = replace(
        LIMITS,
        max_position_size_usd=Decimal("99999999.99"),
        max_exposure_usd=Decimal(10**8),
        max_position_pct_of_equity=Decimal(100),
    )
    cases = {
        "max_position_size: position would be 100000000.00 USD, limit 99999999.99 USD": (
            buy(notional="100000000"),
            account(equity="100000000"),
            at_the_cap,
        ),
        "no_shorting: sell of 8709234802.12345678 BTC is more than the 8709234802.12345677 held": (
            sell("BTC/USDT", "8709234802.12345678", "0.00000001"),
            account({"BTC/USDT": "1"}, held={"BTC/USDT": "8709234802.12345677"}),
            LIMITS,
        ),
        "max_position_pct_of_equity: position would be 99999999.99 USD, 4999999999.50% of "
        "equity 2.00 USD, limit 5.00%": (
            buy(notional="99999999.99"),
            account(equity="2"),
            replace(LIMITS, max_position_size_usd=Decimal(10**8), max_exposure_usd=Decimal(10**8)),
        ),
    }
    for expected, (order, acct, limits) in cases.items():
        verdict = engine.evaluate(OrderPolicyInput(order, acct, limits))
        assert [v.message for v in verdict.violations] == [expected]


def test_max_position_size_from_the_environment(engine: PolicyEngine, tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path, config_dir=source_config_dir(), env={"MAX_POSITION_SIZE": "12"}
    )
    limits = PolicyLimits.from_settings(settings)
    assert limits.max_position_size_usd == Decimal(12)
    at_limit = engine.evaluate(OrderPolicyInput(buy(notional="12"), account(), limits))
    assert at_limit.allowed, at_limit.summary()
    above = engine.evaluate(OrderPolicyInput(buy(notional="12.5"), account(), limits))
    assert above.violations == (
        PolicyViolation(
            "max_position_size", "max_position_size: position would be 12.50 USD, limit 12.00 USD"
        ),
    )


def test_limits_from_the_default_settings(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, config_dir=source_config_dir(), env={})
    limits = PolicyLimits.from_settings(settings)
    assert limits == PolicyLimits(
        max_position_size_usd=Decimal(10),
        max_exposure_usd=Decimal(20),
        max_position_pct_of_equity=Decimal(5),
        max_open_positions=2,
        allowed_assets=("BTC", "ETH", "SOL", "BNB"),
        quote_asset="USDT",
        blacklist=(),
        max_leverage=Decimal(1),
    )


def test_verdict_round_trips_through_its_dict(engine: PolicyEngine) -> None:
    verdict = engine.evaluate(
        OrderPolicyInput(buy("DOGE/USDT", "15", market_type="margin"), account(), LIMITS)
    )
    data = verdict.to_dict()
    assert data["allowed"] is False
    assert data["evaluator"] == "embedded"
    assert [v["rule"] for v in data["violations"]] == [
        "allowed_assets",
        "max_position_size",
        "spot_only",
    ]
    assert PolicyVerdict.from_dict(data) == verdict


def test_amounts_are_rounded_towards_the_stricter_side() -> None:
    order = PolicyOrder("BTC/USDT", "buy", Decimal("1"), Decimal("1"), Decimal("10.0000001"))
    limits = replace(LIMITS, max_position_size_usd=Decimal("10.0000009"))
    document = OrderPolicyInput(order, account(equity="100.0000009"), limits).to_document()
    assert document["order"]["notional_micro_usd"] == 10_000_001  # up
    assert document["limits"]["max_position_size_micro_usd"] == 10_000_000  # down
    assert document["account"]["equity_micro_usd"] == 100_000_000  # down


def test_a_sub_micro_excess_is_still_denied(engine: PolicyEngine) -> None:
    order = PolicyOrder("BTC/USDT", "buy", Decimal("1"), Decimal("1"), Decimal("10.0000001"))
    verdict = engine.evaluate(OrderPolicyInput(order, account(), LIMITS))
    assert verdict.rules == ("max_position_size",)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: buy(notional="-1"), "order.qty must be > 0"),
        (lambda: buy(notional="NaN"), "order.qty must be a finite number"),
        (lambda: buy("DOGEUSDT"), "order.symbol"),
        (lambda: buy(market_type="Spot!"), "order.market_type must be a lower-case word"),
        (lambda: buy(notional="200000000"), "order.notional_usd must be <= 100000000"),
        (lambda: PolicyOrder("BTC/USDT", "hold", Decimal(1), Decimal(1), Decimal(1)), "side"),  # type: ignore[arg-type]
        (lambda: PolicyAccount(Decimal(-1), Decimal(0)), "account.equity_usd must be >= 0"),
        (
            lambda: PolicyAccount(
                Decimal(1), Decimal(0), {"BTC/USDT": Decimal(1), "btc-usdt": Decimal(2)}
            ),
            "names BTC/USDT twice",
        ),
        (lambda: replace(LIMITS, allowed_assets=("BTC", "D!")), "limits.allowed_assets entry"),
        (lambda: replace(LIMITS, max_position_pct_of_equity=Decimal(101)), "<= 100"),
    ],
)
def test_invalid_values_are_refused_before_evaluation(make: object, message: str) -> None:
    with pytest.raises(PolicyInputError, match=message.replace("(", r"\(")):
        make()  # type: ignore[operator]


def test_evaluation_time_per_order(engine: PolicyEngine) -> None:
    requests = [case.request for case in CASES]
    for request in requests:  # warm up
        engine.evaluate(request)
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for request in requests:
            engine.evaluate(request)
    per_order_ms = (time.perf_counter() - started) * 1000 / (rounds * len(requests))
    print(f"\nembedded policy evaluation: {per_order_ms:.3f} ms per order")
    assert per_order_ms < 5
