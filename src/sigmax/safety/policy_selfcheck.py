"""Known orders with known verdicts, evaluated whenever policies are loaded.

rego-cpp accepts some broken policies without an error (a rule using an unknown function or an
unsafe variable simply never fires), and a rule that never fires is an approval. So a policy
set counts as loaded only when each required rule denies the order made to break it, and only
it, and a clean order and a reducing sell are allowed. The same checks run against an external
OPA server, which proves it serves these policies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sigmax.safety.policy_input import (
    OrderPolicyInput,
    PolicyAccount,
    PolicyLimits,
    PolicyOrder,
)
from sigmax.safety.policy_types import PolicyLoadError, PolicyVerdict

#: The rules SIGMAX relies on; each must exist and deny its own probe.
REQUIRED_RULES: tuple[str, ...] = (
    "max_position_size",
    "max_exposure",
    "max_position_pct_of_equity",
    "max_open_positions",
    "allowed_assets",
    "blacklist",
    "spot_only",
    "no_shorting",
)


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    request: OrderPolicyInput
    expected_rules: frozenset[str]


def _buy(symbol: str, notional: str, market_type: str = "spot") -> PolicyOrder:
    amount = Decimal(notional)
    return PolicyOrder(symbol, "buy", amount, Decimal(1), amount, market_type=market_type)


_LIMITS = PolicyLimits(
    max_position_size_usd=Decimal(10),
    max_exposure_usd=Decimal(20),
    max_position_pct_of_equity=Decimal(5),
    max_open_positions=3,
    allowed_assets=("BTC", "ETH"),
    quote_asset="USDT",
    blacklist=("ETH",),
)
_RICH = PolicyAccount(equity_usd=Decimal(1000), cash_usd=Decimal(1000))


def _probe(
    name: str,
    order: PolicyOrder,
    rules: tuple[str, ...] = (),
    account: PolicyAccount = _RICH,
) -> Probe:
    return Probe(name, OrderPolicyInput(order, account, _LIMITS), frozenset(rules))


PROBES: tuple[Probe, ...] = (
    _probe("a small spot buy", _buy("BTC/USDT", "5")),
    _probe("a buy above max_position_size", _buy("BTC/USDT", "11"), ("max_position_size",)),
    _probe(
        "a buy above max_exposure",
        _buy("BTC/USDT", "5"),
        ("max_exposure",),
        PolicyAccount(
            Decimal(1000), Decimal(982), {"SOL/USDT": Decimal(18)}, {"SOL/USDT": Decimal(1)}, 1
        ),
    ),
    _probe(
        "a buy above max_position_pct_of_equity",
        _buy("BTC/USDT", "6"),
        ("max_position_pct_of_equity",),
        PolicyAccount(Decimal(100), Decimal(100)),
    ),
    _probe(
        "a buy opening one position too many",
        _buy("BTC/USDT", "1"),
        ("max_open_positions",),
        PolicyAccount(
            Decimal(1000),
            Decimal(997),
            {s: Decimal(1) for s in ("SOL/USDT", "BNB/USDT", "ADA/USDT")},
            {s: Decimal(1) for s in ("SOL/USDT", "BNB/USDT", "ADA/USDT")},
            3,
        ),
    ),
    _probe("a buy of an asset not allowed", _buy("DOGE/USDT", "1"), ("allowed_assets",)),
    _probe("a buy of a blacklisted asset", _buy("ETH/USDT", "1"), ("blacklist",)),
    _probe("a margin buy", _buy("BTC/USDT", "1", market_type="margin"), ("spot_only",)),
    _probe(
        "a sell closing a large position in an asset not allowed",
        PolicyOrder("DOGE/USDT", "sell", Decimal(500), Decimal("0.1"), Decimal(50)),
        (),
        PolicyAccount(
            Decimal(1000), Decimal(950), {"DOGE/USDT": Decimal(50)}, {"DOGE/USDT": Decimal(500)}, 1
        ),
    ),
    _probe(
        "a sell of more than is held",
        PolicyOrder("BTC/USDT", "sell", Decimal(2), Decimal(1), Decimal(2)),
        ("no_shorting",),
        PolicyAccount(
            Decimal(1000), Decimal(999), {"BTC/USDT": Decimal(1)}, {"BTC/USDT": Decimal(1)}, 1
        ),
    ),
)


def self_check(evaluate: Callable[[OrderPolicyInput], PolicyVerdict], where: str) -> None:
    """Run every probe through ``evaluate``; raise :class:`PolicyLoadError` on the first wrong
    verdict. Evaluation errors propagate as they are."""
    for probe in PROBES:
        verdict = evaluate(probe.request)
        got = frozenset(verdict.rules)
        if got != probe.expected_rules:
            expected = ", ".join(sorted(probe.expected_rules)) or "no violation"
            found = ", ".join(sorted(got)) or "no violation"
            raise PolicyLoadError(
                f"{where}: self-check failed: {probe.name} must give {expected}, "
                f"the policies gave {found}"
            )
        for violation in verdict.violations:
            if not violation.message.startswith(f"{violation.rule}: "):
                raise PolicyLoadError(
                    f"{where}: self-check failed: the message of rule {violation.rule} must "
                    f"start with '{violation.rule}: ' (got {violation.message!r})"
                )
