"""The paper account of a SIGMAX_HOME, for the operator: portfolio, trades and run status.

One paper account lives in one SIGMAX_HOME, and it is the account of the newest run there
(:class:`~sigmax.storage.models.RunRow` by ``started_at_ms``). Everything shown comes from what
the engine committed: the run's resume point (``engine_state`` key ``run:<id>``: ledger, resting
orders, last processed candle and mark per symbol) and the order, fill and decision rows. So
the figures are those of the last committed step, the point a resumed run continues from.

Each command has one service function here returning plain typed data; the CLI renders it and
the REST API will too. ``as_json()`` gives the JSON form, in which every exact ``Decimal``
(money, quantities, prices) is a string such as ``"991.38543201"``: a JSON number would be read
as a binary float by most clients and lose the ledger's exactness. Manual orders, the one
thing that writes, are :mod:`sigmax.engine.manual_order`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmax.config import Settings, load_settings
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.domain.ledger import Ledger, utc_day
from sigmax.domain.orders import Order, OrderSide, OrderType
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.lease import LeaseInfo, read_lease
from sigmax.engine.resume import ResumePointError
from sigmax.engine.run_store import read_run_state
from sigmax.errors import SigmaxError
from sigmax.execution.fill_model import FeeSchedule
from sigmax.execution.instruments import bundled_market_specs
from sigmax.execution.paper import PaperVenue
from sigmax.storage.models import (
    DecisionRow,
    FillRow,
    OrderRow,
    RunMode,
    RunRow,
    RunStatus,
)
from sigmax.storage.repositories import RunRepository

if TYPE_CHECKING:
    # Only named in signatures: a backtest imports this module and never opens a database.
    from sigmax.storage.database import Database

_ZERO: Final = Decimal(0)
#: The status shown for a run stored as running whose engine stopped renewing its lease.
STALE: Final = "stale"
#: Money here is exact, as in the ledger: an operation that would round raises instead.
EXACT: Final = Context(prec=200, traps=[InvalidOperation, Inexact])


class AccountStateError(SigmaxError):
    """The run's stored record is not what this version of SIGMAX wrote (names the field)."""


# --- plain data the commands return ---------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """An exact Decimal as JSON text, never in exponent notation: ``0.00000000``, ``20500.01``."""
    return format(value, "f")


def iso_or_none(ms: int | None) -> str | None:
    """ISO-8601 UTC of ``ms``, or None."""
    return None if ms is None else ms_to_iso(ms)


@dataclass(frozen=True, slots=True)
class PositionLine:
    """An open spot position valued at the last mark."""

    symbol: str
    qty: Decimal
    avg_price: Decimal
    mark: Decimal
    unrealized_pnl: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "qty": decimal_text(self.qty),
            "avg_price": decimal_text(self.avg_price),
            "mark": decimal_text(self.mark),
            "unrealized_pnl": decimal_text(self.unrealized_pnl),
        }


@dataclass(frozen=True, slots=True)
class Portfolio:
    """The account after the last committed step of the run (``run_id`` None: no run yet, the
    profile's starting capital). ``as_of_ms`` is the close of the last processed candle (None
    before any); ``daily_pnl`` is the change in equity since the start of that UTC day."""

    run_id: str | None
    profile: str
    as_of_ms: int | None
    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    daily_pnl: Decimal
    positions: tuple[PositionLine, ...]

    @property
    def day(self) -> date | None:
        """The UTC day ``daily_pnl`` covers."""
        return None if self.as_of_ms is None else utc_day(self.as_of_ms)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "profile": self.profile,
            "as_of": iso_or_none(self.as_of_ms),
            "cash": decimal_text(self.cash),
            "equity": decimal_text(self.equity),
            "realized_pnl": decimal_text(self.realized_pnl),
            "unrealized_pnl": decimal_text(self.unrealized_pnl),
            "fees": decimal_text(self.fees),
            "daily_pnl": decimal_text(self.daily_pnl),
            "daily_pnl_day": None if self.day is None else self.day.isoformat(),
            "positions": [position.as_json() for position in self.positions],
        }


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill with its order and the decision behind it (``decision_id`` None: manual)."""

    decision_id: str | None
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    timestamp_ms: int
    order_type: OrderType
    client_order_id: str
    decision_data_until_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "qty": decimal_text(self.qty),
            "price": decimal_text(self.price),
            "fee": decimal_text(self.fee),
            "realized_pnl": decimal_text(self.realized_pnl),
            "timestamp": ms_to_iso(self.timestamp_ms),
            "order_type": self.order_type.value,
            "client_order_id": self.client_order_id,
            "decision_data_until": iso_or_none(self.decision_data_until_ms),
        }


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order resting on the paper venue, waiting for the next candle."""

    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None
    created_ms: int
    decision_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "type": self.type.value,
            "qty": decimal_text(self.qty),
            "price": None if self.price is None else decimal_text(self.price),
            "created": ms_to_iso(self.created_ms),
            "decision_id": self.decision_id,
        }


@dataclass(frozen=True, slots=True)
class RunStatusReport:
    """Where the newest run stands. ``last_candles`` maps each symbol to the open time of its
    last fully processed candle; ``as_of_ms`` is the latest of their closes (the replay clock)."""

    run_id: str
    mode: str
    feed: str
    status: RunStatus
    profile: str
    symbols: tuple[str, ...]
    timeframe: str
    started_at_ms: int
    ended_at_ms: int | None
    last_candles: dict[str, int]
    as_of_ms: int | None
    decisions: int
    orders: int
    fills: int
    open_orders: tuple[OpenOrder, ...]
    cash: Decimal
    equity: Decimal
    #: The engine lease of the home as read with the report (None: no process holds it).
    engine: LeaseInfo | None = None
    #: Whether ``engine`` was alive when read (renewed recently, its process there).
    engine_alive: bool = False

    @property
    def state(self) -> str:
        """The status to show: ``stale`` for a run stored as running whose engine is dead
        (no lease, or a lease whose heartbeat stopped), else the stored status."""
        if self.status is RunStatus.RUNNING and not self.engine_alive:
            return STALE
        return self.status.value

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "feed": self.feed,
            "status": self.state,
            "profile": self.profile,
            "symbols": list(self.symbols),
            "timeframe": self.timeframe,
            "started_at": ms_to_iso(self.started_at_ms),
            "ended_at": iso_or_none(self.ended_at_ms),
            "last_candle": {symbol: ms_to_iso(ms) for symbol, ms in self.last_candles.items()},
            "as_of": iso_or_none(self.as_of_ms),
            "decisions": self.decisions,
            "orders": self.orders,
            "fills": self.fills,
            "open_orders": [order.as_json() for order in self.open_orders],
            "cash": decimal_text(self.cash),
            "equity": decimal_text(self.equity),
            "engine": None
            if self.engine is None
            else {**self.engine.as_json(wall_clock_ms()), "alive": self.engine_alive},
        }


# --- the home and its newest run --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountHome:
    """An open SIGMAX_HOME: its settings and database."""

    settings: Settings
    db: Database


@contextmanager
def open_account_home(home: Path | None = None) -> Iterator[AccountHome]:
    """Load the configuration of ``home`` (default: SIGMAX_HOME) and open its database,
    checked (see :func:`~sigmax.storage.check.open_checked`): a damaged store is refused
    rather than shown as if it were sound."""
    # Imported here: the database layer (and Alembic) is only needed when a home is opened.
    from sigmax.storage.check import open_checked

    settings = load_settings(home=home)
    # An empty store is a home without a run yet here: only ``sigmax run`` refuses it.
    db = open_checked(settings.effective_database_url(), settings.home, new_account=True)
    try:
        yield AccountHome(settings, db)
    finally:
        db.dispose()


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's row, copied out of the session that read it (rows expire when it closes)."""

    id: str
    mode: RunMode
    profile: str
    status: RunStatus
    started_at_ms: int
    ended_at_ms: int | None
    config: Mapping[str, Any]

    @classmethod
    def of(cls, row: RunRow) -> RunInfo:
        return cls(
            id=row.id,
            mode=row.mode,
            profile=row.profile,
            status=row.status,
            started_at_ms=row.started_at_ms,
            ended_at_ms=row.ended_at_ms,
            config=dict(row.config),
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The newest run and its resume point (None until its first commit)."""

    info: RunInfo
    state: Mapping[str, Any] | None

    @property
    def config(self) -> Mapping[str, Any]:
        return self.info.config

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(str(s) for s in self._config_field("symbols", list))

    @property
    def timeframe(self) -> Timeframe:
        text = self._config_field("timeframe", str)
        try:
            return Timeframe.parse(text)
        except ValueError as error:
            raise AccountStateError(f"run {self.info.id} config.timeframe: {error}") from None

    @property
    def cursor(self) -> dict[str, int]:
        raw = self._state_field("cursor", dict)
        return {
            str(symbol): _state_int(ms, f"cursor.{symbol}", self.info.id)
            for symbol, ms in raw.items()
        }

    @property
    def marks(self) -> dict[str, Decimal]:
        raw = self._state_field("marks", dict)
        return {
            str(symbol): _state_decimal(text, f"marks.{symbol}", self.info.id)
            for symbol, text in raw.items()
        }

    def ledger(self) -> Ledger:
        if self.state is None:
            return Ledger(self._starting_capital())
        return Ledger.restore(self._state_field("ledger", dict))

    def venue(self) -> PaperVenue:
        """The run's paper venue with its resting orders (fees as the run charges them)."""
        specs = bundled_market_specs()
        unknown = [symbol for symbol in self.symbols if symbol not in specs]
        if unknown:
            raise AccountStateError(
                f"run {self.info.id} trades {', '.join(unknown)}, for which no trading rules "
                "are known"
            )
        ledger = self.ledger()
        venue = PaperVenue(
            {symbol: specs[symbol] for symbol in self.symbols}, self.fees(), cash=ledger.cash
        )
        if self.state is not None:
            # A venue snapshot from before the venue kept an account: the ledger's cash and
            # positions are what its fills made.
            balances = {venue.quote: ledger.cash}
            for symbol, position in ledger.open_positions().items():
                balances[symbol.split("/")[0]] = position.qty
            venue.restore(self._state_field("venue", dict), balances)
        return venue

    def fees(self) -> FeeSchedule:
        rates = self._config_field("fees", list)
        if len(rates) != 2:
            raise AccountStateError(
                f"run {self.info.id} config.fees: expected [maker, taker] (got {rates!r})"
            )
        maker, taker = rates
        return FeeSchedule(
            maker=_state_decimal(maker, "config.fees[0]", self.info.id),
            taker=_state_decimal(taker, "config.fees[1]", self.info.id),
        )

    def last_close_ms(self, symbol: str) -> int | None:
        """The close of the last processed candle of ``symbol``: the run's clock for it."""
        opened = self.cursor.get(symbol)
        return None if opened is None else opened + self.timeframe.ms

    def as_of_ms(self) -> int | None:
        closes = [ms + self.timeframe.ms for ms in self.cursor.values()]
        return max(closes) if closes else None

    def _starting_capital(self) -> Decimal:
        return _state_decimal(
            self._config_field("starting_capital", str), "config.starting_capital", self.info.id
        )

    def _config_field(self, key: str, kind: type[Any]) -> Any:
        value = self.config.get(key)
        if not isinstance(value, kind):
            raise AccountStateError(
                f"run {self.info.id} config.{key}: expected a {kind.__name__} (got {value!r})"
            )
        return value

    def _state_field(self, key: str, kind: type[Any]) -> Any:
        if self.state is None:
            return kind()
        value = self.state.get(key)
        if not isinstance(value, kind):
            raise AccountStateError(
                f"resume point of run {self.info.id}: {key} must be a {kind.__name__} "
                f"(got {type(value).__name__})"
            )
        return value


def _state_int(value: object, where: str, run_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AccountStateError(f"resume point of run {run_id}: {where} must be an integer")
    return value


def _state_decimal(value: object, where: str, run_id: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not isinstance(value, str) or not number.is_finite():
        raise AccountStateError(f"run {run_id}: {where} must be a decimal string (got {value!r})")
    return number


def newest_run(session: Session, *, for_update: bool = False) -> RunRecord | None:
    """The most recently started run of the home and its resume point, or None."""
    row = RunRepository(session).latest()
    if row is None:
        return None
    # ``for_update`` locks the resume point so two manual orders queued at once cannot
    # overwrite each other.
    try:
        state = read_run_state(session, row.id, for_update=for_update)
    except ResumePointError as error:
        raise AccountStateError(str(error)) from None
    return RunRecord(RunInfo.of(row), state)


def no_run_message(settings: Settings) -> str:
    """What the read commands say when the home holds no run yet."""
    return f"No paper run in SIGMAX_HOME ({settings.home}) yet; start one with 'sigmax run'."


# --- sigmax portfolio -------------------------------------------------------------------------


def read_portfolio(home: AccountHome) -> Portfolio:
    """Cash, equity, PnL and open positions after the last committed step of the newest run.

    With no run yet: an empty account at the starting capital of the configured profile
    (``run_id`` None).
    """
    with home.db.session() as session:
        run = newest_run(session)
    if run is None:
        capital = home.settings.profile.starting_capital_usd
        return Portfolio(
            None, home.settings.profile_name, None, capital, capital, _ZERO, _ZERO, _ZERO, _ZERO, ()
        )
    ledger = run.ledger()
    marks = run.marks
    as_of = run.as_of_ms()
    positions = []
    for symbol, position in sorted(ledger.open_positions().items()):
        mark = marks.get(symbol)
        if mark is None:
            raise AccountStateError(
                f"resume point of run {run.info.id}: no mark for {symbol}, which is held"
            )
        with localcontext(EXACT):
            unrealized = position.qty * mark - position.cost_basis
        positions.append(PositionLine(symbol, position.qty, position.avg_price, mark, unrealized))
    return Portfolio(
        run_id=run.info.id,
        profile=run.info.profile,
        as_of_ms=as_of,
        cash=ledger.cash,
        equity=ledger.equity(marks),
        realized_pnl=ledger.realized_pnl,
        unrealized_pnl=ledger.unrealized_pnl(marks),
        fees=ledger.fees_total,
        daily_pnl=_ZERO if as_of is None else ledger.daily_pnl(utc_day(as_of), marks),
        positions=tuple(positions),
    )


# --- sigmax trades ----------------------------------------------------------------------------


def read_trades(
    home: AccountHome, *, symbol: str | None = None, limit: int | None = None
) -> list[Trade]:
    """Fills of the account, oldest first: all of them, or the newest ``limit`` (of ``symbol``).

    The account's fills are those in the home's database: one paper account per home.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 (got {limit})")
    query = (
        select(FillRow, OrderRow.type, OrderRow.client_order_id, DecisionRow.data_until_ms)
        .join(OrderRow, FillRow.order_id == OrderRow.id)
        .outerjoin(DecisionRow, DecisionRow.id == OrderRow.decision_id)
        .order_by(FillRow.filled_at_ms.desc(), FillRow.id.desc())
    )
    if symbol is not None:
        query = query.where(FillRow.symbol == symbol)
    if limit is not None:
        query = query.limit(limit)
    with home.db.session() as session:
        # Rows expire when the read session closes: copy them out inside it.
        trades = [
            Trade(
                decision_id=fill.decision_id,
                symbol=fill.symbol,
                side=fill.side,
                qty=fill.qty,
                price=fill.price,
                fee=fill.fee,
                realized_pnl=fill.realized_pnl,
                timestamp_ms=fill.filled_at_ms,
                order_type=order_type,
                client_order_id=client_order_id,
                decision_data_until_ms=data_until_ms,
            )
            for fill, order_type, client_order_id, data_until_ms in session.execute(query)
        ]
    trades.reverse()
    return trades


# --- sigmax status ----------------------------------------------------------------------------


def read_status(home: AccountHome) -> RunStatusReport | None:
    """The newest run: what it is, how far it got, what it did, what rests on the venue.

    ``None`` when the home holds no run yet.
    """
    with home.db.session() as session:
        run = newest_run(session)
        if run is None:
            return None
        decisions = _count(session, DecisionRow.id, DecisionRow.run_id == run.info.id)
        orders = _count(session, OrderRow.id)
        fills = _count(session, FillRow.id)
        lease = read_lease(session)
    ledger = run.ledger()
    venue = run.venue()
    cursor = run.cursor
    open_orders = tuple(_open_order(order) for order in venue.open_orders())
    return RunStatusReport(
        run_id=run.info.id,
        mode=str(run.config.get("mode", "paper")),
        feed=str(run.config.get("feed", run.info.mode.value)),
        status=run.info.status,
        profile=run.info.profile,
        symbols=run.symbols,
        timeframe=run.timeframe.value,
        started_at_ms=run.info.started_at_ms,
        ended_at_ms=run.info.ended_at_ms,
        last_candles=dict(sorted(cursor.items())),
        as_of_ms=run.as_of_ms(),
        decisions=decisions,
        orders=orders,
        fills=fills,
        open_orders=open_orders,
        cash=ledger.cash,
        equity=ledger.equity(run.marks),
        engine=lease,
        engine_alive=lease is not None and lease.alive(wall_clock_ms()),
    )


def _count(session: Session, column: Any, *where: Any) -> int:
    """How many rows have ``column`` (their key) and match ``where``."""
    return int(session.execute(select(func.count(column)).where(*where)).scalar_one())


def _open_order(order: Order) -> OpenOrder:
    return OpenOrder(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        qty=order.qty,
        price=order.price,
        created_ms=order.created_ms,
        decision_id=order.decision_id,
    )
