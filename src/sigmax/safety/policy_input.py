"""What the compliance policies are asked about: the order, the account and the limits.

:class:`OrderPolicyInput` is built from exact ``Decimal`` values and turned into the Rego input
document by :meth:`OrderPolicyInput.to_document`.

Precision: Rego numbers are not decimals. rego-cpp keeps fractions as binary doubles and OPA as
64-bit-mantissa floats, so ``0.1 + 0.2 <= 0.3`` is not reliable and the evaluators could disagree
at a limit. Every amount therefore goes to Rego as a whole number in a fixed unit, and the rules
only add, multiply and compare whole numbers, which is exact in both:

* USD amounts in micro-USD (``*_micro_usd``, 1e-6 USD). Amounts on the risk side (the order's
  notional, position values) are rounded *up* and limits, equity and cash *down*, so rounding can
  only make a check stricter, never looser, and a value exactly at its limit stays allowed.
* quantities and prices in units of 1e-8 (``*_e8``), rounded half-even (sell and holding the same
  way, so selling exactly what is held stays exactly equal);
* percentages in basis points (``*_bp``, 0.01 %), limits rounded down;
* leverage in thousandths (``*_milli``), the order's rounded up and the limit down.

USD amounts are capped at 100 million and quantities at 10 billion so that every product the
rules form (position x 10000, equity x basis points) stays below 2**63, where both evaluators
are still exact; a larger value is a :class:`PolicyInputError`, never a silent overflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from sigmax.domain.instruments import Symbol
from sigmax.safety.policy_types import PolicyInputError

if TYPE_CHECKING:
    from sigmax.config.settings import Settings

Side = Literal["buy", "sell"]
OrderSource = Literal["engine", "manual"]

MAX_USD = Decimal(100_000_000)
MAX_QTY = Decimal(10_000_000_000)
MAX_LEVERAGE = Decimal(1000)
USD_DIGITS = 6
QTY_DIGITS = 8
_USD_DIGITS = USD_DIGITS
_QTY_DIGITS = QTY_DIGITS
_MARKET_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ASSET_RE = re.compile(r"^[A-Z0-9]{2,15}$")


def _decimal(value: object, name: str, *, positive: bool, limit: Decimal) -> Decimal:
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        raise PolicyInputError(f"{name} must be a Decimal (got {value!r})")
    number = Decimal(value)
    if not number.is_finite():
        raise PolicyInputError(f"{name} must be a finite number (got {number})")
    if positive and number <= 0:
        raise PolicyInputError(f"{name} must be > 0 (got {number})")
    if number < 0:
        raise PolicyInputError(f"{name} must be >= 0 (got {number})")
    if number > limit:
        raise PolicyInputError(f"{name} must be <= {limit} (got {number})")
    return number


#: A wide context: scaleb() must not round before the rounding chosen here. Passed to each
#: call rather than entered with localcontext(), which costs more than the arithmetic.
_WIDE = Context(prec=60)


def _whole(value: Decimal, digits: int, rounding: str) -> int:
    return int(value.scaleb(digits, _WIDE).to_integral_value(rounding, _WIDE))


def whole_ceiling(value: Decimal, digits: int) -> int:
    """``value`` in whole units of ``10**-digits``, rounded up (amounts on the risk side)."""
    return int(value.scaleb(digits, _WIDE).to_integral_value(ROUND_CEILING, _WIDE))


def whole_floor(value: Decimal, digits: int) -> int:
    """``value`` in whole units of ``10**-digits``, rounded down (limits, equity, cash)."""
    return int(value.scaleb(digits, _WIDE).to_integral_value(ROUND_FLOOR, _WIDE))


def whole_half_even(value: Decimal, digits: int) -> int:
    """``value`` in whole units of ``10**-digits``, rounded half-even (quantities, prices)."""
    return int(value.scaleb(digits, _WIDE).to_integral_value(ROUND_HALF_EVEN, _WIDE))


def _symbol(text: object, name: str) -> str:
    if not isinstance(text, str):
        raise PolicyInputError(f"{name} must be a symbol such as BTC/USDT (got {text!r})")
    try:
        return _canonical_symbol(text)
    except ValueError as error:
        raise PolicyInputError(f"{name}: {error}") from None


@lru_cache(maxsize=256)
def _canonical_symbol(text: str) -> str:
    """``BTC/USDT`` for ``btc-usdt``: several times per order over a handful of markets, so
    kept (a refused text raises each time: nothing is cached for it)."""
    return str(Symbol.parse(text))


def _asset(text: object, name: str) -> str:
    cleaned = text.strip().upper() if isinstance(text, str) else ""
    if not _ASSET_RE.match(cleaned):
        raise PolicyInputError(f"{name} must be an asset code such as BTC (got {text!r})")
    return cleaned


def _blacklist_entry(text: object) -> str:
    """A market (``DOGE/USDT``) or a base asset (``DOGE``)."""
    if isinstance(text, str) and ("/" in text or "-" in text):
        return _symbol(text, "limits.blacklist entry")
    return _asset(text, "limits.blacklist entry")


@dataclass(frozen=True, slots=True)
class PolicyOrder:
    """The order to check. ``notional_usd`` is qty x the expected price, in USD."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    notional_usd: Decimal
    market_type: str = "spot"
    leverage: Decimal = Decimal(1)
    source: OrderSource = "engine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", _symbol(self.symbol, "order.symbol"))
        if self.side not in ("buy", "sell"):
            raise PolicyInputError(f"order.side must be buy or sell (got {self.side!r})")
        if self.source not in ("engine", "manual"):
            raise PolicyInputError(f"order.source must be engine or manual (got {self.source!r})")
        if not isinstance(self.market_type, str) or not _MARKET_TYPE_RE.match(self.market_type):
            raise PolicyInputError(
                f"order.market_type must be a lower-case word such as spot "
                f"(got {self.market_type!r})"
            )
        for name, limit in (("qty", MAX_QTY), ("price", MAX_USD), ("leverage", MAX_LEVERAGE)):
            value = _decimal(getattr(self, name), f"order.{name}", positive=True, limit=limit)
            object.__setattr__(self, name, value)
        notional = _decimal(self.notional_usd, "order.notional_usd", positive=True, limit=MAX_USD)
        object.__setattr__(self, "notional_usd", notional)


def _amounts(values: Mapping[str, Decimal], name: str, limit: Decimal) -> Mapping[str, Decimal]:
    checked: dict[str, Decimal] = {}
    for key, value in values.items():
        symbol = _symbol(key, f"{name} key")
        if symbol in checked:
            raise PolicyInputError(f"{name} names {symbol} twice")
        checked[symbol] = _decimal(value, f"{name}[{symbol}]", positive=False, limit=limit)
    return MappingProxyType(checked)


@dataclass(frozen=True, slots=True)
class PolicyAccount:
    """The account before the order: equity and cash in USD, each open position's value at the
    current mark (``positions_usd``) and quantity held (``positions_qty``) by symbol."""

    equity_usd: Decimal
    cash_usd: Decimal
    positions_usd: Mapping[str, Decimal] = field(default_factory=dict)
    positions_qty: Mapping[str, Decimal] = field(default_factory=dict)
    open_positions: int = 0

    def __post_init__(self) -> None:
        for name in ("equity_usd", "cash_usd"):
            value = _decimal(getattr(self, name), f"account.{name}", positive=False, limit=MAX_USD)
            object.__setattr__(self, name, value)
        usd = _amounts(self.positions_usd, "account.positions_usd", MAX_USD)
        object.__setattr__(self, "positions_usd", usd)
        qty = _amounts(self.positions_qty, "account.positions_qty", MAX_QTY)
        object.__setattr__(self, "positions_qty", qty)
        if isinstance(self.open_positions, bool) or not isinstance(self.open_positions, int):
            raise PolicyInputError(
                f"account.open_positions must be a whole number (got {self.open_positions!r})"
            )
        if self.open_positions < 0:
            raise PolicyInputError(
                f"account.open_positions must be >= 0 (got {self.open_positions})"
            )

    @property
    def equity_micro_usd(self) -> int:
        return whole_floor(self.equity_usd, USD_DIGITS)

    @property
    def cash_micro_usd(self) -> int:
        return whole_floor(self.cash_usd, USD_DIGITS)

    @property
    def positions_micro_usd(self) -> list[tuple[str, int]]:
        """Each position's value in micro-USD, rounded up, by symbol in order."""
        return [(s, whole_ceiling(v, USD_DIGITS)) for s, v in sorted(self.positions_usd.items())]

    @property
    def holdings_e8(self) -> list[tuple[str, int]]:
        """Each quantity held in units of 1e-8, rounded half-even, by symbol in order."""
        return [(s, whole_half_even(v, QTY_DIGITS)) for s, v in sorted(self.positions_qty.items())]


@dataclass(frozen=True, slots=True)
class PolicyLimits:
    """The limits the rules enforce: the risk profile's and the policy settings'."""

    max_position_size_usd: Decimal
    max_exposure_usd: Decimal
    #: Percent of equity: 5 means 5 %.
    max_position_pct_of_equity: Decimal
    max_open_positions: int
    allowed_assets: tuple[str, ...] = ("BTC", "ETH", "SOL", "BNB")
    quote_asset: str = "USDT"
    #: Markets (``DOGE/USDT``) or base assets (``DOGE``) that may never be bought.
    blacklist: tuple[str, ...] = ()
    max_leverage: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        for name in ("max_position_size_usd", "max_exposure_usd"):
            value = _decimal(getattr(self, name), f"limits.{name}", positive=False, limit=MAX_USD)
            object.__setattr__(self, name, value)
        pct = _decimal(
            self.max_position_pct_of_equity,
            "limits.max_position_pct_of_equity",
            positive=False,
            limit=Decimal(100),
        )
        object.__setattr__(self, "max_position_pct_of_equity", pct)
        leverage = _decimal(
            self.max_leverage, "limits.max_leverage", positive=True, limit=MAX_LEVERAGE
        )
        object.__setattr__(self, "max_leverage", leverage)
        if isinstance(self.max_open_positions, bool) or not isinstance(
            self.max_open_positions, int
        ):
            raise PolicyInputError(
                "limits.max_open_positions must be a whole number "
                f"(got {self.max_open_positions!r})"
            )
        if self.max_open_positions < 0:
            raise PolicyInputError(
                f"limits.max_open_positions must be >= 0 (got {self.max_open_positions})"
            )
        assets = tuple(_asset(a, "limits.allowed_assets entry") for a in self.allowed_assets)
        object.__setattr__(self, "allowed_assets", assets)
        object.__setattr__(self, "quote_asset", _asset(self.quote_asset, "limits.quote_asset"))
        entries = tuple(_blacklist_entry(e) for e in self.blacklist)
        object.__setattr__(self, "blacklist", entries)

    def to_document(self) -> dict[str, Any]:
        """The ``limits`` part of the Rego input document."""
        return {
            "max_position_size_micro_usd": _whole(
                self.max_position_size_usd, _USD_DIGITS, ROUND_FLOOR
            ),
            "max_exposure_micro_usd": _whole(self.max_exposure_usd, _USD_DIGITS, ROUND_FLOOR),
            "max_position_pct_of_equity_bp": _whole(
                self.max_position_pct_of_equity, 2, ROUND_FLOOR
            ),
            "max_open_positions": self.max_open_positions,
            "allowed_assets": list(self.allowed_assets),
            "quote_asset": self.quote_asset,
            "blacklist": list(self.blacklist),
            "max_leverage_milli": _whole(self.max_leverage, 3, ROUND_FLOOR),
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyLimits:
        """The profile's size limits (``MAX_POSITION_SIZE`` applied) and ``safety.policy``."""
        profile = settings.profile
        policy = settings.safety.policy
        return cls(
            max_position_size_usd=profile.max_position_size,
            max_exposure_usd=profile.max_exposure,
            # repr() of a float is the shortest text that reads back as it: 5.0 -> "5.0".
            max_position_pct_of_equity=Decimal(repr(profile.max_position_pct_of_equity)),
            max_open_positions=profile.max_open_positions,
            allowed_assets=policy.allowed_assets,
            quote_asset=policy.quote_asset,
            blacklist=policy.blacklist,
            max_leverage=Decimal(policy.max_leverage),
        )


@dataclass(frozen=True, slots=True)
class OrderPolicyInput:
    """One question to the policies: may this order be sent?"""

    order: PolicyOrder
    account: PolicyAccount
    limits: PolicyLimits

    def to_document(self) -> dict[str, Any]:
        """The Rego ``input`` document (whole numbers in fixed units; see the module doc)."""
        order, account, limits = self.order, self.account, self.limits
        symbol = Symbol.parse(order.symbol)
        return {
            "order": {
                "symbol": order.symbol,
                "base": symbol.base,
                "quote": symbol.quote,
                "side": order.side,
                "qty_e8": _whole(order.qty, _QTY_DIGITS, ROUND_HALF_EVEN),
                "price_e8": _whole(order.price, _QTY_DIGITS, ROUND_HALF_EVEN),
                "notional_micro_usd": _whole(order.notional_usd, _USD_DIGITS, ROUND_CEILING),
                "market_type": order.market_type,
                "leverage_milli": _whole(order.leverage, 3, ROUND_CEILING),
                "source": order.source,
            },
            "account": {
                "equity_micro_usd": _whole(account.equity_usd, _USD_DIGITS, ROUND_FLOOR),
                "cash_micro_usd": _whole(account.cash_usd, _USD_DIGITS, ROUND_FLOOR),
                "positions_micro_usd": {
                    s: _whole(v, _USD_DIGITS, ROUND_CEILING)
                    for s, v in sorted(account.positions_usd.items())
                },
                "holdings_e8": {
                    s: _whole(v, _QTY_DIGITS, ROUND_HALF_EVEN)
                    for s, v in sorted(account.positions_qty.items())
                },
                "open_positions": account.open_positions,
            },
            "limits": limits.to_document(),
        }
