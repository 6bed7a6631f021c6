"""The last gate before the venue: the safety enforcer, then the compliance policies.

Every order, automatic or manual, passes :meth:`OrderGate.check`. The answer says whether it
may be sent and why not; the policy verdict is kept with it so the order row and the decision
record both show which rules were checked and which were broken.

While trading is paused the engine sends no new order of its own (no entry, no signal exit);
the stop-loss and take-profit that protect an entry already filled are still placed, and the
panic close-out is sent by the panic itself. A manual sell stays possible while paused (the
operator exiting risk); a manual buy does not. A policy that cannot be evaluated refuses the
order (fail closed) and the caller pauses trading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sigmax.config import Settings
from sigmax.domain.decisions import Action
from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Order, OrderSide
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.policy import PolicyEvaluator, policy_engine_from_settings
from sigmax.safety.policy_input import (
    OrderPolicyInput,
    PolicyAccount,
    PolicyLimits,
    PolicyOrder,
)
from sigmax.safety.policy_types import PolicyError
from sigmax.safety.state import SafetyState

log = logging.getLogger("sigmax.engine")

#: How an order came to be: the engine's own entry or exit, a protective stop or target of a
#: filled entry, an operator's manual order, or a panic close-out.
OrderOrigin = Literal["engine", "protective", "manual", "panic"]


@dataclass(frozen=True, slots=True)
class GateResult:
    """Whether an order may go to the venue; ``reason`` says why not."""

    allowed: bool
    reason: str = ""
    #: The compliance verdict (``PolicyVerdict.to_dict()``); None when no policy ran (the
    #: order was refused by the safety enforcer first).
    policy: dict[str, Any] | None = None
    #: True when the policy could not be evaluated: the caller pauses trading.
    policy_failed: bool = False


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account as the policies see it (USD at the latest marks)."""

    equity_usd: Decimal
    cash_usd: Decimal
    positions_usd: Mapping[str, Decimal]
    positions_qty: Mapping[str, Decimal]

    @classmethod
    def of(
        cls, ledger: Ledger, marks: Mapping[str, Decimal], resting: Iterable[Order] = ()
    ) -> AccountView:
        """The ledger's account at ``marks`` (a position without a mark at its average price),
        with the ``resting`` buy orders counted as if filled at their reference price.

        A buy waiting for the next open is already committed: without it, two buys of one
        candle close each saw the same room and together broke the profile's limits on open
        positions and exposure, and both counted on the same cash.
        """
        positions = ledger.open_positions()
        value = {
            symbol: position.qty * marks.get(symbol, position.avg_price)
            for symbol, position in positions.items()
        }
        qty = {symbol: position.qty for symbol, position in positions.items()}
        cash = ledger.cash
        for order in resting:
            if order.side is not OrderSide.BUY:
                continue  # a stop-loss or take-profit sells what is already held
            price = order.reference_price or order.price or marks.get(order.symbol)
            if price is None:
                continue
            symbol = order.symbol
            value[symbol] = value.get(symbol, Decimal(0)) + order.qty * price
            qty[symbol] = qty.get(symbol, Decimal(0)) + order.qty
            cash -= order.spend if order.spend is not None else order.qty * price
        return cls(
            equity_usd=ledger.equity(marks),
            cash_usd=cash,
            positions_usd=value,
            positions_qty=qty,
        )

    def policy_account(self) -> PolicyAccount:
        return PolicyAccount(
            equity_usd=self.equity_usd,
            cash_usd=self.cash_usd,
            positions_usd=dict(self.positions_usd),
            positions_qty=dict(self.positions_qty),
            open_positions=sum(1 for qty in self.positions_qty.values() if qty > 0),
        )


class OrderGate:
    """The safety check and the compliance check, in that order."""

    def __init__(
        self, safety: SafetyEnforcer, policy: PolicyEvaluator, limits: PolicyLimits
    ) -> None:
        self.safety = safety
        self.policy = policy
        self.limits = limits

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        state: SafetyState | None = None,
        policy: PolicyEvaluator | None = None,
    ) -> OrderGate:
        """The gate the configuration describes: the safety thresholds of ``safety.yaml``
        (resumed from ``state``), the policies of ``config/policies`` (or OPA_URL)."""
        return cls(
            SafetyEnforcer(settings.safety, state),
            policy if policy is not None else policy_engine_from_settings(settings),
            PolicyLimits.from_settings(settings),
        )

    def check(
        self,
        order: Order,
        price: Decimal,
        account: AccountView,
        at_ms: int,
        origin: OrderOrigin,
    ) -> GateResult:
        refusal = self._safety_refusal(order, at_ms, origin)
        if refusal is not None:
            return GateResult(False, refusal)
        return self.evaluate_policy(order, price, account, origin)

    def evaluate_policy(
        self, order: Order, price: Decimal, account: AccountView, origin: OrderOrigin
    ) -> GateResult:
        side: Literal["buy", "sell"] = "buy" if order.side is OrderSide.BUY else "sell"
        try:
            request = OrderPolicyInput(
                PolicyOrder(
                    symbol=order.symbol,
                    side=side,
                    qty=order.qty,
                    price=price,
                    notional_usd=order.qty * price,
                    source="manual" if origin == "manual" else "engine",
                ),
                account.policy_account(),
                self.limits,
            )
            verdict = self.policy.evaluate(request)
        except PolicyError as error:
            return GateResult(
                False, f"policy evaluation failed: {error}", policy=None, policy_failed=True
            )
        if verdict.allowed:
            return GateResult(True, policy=verdict.to_dict())
        return GateResult(False, f"policy: {verdict.summary()}", policy=verdict.to_dict())

    def refusal(self, symbol: str, action: Action, at_ms: int) -> str | None:
        """Why the safety enforcer would refuse the engine's order for ``action`` now."""
        side = OrderSide.BUY if action is Action.BUY else OrderSide.SELL
        return self._safety(symbol, side, at_ms, "engine")

    def _safety_refusal(self, order: Order, at_ms: int, origin: OrderOrigin) -> str | None:
        return self._safety(order.symbol, order.side, at_ms, origin)

    def _safety(self, symbol: str, side: OrderSide, at_ms: int, origin: OrderOrigin) -> str | None:
        if origin in ("protective", "panic"):
            return None
        if side is OrderSide.BUY:
            refusal = self.safety.check_entry(symbol, at_ms)
            return None if refusal is None else str(refusal)
        if origin == "engine" and self.safety.is_paused(at_ms):
            status = self.safety.status(at_ms)
            return f"no new order on {symbol}: trading paused ({status.reason})"
        return None
