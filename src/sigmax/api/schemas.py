"""Request and response bodies of the REST API (pydantic), which are also its OpenAPI schema.

Money, quantities and prices of the account are exact decimal strings (``"991.38543201"``), as
in the CLI's ``--json``: a JSON number would be read as a binary float by most clients. Candle
prices and agent scores are analytics (float64 in SIGMAX) and are JSON numbers.

Request bodies refuse unknown fields, so a misspelt field is an error naming it instead of
being ignored.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from pydantic_core import PydanticCustomError

from sigmax.api.performance import PerformanceOut
from sigmax.domain.instruments import Symbol

#: Largest manual order size accepted, in base units (far above any real order: it bounds the
#: exact arithmetic of the checks, which refuse to round).
MAX_ORDER_SIZE = Decimal("1000000000")
#: Longest pause the API accepts, as ``sigmax pause --duration`` does: a year.
MAX_PAUSE_SECONDS = 366 * 86_400

DecimalText = Annotated[str, Field(description="An exact decimal number as text.")]
IsoTime = Annotated[str, Field(description="ISO-8601 time in UTC.")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _OpenResponse(BaseModel):
    """A document whose producer may add fields (decision records, the safety report)."""

    model_config = ConfigDict(extra="allow")


def _strict_decimal(value: object) -> object:
    """Refuse the spellings Python's Decimal takes but no client means: digit separators
    ("1_0"), surrounding spaces (" 1 ") and other scripts' digits ("١")."""
    if isinstance(value, str) and ("_" in value or value != value.strip() or not value.isascii()):
        raise PydanticCustomError(
            "decimal_text",
            'must be a decimal number written with the digits 0-9, e.g. "0.0015" '
            "(no spaces, no digit separators)",
        )
    return value


_QUERY_INTEGER = re.compile(r"[0-9]{1,19}")


def strict_query_integer(value: object) -> object:
    """A whole number in a query string, written only with the digits 0-9: Python's int()
    would also take "1_0", " 1 " and other scripts' digits ("١"), which no client means."""
    if isinstance(value, str) and _QUERY_INTEGER.fullmatch(value) is None:
        raise PydanticCustomError(
            "integer_text", "must be a whole number written with the digits 0-9, e.g. 20"
        )
    return value


def _canonical_symbol(value: str) -> str:
    try:
        return str(Symbol.parse(value))
    except ValueError as error:
        raise ValueError(str(error)) from None


# --- errors -------------------------------------------------------------------------------------


class PolicyViolationOut(_Response):
    rule: str
    message: str


class ErrorDetail(_Response):
    """What went wrong: the offending ``field`` (None when no single field is at fault), the
    ``rule`` it broke, and a message for people. A refused order also lists the broken
    ``rules`` and the policy's ``violations``."""

    field: str | None
    rule: str
    message: str
    rules: list[str] = Field(default_factory=list)
    violations: list[PolicyViolationOut] = Field(default_factory=list)


class ErrorResponse(_Response):
    error: ErrorDetail


# --- status and health --------------------------------------------------------------------------


class AgentStatus(_Response):
    name: str
    enabled: bool


class ModulesOut(_Response):
    storage: Literal["sqlite", "postgresql"]
    bus: Literal["in-process", "nats"]
    news: Literal["newsapi", "unavailable"]
    policy_evaluator: Literal["embedded", "opa"]
    candle_data: str = Field(description="Where /api/candles and /api/analyze read candles.")
    quantum: str = Field(
        description="The quantum allocation solver: 'unavailable (reason)' when qiskit cannot "
        "be imported, 'off (...)' when QUANTUM_ENABLED is false, 'on (...)' with its methods, "
        "shots and budget."
    )


class StatusResponse(_Response):
    mode: Literal["paper", "live"]
    running: bool = Field(description="The newest run's process is running.")
    paused: bool
    pause_reason: str | None
    pause_until: IsoTime | None = Field(
        description="When the pause lifts by itself, in pause_until_clock; null: at a resume "
        "(or, with pause_until_clock mixed, when each hold in /api/safety has lifted)."
    )
    pause_until_clock: Literal["market", "wall", "mixed"] | None = Field(
        description="market: the engine's candle time; wall: real UTC time (an operator's "
        "pause); mixed: holds in both clocks."
    )
    feed: Literal["replay", "live"] | None = Field(description="None before the first run.")
    profile: str
    run_id: str | None
    run_status: Literal["running", "stale", "completed", "interrupted", "failed"] | None
    as_of: IsoTime | None = Field(description="Close of the last candle the run processed.")
    symbols: list[str]
    agents: list[AgentStatus]
    modules: ModulesOut
    performance: PerformanceOut


class SafetyHealth(_Response):
    paused: bool
    consecutive_losses: int
    daily_pnl: DecimalText | None


class HealthCheckOut(_Response):
    name: str = Field(
        description="process, api, log, disk, memory, heartbeat, last_decision, paused, store."
    )
    level: Literal["ok", "degraded", "unhealthy"]
    detail: str


class HealthResponse(_Response):
    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="unhealthy: the database cannot be read, or the newest run is stale (stored "
        "as running but its engine stopped renewing its lease) (HTTP 503); degraded: trading "
        "is paused or no run is running; healthy otherwise."
    )
    uptime: float = Field(description="Seconds since the API started.")
    last_decision: IsoTime | None = Field(description="Time of the newest stored decision.")
    safety_status: SafetyHealth | None
    problems: list[str] = Field(description="Why the status is not healthy.")
    checks: list[HealthCheckOut] = Field(
        description="Each check of 'sigmax health', the same function: the worst is the status."
    )


# --- account ------------------------------------------------------------------------------------


class PositionOut(_Response):
    size: DecimalText
    entry_price: DecimalText
    current_price: DecimalText
    pnl: DecimalText
    pnl_pct: DecimalText = Field(description="Unrealised PnL over cost, percent, 4 places.")


class PortfolioResponse(_Response):
    run_id: str | None
    profile: str
    as_of: IsoTime | None
    total_value_usd: DecimalText
    cash: DecimalText
    daily_pnl: DecimalText
    daily_pnl_day: str | None
    realized_pnl: DecimalText
    unrealized_pnl: DecimalText
    fees: DecimalText
    positions: dict[str, PositionOut]


class TradeOut(_Response):
    decision_id: str | None
    symbol: str
    side: Literal["buy", "sell"]
    qty: DecimalText
    price: DecimalText
    fee: DecimalText
    realized_pnl: DecimalText
    timestamp: IsoTime
    order_type: str
    client_order_id: str
    decision_data_until: IsoTime | None


class TradesResponse(_Response):
    trades: list[TradeOut] = Field(description="Oldest first.")


class EquityPoint(_Response):
    time: IsoTime
    equity: DecimalText
    cash: DecimalText
    daily_pnl: DecimalText
    realized_pnl: DecimalText
    unrealized_pnl: DecimalText
    fees: DecimalText


class EquityResponse(_Response):
    run_id: str | None
    points: list[EquityPoint] = Field(description="Oldest first.")


class CandleOut(_Response):
    time: IsoTime = Field(description="Open time of the candle.")
    timestamp_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesResponse(_Response):
    symbol: str
    timeframe: str
    exchange: str
    source: str
    candles: list[CandleOut] = Field(description="Oldest first.")


# --- decisions ----------------------------------------------------------------------------------


class DecisionOut(_OpenResponse):
    """A stored decision record (``DecisionRecord.to_dict()``): every agent's score and
    argument, the debate, the risk assessment, the policy verdict and the reasoning."""

    id: str
    symbol: str
    timestamp: IsoTime
    data_until: IsoTime
    timeframe: str
    profile: str
    decision: Literal["BUY", "SELL", "HOLD"]
    confidence: float
    size_usd: float
    stop_loss: float | None
    take_profit: float | None
    price: float | None
    score: float
    reasoning: dict[str, str]
    agents: list[dict[str, Any]]
    debate: list[dict[str, Any]]
    indicators: dict[str, float | None]


class HistoryResponse(_Response):
    symbol: str | None
    decisions: list[DecisionOut] = Field(description="Newest first.")


class AnalyzeRequest(_Request):
    symbol: str = Field(max_length=32, examples=["BTC/USDT"])

    _symbol = field_validator("symbol")(_canonical_symbol)


# --- manual orders ------------------------------------------------------------------------------


class TradeRequest(_Request):
    symbol: str = Field(max_length=32, examples=["BTC/USDT"])
    action: Literal["buy", "sell"]
    size: Decimal = Field(
        gt=0,
        le=MAX_ORDER_SIZE,
        max_digits=40,
        decimal_places=18,
        description='Base quantity, e.g. "0.0015" (a string keeps it exact; numbers work).',
        examples=["0.0015"],
    )

    _symbol = field_validator("symbol")(_canonical_symbol)
    _size = field_validator("size", mode="before")(_strict_decimal)

    @field_validator("action", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class QueuedOrderResponse(_Response):
    run_id: str
    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["market"]
    qty: DecimalText
    mark: DecimalText
    estimated_notional: DecimalText
    estimated_fee: DecimalText
    queued_at: IsoTime
    fills_at_candle_open: IsoTime
    cancelled: list[str]
    run_status: str


# --- operator controls --------------------------------------------------------------------------


class PauseRequest(_Request):
    # Strict: true is not 1 and "60" is not 60.
    duration: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_PAUSE_SECONDS,
        description="Seconds until the pause lifts by itself; null: until a resume.",
    )


class ResumeRequest(_Request):
    force: StrictBool = Field(
        default=False, description="Resume even while a trigger's condition holds (journalled)."
    )


class PanicRequest(_Request):
    confirm: StrictBool = Field(description="Must be true: panic closes every position.")


class CommandResponse(_Response):
    command_id: int
    command: Literal["pause", "resume", "panic", "order"]
    status: Literal["pending", "applied", "refused"]
    message: str
    applied_by: str | None


# --- safety and configuration -------------------------------------------------------------------


class SafetyTriggerOut(_OpenResponse):
    name: str
    enabled: bool
    value: str | int | float | None
    threshold: str | int | float | None
    fired: bool
    detail: str


class SafetyResponse(_OpenResponse):
    """The safety report of ``sigmax safety --json``."""

    at: IsoTime
    as_of: IsoTime
    paused: bool
    reason: str | None
    trigger: str | None
    until: IsoTime | None
    until_clock: Literal["market", "wall", "mixed"] | None = Field(
        description="The clock `until` counts in: market (candle time) or wall (real time, "
        "an operator's pause); mixed: see each hold's own clock."
    )
    holds: list[dict[str, Any]]
    triggers: list[SafetyTriggerOut]
    protections: dict[str, Any]
    violations: list[dict[str, Any]]
    engine_running: bool


class ConfigValue(_Response):
    value: Any
    source: str
    env: str | None


class ConfigResponse(_Response):
    """``sigmax config show --json``: every effective value, secrets masked, with its source."""

    config_dir: str
    config_dir_reason: str
    home: str
    profile: str
    database: str
    values: dict[str, ConfigValue]
