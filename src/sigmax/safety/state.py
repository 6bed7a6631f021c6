"""The safety enforcer's state as plain data, and its versioned JSON form.

Everything the enforcer needs to decide after a restart lives in :class:`SafetyState`: the
active holds (each a reason trading is paused), the counters behind the triggers, the per-symbol
cooldowns and the last violations. The enforcer mutates it;
:class:`~sigmax.safety.store.SafetyStore` persists it. Money is ``Decimal`` and travels as a
string, times are epoch milliseconds.

The JSON carries ``"version"``; :meth:`SafetyState.from_json` reads the current version and
migrates older ones (version 1 had no hold clocks: its holds all counted in market time, which
is what they keep), and refuses any other version and any malformed field with a
:class:`SafetyStateError` naming the field, because guessing at a safety state could silently
un-pause a system that was paused.

Two clocks
    A hold's times count in one of two clocks (:data:`HoldClock`). ``market``: the engine's
    clock, the close of the newest candle (candle time in a replay), which the triggers, their
    cooldowns and the daily reset use so replays and backtests stay deterministic. ``wall``: the
    operator's clock, real UTC time, in which an operator's pause lasts what it says in every
    mode, however fast a replay runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, TypeAlias, get_args

from sigmax.safety.errors import SafetyStateError
from sigmax.storage.models import SafetyEventKind

STATE_VERSION: Final = 2
MAX_VIOLATIONS: Final = 20
"""How many recent violations the state (and the status) keeps."""

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

HoldClock: TypeAlias = Literal["market", "wall"]
"""The clock a hold's ``since_ms`` and ``until_ms`` count in (see the module notes)."""
HOLD_CLOCKS: Final[frozenset[str]] = frozenset(get_args(HoldClock))


@dataclass(slots=True)
class Hold:
    """One reason trading is paused. Trading resumes only when no hold is left.

    ``trigger`` is a :class:`~sigmax.safety.triggers.TriggerName` value, or the name a caller
    gave :meth:`~sigmax.safety.enforcer.SafetyEnforcer.pause`. ``until_ms`` ``None`` means the
    hold lasts until a resume. ``since_ms`` and ``until_ms`` count in ``clock``.
    """

    trigger: str
    reason: str
    since_ms: int
    until_ms: int | None
    clock: HoldClock = "market"

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "trigger": self.trigger,
            "reason": self.reason,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "clock": self.clock,
        }


@dataclass(frozen=True, slots=True)
class Violation:
    """Something a trigger or protection caught, as the log line said it."""

    at_ms: int
    trigger: str
    message: str

    def to_dict(self) -> dict[str, JsonValue]:
        return {"at_ms": self.at_ms, "trigger": self.trigger, "message": self.message}


@dataclass(frozen=True, slots=True)
class ApiErrorMark:
    """When an API or feed error happened and where (the message is not kept)."""

    at_ms: int
    source: str

    def to_dict(self) -> dict[str, JsonValue]:
        return {"at_ms": self.at_ms, "source": self.source}


@dataclass(frozen=True, slots=True)
class SafetyEvent:
    """One line of the safety journal (the ``safety_events`` table)."""

    kind: SafetyEventKind
    trigger: str | None
    reason: str
    details: dict[str, JsonValue]
    at_ms: int


@dataclass(slots=True)
class SafetyState:
    """Everything the enforcer remembers between observations and across restarts."""

    holds: dict[str, Hold] = field(default_factory=dict)
    """Active pause reasons by trigger name."""
    loss_streak: int = 0
    """Losing closed trades in a row since the last winning one (or forced resume)."""
    api_errors: list[ApiErrorMark] = field(default_factory=list)
    """The most recent API errors in time order, at most ``max_api_errors`` of them."""
    day_pnl: Decimal | None = None
    """The last day PnL observed (realised + unrealised) and when."""
    day_pnl_at_ms: int | None = None
    daily_loss_baseline: Decimal | None = None
    """After a forced resume over the daily loss: the day PnL at that moment; the limit then
    counts from it until ``daily_loss_baseline_until_ms`` (the next daily reset)."""
    daily_loss_baseline_until_ms: int | None = None
    last_slippage_pct: Decimal | None = None
    """Slippage of the last fill, in percent of the expected price."""
    sentiment: float | None = None
    """The last sentiment reading that came from a source, and when."""
    sentiment_at_ms: int | None = None
    sentiment_armed: bool = True
    """False after a forced resume over the sentiment trigger, until a reading at or above the
    threshold re-arms it (otherwise the next low reading would pause again at once)."""
    equity_peak: Decimal | None = None
    equity: Decimal | None = None
    last_privacy_finding: str | None = None
    """The last privacy finding as ``<kind> in <where>``, never its content."""
    cooldowns: dict[str, int] = field(default_factory=dict)
    """Symbol -> end of its stop-loss cooldown (epoch ms)."""
    violations: list[Violation] = field(default_factory=list)
    """The last :data:`MAX_VIOLATIONS` violations, oldest first."""
    updated_at_ms: int | None = None
    """The newest time the enforcer was told about."""

    def to_dict(self) -> dict[str, JsonValue]:
        """The state as JSON-ready data (the body of :meth:`to_json`)."""
        return {
            "version": STATE_VERSION,
            "holds": {key: hold.to_dict() for key, hold in sorted(self.holds.items())},
            "loss_streak": self.loss_streak,
            "api_errors": [mark.to_dict() for mark in self.api_errors],
            "day_pnl": _decimal_text(self.day_pnl),
            "day_pnl_at_ms": self.day_pnl_at_ms,
            "daily_loss_baseline": _decimal_text(self.daily_loss_baseline),
            "daily_loss_baseline_until_ms": self.daily_loss_baseline_until_ms,
            "last_slippage_pct": _decimal_text(self.last_slippage_pct),
            "sentiment": self.sentiment,
            "sentiment_at_ms": self.sentiment_at_ms,
            "sentiment_armed": self.sentiment_armed,
            "equity_peak": _decimal_text(self.equity_peak),
            "equity": _decimal_text(self.equity),
            "last_privacy_finding": self.last_privacy_finding,
            "cooldowns": dict(sorted(self.cooldowns.items())),
            "violations": [violation.to_dict() for violation in self.violations],
            "updated_at_ms": self.updated_at_ms,
        }

    def to_json(self) -> str:
        """Deterministic JSON text: the same state always gives the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> SafetyState:
        """Read :meth:`to_json` output; anything else raises :class:`SafetyStateError`."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise SafetyStateError(f"safety state is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> SafetyState:
        """Read :meth:`to_dict` output; anything else raises :class:`SafetyStateError`."""
        top = _Fields(_migrated(data), "safety state")
        version = top.integer("version")
        if version != STATE_VERSION:
            raise SafetyStateError(
                f"safety state version {version} is not supported (this SIGMAX reads version "
                f"{STATE_VERSION}); upgrade SIGMAX or clear the stored safety state deliberately"
            )
        holds: dict[str, Hold] = {}
        for key, raw in top.mapping("holds").items():
            item = _Fields(raw, f"safety state holds.{key}")
            hold = Hold(
                trigger=item.text("trigger"),
                reason=item.text("reason"),
                since_ms=item.integer("since_ms"),
                until_ms=item.optional_integer("until_ms"),
                clock=item.clock("clock"),
            )
            if hold.trigger != key:
                raise SafetyStateError(
                    f"safety state holds.{key}: trigger is {hold.trigger!r}, not its key"
                )
            item.done()
            holds[key] = hold
        api_errors = []
        for index, raw in enumerate(top.sequence("api_errors")):
            item = _Fields(raw, f"safety state api_errors[{index}]")
            api_errors.append(ApiErrorMark(at_ms=item.integer("at_ms"), source=item.text("source")))
            item.done()
        violations = []
        for index, raw in enumerate(top.sequence("violations")):
            item = _Fields(raw, f"safety state violations[{index}]")
            violations.append(
                Violation(
                    at_ms=item.integer("at_ms"),
                    trigger=item.text("trigger"),
                    message=item.text("message"),
                )
            )
            item.done()
        cooldowns: dict[str, int] = {}
        for symbol, until in top.mapping("cooldowns").items():
            if not _is_int(until):
                raise SafetyStateError(
                    f"safety state cooldowns.{symbol}: expected epoch ms, got {until!r}"
                )
            cooldowns[symbol] = until
        state = cls(
            holds=holds,
            loss_streak=top.integer("loss_streak"),
            api_errors=api_errors,
            day_pnl=top.optional_decimal("day_pnl"),
            day_pnl_at_ms=top.optional_integer("day_pnl_at_ms"),
            daily_loss_baseline=top.optional_decimal("daily_loss_baseline"),
            daily_loss_baseline_until_ms=top.optional_integer("daily_loss_baseline_until_ms"),
            last_slippage_pct=top.optional_decimal("last_slippage_pct"),
            sentiment=top.optional_number("sentiment"),
            sentiment_at_ms=top.optional_integer("sentiment_at_ms"),
            sentiment_armed=top.boolean("sentiment_armed"),
            equity_peak=top.optional_decimal("equity_peak"),
            equity=top.optional_decimal("equity"),
            last_privacy_finding=top.optional_text("last_privacy_finding"),
            cooldowns=cooldowns,
            violations=violations,
            updated_at_ms=top.optional_integer("updated_at_ms"),
        )
        top.done()
        if state.loss_streak < 0:
            raise SafetyStateError(f"safety state loss_streak: negative ({state.loss_streak})")
        return state


def _migrated(data: object) -> object:
    """``data`` brought to :data:`STATE_VERSION` when it is an older version we know.

    Version 1 -> 2: holds gain ``clock``. Every version-1 hold counted in market time (the
    enforcer had one clock), so that is the clock it keeps: a stored pause lifts exactly when
    it would have before the upgrade. Anything else is left for :meth:`SafetyState.from_dict`
    to accept or refuse.
    """
    if not isinstance(data, dict) or data.get("version") != 1:
        return data
    holds = data.get("holds")
    if not isinstance(holds, dict):
        return data  # refused by from_dict, naming the field
    return {
        **data,
        "version": 2,
        "holds": {
            key: {**hold, "clock": "market"} if isinstance(hold, dict) else hold
            for key, hold in holds.items()
        },
    }


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _is_int(value: object) -> bool:
    # bool is an int in Python; a stored true must not read back as 1 ms.
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """Typed access to one JSON object; every key must be read, so typos and leftovers fail."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise SafetyStateError(f"{where}: expected an object, got {type(data).__name__}")
        self._data: dict[str, Any] = data
        self._where = where
        self._seen: set[str] = set()

    def _get(self, key: str) -> Any:
        if key not in self._data:
            raise SafetyStateError(f"{self._where}: missing field {key!r}")
        self._seen.add(key)
        return self._data[key]

    def _fail(self, key: str, expected: str, value: object) -> SafetyStateError:
        return SafetyStateError(f"{self._where} {key}: expected {expected}, got {value!r}")

    def integer(self, key: str) -> int:
        value = self._get(key)
        if not _is_int(value):
            raise self._fail(key, "an integer", value)
        result: int = value
        return result

    def optional_integer(self, key: str) -> int | None:
        value = self._get(key)
        return None if value is None else self.integer(key)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def clock(self, key: str) -> HoldClock:
        value = self._get(key)
        if value == "market":
            return "market"
        if value == "wall":
            return "wall"
        raise self._fail(key, f"one of {', '.join(sorted(HOLD_CLOCKS))}", value)

    def optional_text(self, key: str) -> str | None:
        value = self._get(key)
        return None if value is None else self.text(key)

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def optional_number(self, key: str) -> float | None:
        value = self._get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, "a number", value)
        return float(value)

    def optional_decimal(self, key: str) -> Decimal | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a decimal string", value)
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._fail(key, "a decimal string", value) from None
        if not number.is_finite():
            raise self._fail(key, "a finite decimal", value)
        return number

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key)
        if not isinstance(value, dict):
            raise self._fail(key, "an object", value)
        return value

    def sequence(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list", value)
        return value

    def done(self) -> None:
        extra = sorted(set(self._data) - self._seen)
        if extra:
            raise SafetyStateError(f"{self._where}: unknown fields {', '.join(extra)}")
