"""The table of orders and the rules each must break, shared by the embedded and OPA tests.

Limits unless a case says otherwise (the conservative profile): position 10 USD, exposure 20 USD,
5 % of equity, 2 open positions, BTC ETH SOL BNB against USDT, no blacklist; equity 1000 USD.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from sigmax.config.paths import source_config_dir
from sigmax.safety.policy import (
    OrderPolicyInput,
    PolicyAccount,
    PolicyLimits,
    PolicyOrder,
)

POLICY_DIR: Path = source_config_dir() / "policies"

LIMITS = PolicyLimits(
    max_position_size_usd=Decimal(10),
    max_exposure_usd=Decimal(20),
    max_position_pct_of_equity=Decimal(5),
    max_open_positions=2,
)


def buy(
    symbol: str = "BTC/USDT",
    notional: str = "5",
    *,
    market_type: str = "spot",
    leverage: str = "1",
    source: str = "engine",
) -> PolicyOrder:
    amount = Decimal(notional)
    return PolicyOrder(
        symbol,
        "buy",
        amount / 50000,
        Decimal(50000),
        amount,
        market_type=market_type,
        leverage=Decimal(leverage),
        source=source,  # type: ignore[arg-type]
    )


def sell(symbol: str, qty: str, price: str = "1", *, leverage: str = "1") -> PolicyOrder:
    q, p = Decimal(qty), Decimal(price)
    return PolicyOrder(symbol, "sell", q, p, q * p, leverage=Decimal(leverage))


def account(
    positions: dict[str, str] | None = None,
    *,
    equity: str = "1000",
    held: dict[str, str] | None = None,
) -> PolicyAccount:
    """Positions by USD value; quantity held is the same number unless ``held`` says otherwise."""
    usd = {s: Decimal(v) for s, v in (positions or {}).items()}
    qty = {s: Decimal(v) for s, v in (held or positions or {}).items()}
    cash = Decimal(equity) - sum(usd.values(), Decimal(0))
    return PolicyAccount(Decimal(equity), max(cash, Decimal(0)), usd, qty, len(usd))


EMPTY_ACCOUNT = account()


@dataclass(frozen=True)
class Case:
    id: str
    order: PolicyOrder
    expected: tuple[str, ...] = ()
    account: PolicyAccount = EMPTY_ACCOUNT
    limits: PolicyLimits = LIMITS

    @property
    def request(self) -> OrderPolicyInput:
        return OrderPolicyInput(self.order, self.account, self.limits)


CASES: tuple[Case, ...] = (
    # max_position_size
    Case("size: new position exactly at the limit", buy(notional="10")),
    Case("size: adding up to exactly the limit", buy(notional="6"), (), account({"BTC/USDT": "4"})),
    Case(
        "size: one micro-dollar above the limit",
        buy(notional="6.000001"),
        ("max_position_size",),
        account({"BTC/USDT": "4"}),
    ),
    Case("size: 15 USD against 10", buy(notional="15"), ("max_position_size",)),
    Case(
        "size: 0.1 + 0.2 is exactly 0.3 (no binary rounding)",
        buy(notional="0.2"),
        (),
        account({"BTC/USDT": "0.1"}),
        replace(LIMITS, max_position_size_usd=Decimal("0.3")),
    ),
    # max_exposure
    Case(
        "exposure: exactly at the limit",
        buy(notional="5"),
        (),
        account({"BTC/USDT": "5", "ETH/USDT": "10"}),
    ),
    Case(
        "exposure: above the limit",
        buy(notional="5"),
        ("max_exposure",),
        account({"BTC/USDT": "5", "ETH/USDT": "10.01"}),
    ),
    # max_position_pct_of_equity
    Case("equity share: exactly 5 % of 200", buy(notional="10"), (), account(equity="200")),
    Case(
        "equity share: 10 USD is above 5 % of 199.99",
        buy(notional="10"),
        ("max_position_pct_of_equity",),
        account(equity="199.99"),
    ),
    Case(
        "equity share: no equity at all",
        buy(notional="1"),
        ("max_position_pct_of_equity",),
        account(equity="0"),
    ),
    # max_open_positions
    Case("open positions: a second position", buy(), (), account({"ETH/USDT": "1"})),
    Case(
        "open positions: a third position",
        buy(),
        ("max_open_positions",),
        account({"ETH/USDT": "1", "SOL/USDT": "1"}),
    ),
    Case(
        "open positions: adding to an open position at the limit",
        buy(notional="1"),
        (),
        account({"BTC/USDT": "1", "SOL/USDT": "1"}),
    ),
    # allowed_assets
    Case("assets: DOGE/USDT buy 1", buy("DOGE/USDT", "1"), ("allowed_assets",)),
    Case("assets: SOL/USDT is allowed", buy("SOL/USDT", "1")),
    Case("assets: BTC against another quote", buy("BTC/BUSD", "1"), ("allowed_assets",)),
    # blacklist
    Case(
        "blacklist: a base asset",
        buy("SOL/USDT", "1"),
        ("blacklist",),
        limits=replace(LIMITS, blacklist=("SOL",)),
    ),
    Case(
        "blacklist: a market",
        buy("BNB/USDT", "1"),
        ("blacklist",),
        limits=replace(LIMITS, blacklist=("BNB/USDT",)),
    ),
    Case(
        "blacklist: another market is not affected",
        buy("ETH/USDT", "1"),
        (),
        limits=replace(LIMITS, blacklist=("BNB/USDT", "SOL")),
    ),
    # spot_only
    Case("spot only: a margin buy", buy(market_type="margin"), ("spot_only",)),
    Case("spot only: leverage 2", buy(leverage="2"), ("spot_only",)),
    Case("spot only: leverage 0.5", buy(leverage="0.5"), ("spot_only",)),
    Case(
        "spot only: applies to sells too",
        sell("BTC/USDT", "1", leverage="3"),
        ("spot_only",),
        account({"BTC/USDT": "1"}),
    ),
    # no_shorting
    Case(
        "no shorting: selling exactly what is held",
        sell("BTC/USDT", "1"),
        (),
        account({"BTC/USDT": "1"}),
    ),
    Case(
        "no shorting: selling 1e-8 more than is held",
        sell("BTC/USDT", "1.00000001"),
        ("no_shorting",),
        account({"BTC/USDT": "1"}),
    ),
    Case("no shorting: selling with nothing held", sell("ETH/USDT", "0.1"), ("no_shorting",)),
    # sells that reduce risk pass every size, exposure, asset and blacklist rule
    Case(
        "sell: closing a position above every limit in a blacklisted, unlisted asset",
        sell("DOGE/USDT", "5000", "0.1"),
        (),
        account(
            {"DOGE/USDT": "500", "ETH/USDT": "1", "SOL/USDT": "1"},
            held={"DOGE/USDT": "5000", "ETH/USDT": "1", "SOL/USDT": "1"},
        ),
        replace(LIMITS, blacklist=("DOGE",)),
    ),
    Case(
        "sell: part of a position while exposure is above its limit",
        sell("BTC/USDT", "0.5", "40"),
        (),
        account({"BTC/USDT": "40"}, equity="100", held={"BTC/USDT": "1"}),
    ),
    # several rules at once
    Case(
        "several: a 15 USD margin buy of DOGE",
        buy("DOGE/USDT", "15", market_type="margin"),
        ("allowed_assets", "max_position_size", "spot_only"),
    ),
    Case(
        "manual orders get the same checks",
        buy("DOGE/USDT", "1", source="manual"),
        ("allowed_assets",),
    ),
)
