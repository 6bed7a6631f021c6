"""The typed SIGMAX configuration.

:class:`Settings` is the one object the rest of SIGMAX reads its configuration from. It is built
by :func:`sigmax.config.load_settings`, which layers explicit overrides, environment variables,
the ``.env`` file, the YAML files and the defaults below. ``Settings()`` on its own gives the pure
defaults and reads nothing from the environment or disk.

Units: money is USD (the quote currency, USDT counts as USD) held as ``Decimal``; names ending in
``_pct`` are percentages (``2.5`` means 2.5 %); ``risk_per_trade`` is a fraction of equity.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from sigmax.config.paths import (
    BACKUPS_DIR_NAME,
    DATABASE_FILE_NAME,
    LOG_FILE_NAME,
    LOGS_DIR_NAME,
)
from sigmax.domain.candles import Timeframe
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError
from sigmax.url_secrets import url_secrets

TradingMode = Literal["paper", "live"]
ExchangeName = Literal["binance", "coinbase", "kraken"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

#: What every secret looks like when shown (same as pydantic's SecretStr rendering).
MASK = "**********"

DEFAULT_PROFILE = "conservative"
DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
_PROFILE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: A host name (dot-separated labels), an IPv4 address or a bracketed IPv6 address; no port.
_ALLOWED_HOST_RE = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\]"
)


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """One broken cross-field rule, found by a validator that looks at several fields.

    ``path`` is relative to the field or model the validator belongs to, unless ``absolute``.
    """

    path: tuple[str, ...]
    rule: str
    value: object = None
    absolute: bool = False


class RuleViolationsError(ValueError):
    """Raised by validators to report several :class:`RuleViolation` at once.

    Pydantic keeps the exception object in the error's context, which is how the loader turns
    each violation into its own :class:`~sigmax.errors.ConfigProblem` naming the right key.
    """

    def __init__(self, violations: list[RuleViolation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{'.'.join(v.path)}: {v.rule}" for v in self.violations))


def normalise_profile_name(name: str) -> str:
    """Lower-case and check a profile name; it names a file, so no paths are allowed."""
    cleaned = name.strip().lower()
    if not _PROFILE_NAME_RE.match(cleaned):
        raise ValueError(
            "must be a profile name made of a-z, 0-9, '-' and '_' "
            "(conservative, balanced, aggressive or a file in profiles/)"
        )
    return cleaned


class _Section(BaseModel):
    """Base of every configuration section: unknown keys and NaN/infinity are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _normalise_symbols(symbols: tuple[str, ...]) -> tuple[str, ...]:
    parsed = [str(Symbol.parse(s)) for s in symbols]
    duplicates = sorted({s for s in parsed if parsed.count(s) > 1})
    if duplicates:
        raise ValueError(f"must not repeat a symbol (repeated: {', '.join(duplicates)})")
    if not parsed:
        raise ValueError("must name at least one symbol")
    return tuple(parsed)


class TradingSettings(_Section):
    """General trading settings (``config.yaml: trading``)."""

    mode: TradingMode = "paper"
    exchange: ExchangeName = "binance"
    testnet: bool = True
    #: Markets the engine trades; each must be in the profile's ``allowed_symbols``.
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    #: Candle timeframe the engine decides on.
    timeframe: Timeframe = Timeframe.H1
    #: Fee charged by the paper venue per fill, as a fraction of notional (Binance spot: 0.1 %).
    paper_fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, le=Decimal("0.01"))
    #: Live mode: minutes between reconciliations of the exchange account with the ledger
    #: (also run at start).
    reconcile_minutes: int = Field(default=5, ge=1, le=1440)

    @field_validator("mode", "exchange", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _normalise_symbols(value)


class ApiSettings(_Section):
    """The REST API and dashboard listener (``config.yaml: api``)."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    #: Names the API answers to besides its bound host, localhost, 127.0.0.1 and [::1] (the
    #: Host header of a request; any other gets 421, which defeats DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(host.strip().lower() for host in value)
        for host in cleaned:
            if not _ALLOWED_HOST_RE.fullmatch(host):
                raise ValueError(
                    f"{host!r} is not a host name or address without a port "
                    "(e.g. sigmax.lan, 192.168.1.10, [fd00::1])"
                )
        return cleaned


_CHAT_ID_RE = re.compile(r"^-?[0-9]{1,20}$")
_HHMM_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class TelegramSettings(_Section):
    """The Telegram bot (``config.yaml: telegram``); it runs when TELEGRAM_BOT_TOKEN is set."""

    #: The chats that may command the bot and get its notifications (TELEGRAM_ALLOWED_CHAT_IDS,
    #: comma-separated). Everyone else gets one refusal and nothing else.
    allowed_chat_ids: tuple[int, ...] = ()
    #: The Bot API's base URL (TELEGRAM_API_URL): a proxy, or a stand-in for tests.
    api_url: str = "https://api.telegram.org"
    #: When the daily summary goes out, ``HH:MM`` in UTC; null: no summary.
    daily_summary_utc: str | None = "00:00"
    #: Messages waiting for the Bot API; beyond it the oldest are dropped and counted.
    outbox_size: int = Field(default=500, ge=10, le=100_000)
    #: How long the buttons of /trade and /panic wait for a press.
    confirm_ttl_s: int = Field(default=60, ge=5, le=3600)

    @field_validator("allowed_chat_ids", mode="before")
    @classmethod
    def _chat_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            bad = [part for part in parts if not _CHAT_ID_RE.match(part)]
            if bad:
                raise ValueError(
                    "must be whole-number chat ids separated by commas, such as "
                    f"123456789,-1001234567890 (not {', '.join(repr(b) for b in bad)})"
                )
            return tuple(int(part) for part in parts)
        return value

    @field_validator("allowed_chat_ids")
    @classmethod
    def _no_repeats(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a chat id")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must be a base URL without a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("daily_summary_utc")
    @classmethod
    def _summary_time(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM_RE.match(value.strip()):
            raise ValueError("must be a UTC time HH:MM such as 00:00, or null for no summary")
        return None if value is None else value.strip()


class LoggingSettings(_Section):
    """Log level and file rotation (``config.yaml: logging``)."""

    level: LogLevel = "INFO"
    #: Size in bytes at which ``logs/sigmax.log`` is rotated.
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    #: How many rotated files (``sigmax.log.1`` ...) are kept.
    backup_count: int = Field(default=5, ge=1, le=100)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class ProtectionSettings(_Section):
    """Protections that block new entries without pausing everything (``safety.yaml``)."""

    #: After a stop-loss on a symbol, no new entry on that symbol for this many minutes.
    stoploss_cooldown_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    #: Pause when equity falls this many percent below its peak.
    max_drawdown_pct: float = Field(default=10.0, gt=0, le=100)


_ASSET_RE = re.compile(r"^[A-Z0-9]{2,15}$")


def _asset_code(text: str) -> str:
    cleaned = text.strip().upper()
    if not _ASSET_RE.match(cleaned):
        raise ValueError(f"must be asset codes such as BTC ({text!r} is not one)")
    return cleaned


def _http_service_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


class PolicySettings(_Section):
    """The order compliance policies (``safety.yaml: policy``), Rego files in ``policies/``.

    The size limits the policies enforce come from the risk profile; these are the rest.
    """

    #: Base assets that may be bought (against ``quote_asset``).
    allowed_assets: tuple[str, ...] = ("BTC", "ETH", "SOL", "BNB")
    quote_asset: str = "USDT"
    #: Markets (DOGE/USDT) or base assets (DOGE) that may never be bought.
    blacklist: tuple[str, ...] = ()
    #: SIGMAX trades spot only, so every order must have leverage 1; values above 1 are refused
    #: until a venue with margin exists.
    max_leverage: int = Field(default=1, ge=1, le=1)
    #: Folder of the *.rego files; relative paths are inside the configuration folder.
    #: None: the configuration folder's policies/.
    directory: Path | None = None
    #: External OPA server evaluating the same policies (env OPA_URL); None: in process.
    opa_url: str | None = None
    #: How long to wait for OPA before the order is refused.
    opa_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("allowed_assets", "blacklist", mode="before")
    @classmethod
    def _text_list(cls, value: object) -> object:
        # A single YAML scalar would otherwise be read as a list of its characters.
        return [value] if isinstance(value, str) else value

    @field_validator("allowed_assets")
    @classmethod
    def _assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        assets = tuple(_asset_code(a) for a in value)
        if not assets:
            raise ValueError("must name at least one asset")
        repeated = sorted({a for a in assets if assets.count(a) > 1})
        if repeated:
            raise ValueError(f"must not repeat an asset (repeated: {', '.join(repeated)})")
        return assets

    @field_validator("quote_asset")
    @classmethod
    def _quote(cls, value: str) -> str:
        return _asset_code(value)

    @field_validator("blacklist")
    @classmethod
    def _blacklist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        entries = tuple(
            str(Symbol.parse(e)) if ("/" in e or "-" in e) else _asset_code(e) for e in value
        )
        return tuple(dict.fromkeys(entries))

    @field_validator("opa_url", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _strip_secret(value)

    @field_validator("opa_url")
    @classmethod
    def _opa_url(cls, value: str | None) -> str | None:
        return _http_service_url(value)


class SafetySettings(_Section):
    """Thresholds of the six auto-pause triggers, plus protections (``safety.yaml``)."""

    #: Trigger 1: pause after this many losing trades in a row.
    max_consecutive_losses: int = Field(default=3, ge=1)
    #: Trigger 2: pause when today's realised + unrealised loss reaches this many USD.
    max_daily_loss_usd: Decimal = Field(default=Decimal("10"), gt=0)
    #: True: the daily loss resets at 00:00 UTC. False: it covers a rolling 24 h window.
    daily_loss_resets_at_utc_midnight: bool = True
    #: Trigger 3: pause after this many exchange/API errors within ``api_error_window_seconds``.
    max_api_errors: int = Field(default=7, ge=1)
    api_error_window_seconds: int = Field(default=60, ge=1, le=3600)
    #: Trigger 4: pause when a fill slips more than this percent from the expected price (MEV).
    max_slippage_pct: float = Field(default=2.5, gt=0, le=100)
    #: Trigger 5: pause when the market sentiment score (-1..1) drops below this.
    min_sentiment: float = Field(default=-0.35, ge=-1, le=1)
    #: Trigger 6: pause when PII or a secret is found in outgoing text.
    privacy_pause: bool = True
    protections: ProtectionSettings = ProtectionSettings()
    policy: PolicySettings = PolicySettings()


class AgentToggle(_Section):
    """An agent that gates or tunes decisions and therefore has no vote weight."""

    enabled: bool = True


class WeightedAgent(_Section):
    """An agent whose score is part of the weighted vote; weights are relative."""

    enabled: bool = True
    weight: float = Field(default=0.25, ge=0, le=100)


class AnalyzerTimeframes(_Section):
    """The analyzer's primary timeframe and the higher timeframes it confirms against.

    The higher timeframes are kept as whole multiples of the primary one, so they follow it
    when a run's ``--timeframe`` replaces the primary: x4 and x24 are 4h and 1d from 1h, 8h and
    2d from 2h. Indicator periods are in candles of each timeframe and stay the same. The file
    may give a multiple (``x4``) or a timeframe that is a whole multiple of the primary one
    (``4h``, kept as that multiple); the effective configuration shows the timeframes.
    """

    primary: Timeframe = Timeframe.H1
    #: Multiples of ``primary`` written ``xN`` (``x4``), each at least x2.
    higher: tuple[str, ...] = ("x4", "x24")

    @model_validator(mode="before")
    @classmethod
    def _as_multiples(cls, data: object) -> object:
        if not isinstance(data, dict) or "higher" not in data:
            return data
        raw_primary = data.get("primary", Timeframe.H1)
        try:
            primary = (
                raw_primary if isinstance(raw_primary, Timeframe) else Timeframe.parse(raw_primary)
            )
        except (TypeError, ValueError, AttributeError):
            return data  # the primary field reports its own error
        items = data["higher"]
        if isinstance(items, str | int):
            items = [items]
        if not isinstance(items, list | tuple):
            return data
        multiples: list[object] = []
        refused: list[object] = []
        for item in items:
            multiple = _multiple(item, primary)
            if multiple is None:
                refused.append(item)
            multiples.append(multiple)
        if refused:
            raise RuleViolationsError(
                [
                    RuleViolation(
                        ("higher",),
                        "must be multiples of primary such as x4, or timeframes longer than "
                        f"primary {primary.value} and whole multiples of it",
                        refused,
                    )
                ]
            )
        return {**data, "higher": multiples}

    @model_validator(mode="after")
    def _higher_are_longer(self) -> AnalyzerTimeframes:
        violations: list[RuleViolation] = []
        short = [f"x{k}" for k in self.multiples if k < 2]
        if short:
            violations.append(
                RuleViolation(("higher",), "must all be multiples of at least x2", short)
            )
        if len(set(self.multiples)) != len(self.multiples):
            violations.append(
                RuleViolation(("higher",), "must not repeat a timeframe", list(self.higher))
            )
        if violations:
            raise RuleViolationsError(violations)
        return self

    @field_serializer("higher")
    def _higher_as_timeframes(self, higher: tuple[str, ...]) -> list[str]:
        # Dumped (into a backtest's configuration and the digest behind decision ids) as the
        # timeframes they make: a run's configuration says 8h and 2d, not x4 and x24.
        return [tf.value for tf in self.higher_timeframes]

    @property
    def multiples(self) -> tuple[int, ...]:
        """The multiples of ``primary`` as numbers."""
        return tuple(int(k.removeprefix("x")) for k in self.higher)

    @property
    def higher_timeframes(self) -> tuple[Timeframe, ...]:
        """The higher timeframes the multiples make of ``primary``."""
        return tuple(self.primary.times(k) for k in self.multiples)


def timeframe_overrides(text: str | None, option: str = "--timeframe") -> dict[str, Timeframe]:
    """Settings overrides that make ``text`` the timeframe of a run (none when it is None).

    The analyzer's primary timeframe (and ``trading.timeframe``) become it; the higher ones
    follow as their configured multiples.

    Raises:
        InputError: ``text`` is not a timeframe.
    """
    if text is None:
        return {}
    try:
        timeframe = Timeframe.parse(text)
    except ValueError:
        allowed = ", ".join(t.value for t in Timeframe)
        raise InputError(f"{option}: must be one of {allowed} (got {text!r})") from None
    return {"agents.analyzer.timeframes.primary": timeframe, "trading.timeframe": timeframe}


_DURATION_RE = re.compile(r"^(\d+)([mhd])$")
_DURATION_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _multiple(item: object, primary: Timeframe) -> str | None:
    """``x4``, ``"4"`` or ``4`` as ``x4``; a timeframe such as ``4h`` as its multiple of
    ``primary`` (None when it is not a whole multiple, or not a multiple at all)."""
    if isinstance(item, int) and not isinstance(item, bool):
        return f"x{item}"
    if not isinstance(item, str):
        return None
    text = item.strip().lower()
    digits = text.removeprefix("x")
    if digits.isdigit():
        return f"x{int(digits)}"
    match = _DURATION_RE.match(text)
    if match is None:
        return None
    length = int(match[1]) * _DURATION_UNIT_MS[match[2]]
    if length <= primary.ms or length % primary.ms:
        return None
    return f"x{length // primary.ms}"


class IndicatorPeriods(_Section):
    """Indicator lengths in candles (Bollinger width in standard deviations)."""

    rsi_period: int = Field(default=14, ge=2, le=500)
    macd_fast: int = Field(default=12, ge=2, le=500)
    macd_slow: int = Field(default=26, ge=2, le=500)
    macd_signal: int = Field(default=9, ge=2, le=500)
    bollinger_period: int = Field(default=20, ge=2, le=500)
    bollinger_stddev: float = Field(default=2.0, gt=0, le=10)
    atr_period: int = Field(default=14, ge=2, le=500)
    ema_fast: int = Field(default=20, ge=2, le=1000)
    ema_slow: int = Field(default=50, ge=2, le=1000)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> IndicatorPeriods:
        violations: list[RuleViolation] = []
        if self.macd_fast >= self.macd_slow:
            violations.append(
                RuleViolation(
                    ("macd_fast",), f"must be < macd_slow ({self.macd_slow})", self.macd_fast
                )
            )
        if self.ema_fast >= self.ema_slow:
            violations.append(
                RuleViolation(("ema_fast",), f"must be < ema_slow ({self.ema_slow})", self.ema_fast)
            )
        if violations:
            raise RuleViolationsError(violations)
        return self


class AnalyzerAgent(WeightedAgent):
    """The technical analyzer: indicators over several timeframes."""

    weight: float = Field(default=0.3, ge=0, le=100)
    timeframes: AnalyzerTimeframes = AnalyzerTimeframes()
    indicators: IndicatorPeriods = IndicatorPeriods()


class DecisionHistorySettings(_Section):
    """What the decision history keeps (``config.yaml: decision_history``)."""

    #: Most ad-hoc analyses kept (the oldest are deleted); ``None``: all. A run's decisions
    #: are its record and are always kept. Also set by the runbook's ``memory.yaml``.
    max_entries: int | None = Field(default=None, ge=1, le=10_000_000)


class AgentsSettings(_Section):
    """The seven agents (``agents.yaml``)."""

    #: Bull/bear debate rounds before the orchestrator decides.
    debate_rounds: int = Field(default=2, ge=1, le=10)
    #: Time limit of an agent's outside requests, in ms (the researcher's news requests; the
    #: other agents never wait). ``None``: each client's own default. Also set by the
    #: runbook's ``optimization.yaml: agents.timeout``.
    timeout_ms: int | None = Field(default=None, ge=1, le=600_000)
    researcher: WeightedAgent = WeightedAgent(weight=0.2)
    bull: WeightedAgent = WeightedAgent(weight=0.25)
    bear: WeightedAgent = WeightedAgent(weight=0.25)
    analyzer: AnalyzerAgent = AnalyzerAgent()
    risk: AgentToggle = AgentToggle()
    privacy: AgentToggle = AgentToggle()
    optimizer: AgentToggle = AgentToggle()

    def voting_weights(self) -> dict[str, float]:
        """Weights of the enabled voting agents, by agent name."""
        voters = {
            "researcher": self.researcher,
            "bull": self.bull,
            "bear": self.bear,
            "analyzer": self.analyzer,
        }
        return {name: agent.weight for name, agent in voters.items() if agent.enabled}

    @model_validator(mode="after")
    def _some_vote_counts(self) -> AgentsSettings:
        if sum(self.voting_weights().values()) <= 0:
            raise RuleViolationsError(
                [
                    RuleViolation(
                        ("analyzer", "weight"),
                        "the enabled agents' weights (researcher, bull, bear, analyzer) "
                        "must not all be zero",
                        self.analyzer.weight,
                    )
                ]
            )
        return self


class ArbitrageSettings(_Section):
    """The arbitrage scanner (``config.yaml: arbitrage``); percentages as ``_pct`` names say."""

    #: Paper-execute the opportunities a scan finds (through the order gate); off by default.
    execute: bool = False
    #: Taker fee per exchange, a fraction of notional, used when the exchange's own market data
    #: is not at hand (backtests); a live scan uses each market's fee from the exchange.
    taker_fees: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "binance": Decimal("0.001"),
            "binanceus": Decimal("0.001"),
            "kraken": Decimal("0.0026"),
            "coinbase": Decimal("0.006"),
        }
    )
    #: Cost of moving inventory back between venues: percent of notional, plus USD per trade.
    transfer_cost_pct: Decimal = Field(default=Decimal(0), ge=0, le=10)
    transfer_cost_usd: Decimal = Field(default=Decimal(0), ge=0)
    #: How far from the best price a leg may walk a book.
    slippage_limit_pct: Decimal = Field(default=Decimal("0.5"), gt=0, lt=100)
    #: Least net edge that counts.
    min_profit_pct: Decimal = Field(default=Decimal("0.1"), gt=-100, le=100)
    #: Backtest quotes: bid and ask this far from each candle's close.
    half_spread_bps: Decimal = Field(default=Decimal(1), ge=0, lt=1000)
    #: Backtest sizes: this share of the thinnest leg's traded volume in the minute.
    participation: Decimal = Field(default=Decimal("0.1"), gt=0, le=1)
    #: Size the profit is computed at, USD.
    size_usd: Decimal = Field(default=Decimal(1000), gt=0)
    #: Longest cycle searched within one venue (3: triangular).
    max_cycle_length: int = Field(default=4, ge=3, le=4)

    @field_validator("taker_fees")
    @classmethod
    def _fees(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, rate in value.items():
            if not Decimal(0) <= rate < Decimal("0.1"):
                raise ValueError(f"{name}: a taker fee must be >= 0 and < 0.1 (got {rate})")
        return {name.strip().lower(): rate for name, rate in value.items()}


class AllocationSettings(_Section):
    """The allocation step (``config.yaml: allocation``): how the BUYs of one candle close share
    the profile's exposure (see ``docs/PORTFOLIO.md``). Off by default: each BUY keeps the risk
    agent's size, as before."""

    #: Run the allocation step between the per-symbol decisions and their orders.
    enabled: bool = False
    #: Candles of returns (up to the decision's close) the covariance is estimated from.
    window: int = Field(default=168, ge=10, le=10_000)
    #: ``ledoit_wolf``: the covariance shrunk towards a scaled identity (Ledoit & Wolf 2004);
    #: ``none``: the sample covariance.
    shrinkage: Literal["ledoit_wolf", "none"] = "ledoit_wolf"
    #: lambda of the mean-variance utility ``mu'w - lambda/2 w'Sigma w`` (w: fraction of equity).
    risk_aversion: float = Field(default=2.5, gt=0, le=1_000_000)
    #: Expected return of a candidate per candle = this x score x confidence x its volatility.
    information_coefficient: float = Field(default=0.05, gt=0, le=1)
    #: A weight worth less than this (USD) is no order: the symbol is dropped and the others
    #: solved again (the bundled markets refuse orders under 5 USDT of notional).
    min_order_usd: Decimal = Field(default=Decimal(5), ge=0)


class QuantumSettings(_Section):
    """The quantum asset-selection solver beside the classical one (``config.yaml: quantum``).

    It runs off the decision's critical path and never changes an order (docs/PORTFOLIO.md).
    """

    #: Solve each allocation's selection QUBO with QAOA / SamplingVQE on Aer (QUANTUM_ENABLED).
    enabled: bool = False
    #: Shots per circuit evaluation on the Aer sampler (QUANTUM_SHOTS).
    shots: int = Field(default=1024, ge=16, le=1_000_000)
    #: Wall time one solve may take; a solve still running then is abandoned and logged.
    time_budget_s: float = Field(default=2.0, gt=0, le=600)
    #: Which variational solvers run in a run (each in turn, within the time budget).
    methods: tuple[Literal["qaoa", "vqe"], ...] = ("qaoa",)
    #: A quantum answer counts only when its objective is within this relative gap of the
    #: exact optimum's.
    tolerance: float = Field(default=1e-9, ge=0, le=1)
    #: QAOA layers (p) and VQE ansatz repetitions; the seed of the sampler and the optimizer's
    #: starting point.
    reps: int = Field(default=2, ge=1, le=10)
    seed: int = Field(default=7, ge=0, le=2**31 - 1)
    #: COBYLA iterations per solve.
    max_iterations: int = Field(default=100, ge=1, le=100_000)
    #: The variational solvers minimise the mean of this best share of sampled energies
    #: (CVaR; 1.0: the plain expectation).
    cvar_alpha: float = Field(default=0.25, gt=0, le=1)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one method (qaoa, vqe)")
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a method")
        return value


class ProfileSettings(_Section):
    """A risk profile (``profiles/NAME.yaml``). The defaults are the conservative profile."""

    #: Largest single position, USD. The runbook's MAX_POSITION_SIZE overrides it.
    max_position_size: Decimal = Field(default=Decimal("10"), gt=0)
    max_open_positions: int = Field(default=2, ge=1, le=100)
    #: Largest total value of all open positions, USD.
    max_exposure: Decimal = Field(default=Decimal("20"), gt=0)
    #: Largest single position as a percent of equity (the smaller of the two limits applies).
    max_position_pct_of_equity: float = Field(default=5.0, gt=0, le=100)
    #: Equity risked per trade (entry to stop), as a fraction: 0.005 = 0.5 %.
    risk_per_trade: float = Field(default=0.005, gt=0, le=0.1)
    #: Stop distance and take-profit distance in multiples of ATR.
    stop_atr_multiple: float = Field(default=2.0, gt=0, le=20)
    take_profit_atr_multiple: float = Field(default=3.0, gt=0, le=50)
    #: The orchestrator buys at a combined score >= buy_threshold, sells at <= sell_threshold.
    buy_threshold: float = Field(default=0.5, gt=0, le=1)
    sell_threshold: float = Field(default=-0.5, ge=-1, lt=0)
    #: Decisions below this confidence (0..1) become HOLD.
    min_confidence: float = Field(default=0.7, ge=0, le=1)
    allowed_symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    #: Cash the paper venue starts with, USD.
    starting_capital_usd: Decimal = Field(default=Decimal("1000"), gt=0)

    @field_validator("allowed_symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _normalise_symbols(value)

    @model_validator(mode="after")
    def _position_fits_exposure(self) -> ProfileSettings:
        if self.max_position_size > self.max_exposure:
            raise RuleViolationsError(
                [
                    RuleViolation(
                        ("max_position_size",),
                        f"must be <= max_exposure ({self.max_exposure})",
                        self.max_position_size,
                    )
                ]
            )
        return self


_TELEGRAM_TOKEN_RE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")


def _comma_list(value: object) -> object:
    """A list from YAML, or a comma-separated string from the environment."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class LlmSettings(_Section):
    """Optional LLM reasoning (``config.yaml: research.llm``; LLM_PROVIDER, LLM_MODEL, ...).

    It rewrites the record's bull and bear arguments and summary from the record's evidence
    after the decision is recorded; the decision's numbers never depend on it.
    """

    #: ``openai``, ``anthropic`` or ``ollama``; None: no LLM is called (env LLM_PROVIDER).
    provider: Literal["openai", "anthropic", "ollama"] | None = None
    #: Model name (env LLM_MODEL); required when a provider is set.
    model: str | None = None
    #: Spending limit per UTC day, USD (env LLM_DAILY_BUDGET_USD). 0 stops every call.
    daily_budget_usd: Decimal = Field(default=Decimal("1"), ge=0)
    #: Tokens per UTC day, whatever they cost (a local model is free but not unlimited).
    daily_token_budget: int = Field(default=200_000, ge=0)
    #: USD per million tokens, input and output, per model. A provider's model that is not
    #: listed is refused (its cost would be unknown); a local Ollama model may be listed at 0.
    prices: dict[str, tuple[Decimal, Decimal]] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
            "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
            "claude-haiku-4-5": (Decimal("1.00"), Decimal("5.00")),
            "claude-sonnet-4-5": (Decimal("3.00"), Decimal("15.00")),
        }
    )
    #: Per-call time limit, seconds.
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    #: Longest answer asked for, tokens.
    max_output_tokens: int = Field(default=600, ge=50, le=8000)
    #: The LLM's say in the numeric decision, 0 to 1 (0: none). Above 0, a live run's later
    #: decisions read the stance of its accepted answers about earlier ones with this
    #: confidence; a decision never waits for an answer. A backtest asked with --llm reads
    #: them in market time (each group's answers before the next group); replays never vote.
    vote_weight: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _model_and_price(self) -> LlmSettings:
        if self.provider is None:
            if self.vote_weight > 0:
                raise RuleViolationsError(
                    [RuleViolation(("vote_weight",), "must be 0 when LLM_PROVIDER is not set")]
                )
            return self
        if not self.model:
            raise RuleViolationsError(
                [RuleViolation(("model",), "is required when LLM_PROVIDER is set")]
            )
        if self.model not in self.prices:
            raise RuleViolationsError(
                [
                    RuleViolation(
                        ("prices",),
                        f"must list the model {self.model!r} (USD per million input and "
                        "output tokens) so its cost can be counted",
                    )
                ]
            )
        return self


class ResearchSettings(_Section):
    """Research feeds for the researcher (``config.yaml: research``).

    Each feed is used only when configured: RSS with ``rss_feeds``, CryptoPanic with
    CRYPTOPANIC_TOKEN, Reddit with ``reddit_subreddits``, CoinGecko, the Fear & Greed index and
    mempool.space's on-chain data with their ``*_enabled`` switch, NewsAPI with NEWSAPI_KEY.
    """

    #: RSS/Atom feed URLs (env RSS_FEEDS, comma-separated).
    rss_feeds: tuple[str, ...] = ()
    #: Subreddits, e.g. ``Bitcoin`` or ``CryptoCurrency`` (env REDDIT_SUBREDDITS).
    reddit_subreddits: tuple[str, ...] = ()
    #: Read Reddit comments as well as posts.
    reddit_comments: bool = True
    coingecko_enabled: bool = False
    fear_greed_enabled: bool = False
    #: Bitcoin on-chain readings from mempool.space (the difficulty adjustment under way).
    onchain_enabled: bool = False
    #: Items older than this at a decision are not read.
    lookback_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    #: An item's weight halves every ``half_life_hours``.
    half_life_hours: float = Field(default=6.0, gt=0, le=24 * 30)
    #: A feed whose last successful fetch is older than this at a decision counts as missing.
    max_age_minutes: float = Field(default=120.0, gt=0)
    #: Least time between two fetches of one feed (rate limit), seconds.
    min_refresh_seconds: float = Field(default=300.0, ge=0)
    #: Per-request time limit, seconds.
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: How much each feed kind's items count in the aggregate.
    source_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "rss": 1.0,
            "newsapi": 1.0,
            "cryptopanic": 0.8,
            "reddit": 0.5,
            "coingecko": 0.7,
            "fear_greed": 0.7,
            "mempool": 0.7,
        }
    )
    llm: LlmSettings = LlmSettings()

    _lists = field_validator("rss_feeds", "reddit_subreddits", mode="before")(_comma_list)

    @field_validator("rss_feeds")
    @classmethod
    def _feed_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} must be an http:// or https:// URL with a host")
        return value

    @field_validator("source_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not weight >= 0:
                raise ValueError(f"{name}: must be >= 0 (got {weight})")
        return value


def _strip_secret(value: object) -> object:
    """Trim pasted whitespace; an empty secret means "not configured"."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_secret_file(path: Path, key: str) -> str:
    """The secret in ``path``, refused (naming the file and the rule) unless it is a regular
    file that only its owner can read or write. The secret itself is never in a message."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise RuleViolationsError(
            [RuleViolation((key,), f"cannot read {path}: {error.strerror}")]
        ) from None
    if not stat.S_ISREG(mode):
        raise RuleViolationsError([RuleViolation((key,), f"{path} is not a regular file")])
    if mode & 0o077:
        raise RuleViolationsError(
            [
                RuleViolation(
                    (key,),
                    f"{path} is readable or writable by group or others (mode "
                    f"{stat.S_IMODE(mode):04o}); it must be 0600 (chmod 600 {path})",
                )
            ]
        )
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise RuleViolationsError([RuleViolation((key,), f"{path} is empty")])
    return text


class Credentials(_Section):
    """API keys. Only read from the environment, ``.env`` or explicit overrides."""

    model_config = ConfigDict(hide_input_in_errors=True)

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    newsapi_key: SecretStr | None = None
    #: A file holding the API secret (instead of API_SECRET); refused unless only its owner
    #: can read it (mode 0600 or 0400).
    api_secret_file: Path | None = None

    #: The Telegram bot's token from @BotFather; set, ``sigmax run`` starts the bot.
    telegram_bot_token: SecretStr | None = None
    cryptopanic_token: SecretStr | None = None

    _strip = field_validator("*", mode="before")(_strip_secret)

    @model_validator(mode="before")
    @classmethod
    def _secret_from_file(cls, data: object) -> object:
        if not isinstance(data, dict) or not data.get("api_secret_file"):
            return data
        path = Path(str(data["api_secret_file"])).expanduser()
        if data.get("api_secret"):
            raise RuleViolationsError(
                [RuleViolation(("api_secret_file",), "set API_SECRET or API_SECRET_FILE, not both")]
            )
        return {**data, "api_secret": read_secret_file(path, "api_secret_file")}

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token(cls, value: SecretStr | None) -> SecretStr | None:
        # The shape of @BotFather's tokens (bot id, colon, secret); the value is never echoed.
        if value is not None and not _TELEGRAM_TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("must be a bot token from @BotFather, such as 123456789:AA...")
        return value


_POSTGRES_SCHEME_RE = re.compile(r"^(postgres|postgresql)://", re.IGNORECASE)


def normalise_postgres_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://`` (psycopg 3)."""
    return _POSTGRES_SCHEME_RE.sub("postgresql+psycopg://", url.strip(), count=1)


def _parse_sqlalchemy_url(text: str) -> URL:
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        # The parser's message repeats the URL, which may hold a password: do not pass it on.
        raise ValueError(
            "must be a SQLAlchemy URL such as postgresql://user:password@host:5432/sigmax"
        ) from None


def _check_postgres(url: URL) -> None:
    if url.get_backend_name() != "postgresql":
        raise ValueError("must be a postgresql:// URL")
    if not url.database:
        raise ValueError("must name a database, e.g. postgresql://user@host:5432/sigmax")


def _is_nats_server(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number
        return False
    return parts.scheme in ("nats", "tls", "ws", "wss") and bool(parts.hostname) and port != 0


class Services(_Section):
    """Endpoints of external services. URLs can hold passwords, so most are secret."""

    model_config = ConfigDict(hide_input_in_errors=True)

    #: Local LLM server for the optional reasoning backend, e.g. http://127.0.0.1:11434.
    ollama_url: str | None = None
    #: NewsAPI.org, the news sentiment source (used only when NEWSAPI_KEY is set).
    newsapi_url: str = "https://newsapi.org"
    #: CryptoPanic's API (used only when CRYPTOPANIC_TOKEN is set).
    cryptopanic_url: str = "https://cryptopanic.com"
    #: Reddit's JSON listings (used when research.reddit_subreddits is set).
    reddit_url: str = "https://www.reddit.com"
    #: CoinGecko's public API.
    coingecko_url: str = "https://api.coingecko.com"
    #: The Fear & Greed index (alternative.me).
    fear_greed_url: str = "https://api.alternative.me"
    #: mempool.space's REST API for Bitcoin on-chain data (used when research.onchain_enabled).
    mempool_url: str = "https://mempool.space"
    #: OpenAI's API (or a compatible server) for the LLM reasoning.
    openai_url: str = "https://api.openai.com/v1"
    #: Anthropic's API for the LLM reasoning.
    anthropic_url: str = "https://api.anthropic.com"
    #: PostgreSQL server; used for storage when set and DATABASE_URL is not.
    postgres_url: SecretStr | None = None
    #: Storage database as a SQLAlchemy URL (sqlite:///... or postgresql://...); wins over
    #: POSTGRES_URL. When neither is set SIGMAX uses SQLite at SIGMAX_HOME/sigmax.db.
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    #: NATS server for the event bus, e.g. nats://user:password@127.0.0.1:4222 (several may be
    #: separated by commas). Set: the bus is NATS JetStream; not set: in process.
    nats_url: SecretStr | None = None

    _strip = field_validator("*", mode="before")(_strip_secret)

    @field_validator(
        "ollama_url",
        "newsapi_url",
        "cryptopanic_url",
        "reddit_url",
        "coingecko_url",
        "fear_greed_url",
        "mempool_url",
        "openai_url",
        "anthropic_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.rstrip("/")

    @field_validator("postgres_url")
    @classmethod
    def _postgres(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        normalised = normalise_postgres_url(value.get_secret_value())
        _check_postgres(_parse_sqlalchemy_url(normalised))
        return SecretStr(normalised)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        normalised = normalise_postgres_url(value.get_secret_value())
        url = _parse_sqlalchemy_url(normalised)
        backend = url.get_backend_name()
        if backend == "postgresql":
            _check_postgres(url)
        elif backend != "sqlite":
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return SecretStr(normalised)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("must be a redis:// or rediss:// URL with a host")
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for server in value.get_secret_value().split(","):
            if not _is_nats_server(server.strip()):
                raise ValueError(
                    "must be a nats://, tls://, ws:// or wss:// URL with a host "
                    "(several separated by commas)"
                )
        return value


class Settings(BaseSettings):
    """The whole SIGMAX configuration. Build it with :func:`sigmax.config.load_settings`."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: Working directory for logs/, the SQLite database sigmax.db and backups/.
    home: Path = Field(default_factory=Path.cwd)
    #: Folder the YAML files were read from; None when built from defaults only.
    config_dir: Path | None = None
    #: Name of the risk profile (a file ``profiles/NAME.yaml``).
    profile_name: str = DEFAULT_PROFILE
    # Field order matters: the cross-section validators below see the sections defined above
    # them (pydantic validates fields in order and passes the valid ones in ``info.data``).
    trading: TradingSettings = TradingSettings()
    api: ApiSettings = ApiSettings()
    telegram: TelegramSettings = TelegramSettings()
    logging: LoggingSettings = LoggingSettings()
    decision_history: DecisionHistorySettings = DecisionHistorySettings()
    arbitrage: ArbitrageSettings = ArbitrageSettings()
    allocation: AllocationSettings = AllocationSettings()
    quantum: QuantumSettings = QuantumSettings()
    safety: SafetySettings = SafetySettings()
    agents: AgentsSettings = AgentsSettings()
    profile: ProfileSettings = ProfileSettings()
    credentials: Credentials = Credentials()
    services: Services = Services()
    research: ResearchSettings = ResearchSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only explicit values: the layering (env, .env, YAML) is done by ``load_settings``,
        which has to know where every value came from to name it in error messages."""
        return (init_settings,)

    @field_validator("home", "config_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        resolved = value.expanduser().resolve()
        if resolved.exists() and not resolved.is_dir():
            raise ValueError("must be a directory")
        return resolved

    @field_validator("profile_name", mode="before")
    @classmethod
    def _profile_name(cls, value: object) -> object:
        return normalise_profile_name(value) if isinstance(value, str) else value

    @field_validator("agents")
    @classmethod
    def _live_needs_risk_agent(cls, agents: AgentsSettings, info: ValidationInfo) -> AgentsSettings:
        trading = info.data.get("trading")
        if isinstance(trading, TradingSettings) and trading.mode == "live":
            violations = [
                RuleViolation((name, "enabled"), "must be true when TRADING_MODE=live", False)
                for name in ("risk", "privacy")
                if not getattr(agents, name).enabled
            ]
            if violations:
                raise RuleViolationsError(violations)
        return agents

    @field_validator("profile")
    @classmethod
    def _symbols_allowed(cls, profile: ProfileSettings, info: ValidationInfo) -> ProfileSettings:
        trading = info.data.get("trading")
        if isinstance(trading, TradingSettings):
            outside = [s for s in trading.symbols if s not in profile.allowed_symbols]
            if outside:
                raise RuleViolationsError(
                    [
                        RuleViolation(
                            ("trading", "symbols"),
                            "must all be in the profile's allowed_symbols "
                            f"({', '.join(profile.allowed_symbols)})",
                            outside,
                            absolute=True,
                        )
                    ]
                )
        return profile

    @field_validator("credentials")
    @classmethod
    def _telegram_needs_chats(cls, credentials: Credentials, info: ValidationInfo) -> Credentials:
        telegram = info.data.get("telegram")
        if (
            credentials.telegram_bot_token is not None
            and isinstance(telegram, TelegramSettings)
            and not telegram.allowed_chat_ids
        ):
            # Fail closed: a bot nobody may command would still announce to nobody.
            raise RuleViolationsError(
                [
                    RuleViolation(
                        ("telegram", "allowed_chat_ids"),
                        "must name at least one chat id when TELEGRAM_BOT_TOKEN is set",
                        absolute=True,
                    )
                ]
            )
        return credentials

    @field_validator("credentials")
    @classmethod
    def _live_needs_keys(cls, credentials: Credentials, info: ValidationInfo) -> Credentials:
        trading = info.data.get("trading")
        if isinstance(trading, TradingSettings) and trading.mode == "live":
            missing = [
                RuleViolation((name,), "is required when TRADING_MODE=live")
                for name in ("api_key", "api_secret")
                if getattr(credentials, name) is None
            ]
            if missing:
                raise RuleViolationsError(missing)
        return credentials

    # -- derived values -------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        """True when real orders go to a real exchange account."""
        return self.trading.mode == "live"

    @property
    def logs_dir(self) -> Path:
        return self.home / LOGS_DIR_NAME

    @property
    def log_file(self) -> Path:
        return self.logs_dir / LOG_FILE_NAME

    @property
    def backups_dir(self) -> Path:
        return self.home / BACKUPS_DIR_NAME

    @property
    def sqlite_path(self) -> Path:
        """Where the SQLite database lives when no server database is configured."""
        return self.home / DATABASE_FILE_NAME

    def effective_database_url(self) -> str:
        """The SQLAlchemy URL storage connects to, password included: never log it.

        DATABASE_URL wins, then POSTGRES_URL, then SQLite at ``SIGMAX_HOME/sigmax.db``.
        """
        for secret in (self.services.database_url, self.services.postgres_url):
            if secret is not None:
                return secret.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"

    def database_summary(self) -> str:
        """The storage database for humans: engine, host and name, never the password."""
        url = make_url(self.effective_database_url())
        if url.get_backend_name() == "sqlite":
            return f"sqlite {url.database or ':memory:'}"
        host = url.host or "local socket"
        port = f":{url.port}" if url.port else ""
        user = f" (user {url.username})" if url.username else ""
        return f"postgresql {host}{port}/{url.database}{user}"

    def secret_values(self) -> list[str]:
        """Every configured secret in plain text, longest first, for log masking.

        Holds the API keys and secrets, the whole service URLs and every secret inside them
        (password, token, secret query and fragment values; as written and percent-decoded).
        """
        found: set[str] = set()
        for secret in self.credentials.model_dump().values():
            if isinstance(secret, SecretStr):
                found.add(secret.get_secret_value())
        urls = [self.services.postgres_url, self.services.database_url, self.services.redis_url]
        for url_secret in urls:
            if url_secret is not None:
                plain = url_secret.get_secret_value()
                found.add(plain)
                found.update(url_secrets(plain))
        if self.services.nats_url is not None:
            plain = self.services.nats_url.get_secret_value()
            found.add(plain)
            for server in plain.split(","):
                # nats://TOKEN@host: a user without a password is a token (url_secrets knows).
                found.update(url_secrets(server.strip()))
        service_urls = (
            self.services.ollama_url,
            self.services.newsapi_url,
            self.services.cryptopanic_url,
            self.services.reddit_url,
            self.services.coingecko_url,
            self.services.fear_greed_url,
            self.services.mempool_url,
            self.services.openai_url,
            self.services.anthropic_url,
            self.safety.policy.opa_url,
            self.telegram.api_url,
        )
        for service_url in service_urls:
            if service_url is not None:
                found.update(url_secrets(service_url))
        return sorted((s for s in found if s), key=lambda s: (-len(s), s))
