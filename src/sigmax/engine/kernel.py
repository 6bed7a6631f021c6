"""The one place a run's account is assembled: settings -> venue (paper or exchange) -> trader.

``engine/runner.py`` builds every run through it (replay, paper on live candles, live on an
exchange): the data and the orchestrator come from the runner, the venue and the trader that
owns the account from here, so the engine is the same object whatever the venue.

* **Paper** (:func:`paper_trader`, from :mod:`sigmax.engine.assembly`): the simulated venue,
  with the profile's starting capital or the stored resume point.
* **Live** (:func:`open_exchange_venue`, :func:`live_trader`): the ccxt venue of
  ``trading.exchange`` with ``API_KEY`` / ``API_SECRET`` (``TESTNET=true``: ccxt's sandbox;
  ``SIGMAX_EXCHANGE_URL``: another origin). A new live account's ledger starts with the
  exchange's quote balance and refuses to start while the account holds a traded base asset
  (SIGMAX cannot know what it cost); a resumed one restores the ledger and the venue's part of
  the resume point: its client-side stops and the exchange orders it had open, looked up again
  by client id with the trades the ledger already holds marked as seen (so a fill is never
  booked twice and a position never loses its stop across a restart).
* :class:`ExchangeClock`: "now" for a live run is the exchange's clock (its ``/time``), kept as
  an offset to the local clock and measured again at every slice of a wait, so a skewed or
  stepped local clock neither signs stale requests nor oversleeps a candle's close.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from sigmax.config import Settings
from sigmax.data.feeds import CcxtFeed
from sigmax.domain.instruments import Symbol
from sigmax.domain.ledger import Ledger
from sigmax.domain.market import MarketSpec
from sigmax.engine.assembly import account_trader, paper_trader, restored_ledger
from sigmax.engine.gate import OrderGate
from sigmax.engine.resume import ResumePoint, ResumePointError
from sigmax.engine.trader import Trader
from sigmax.errors import ConfigError, ConfigProblem, InputError
from sigmax.execution.ccxt_session import CcxtSession
from sigmax.execution.ccxt_venue import CcxtVenue
from sigmax.execution.fill_model import FeeSchedule

__all__ = [
    "ExchangeClock",
    "exchange_feed",
    "exchange_url",
    "live_trader",
    "open_exchange_venue",
    "paper_trader",
]

log = logging.getLogger("sigmax.engine")

#: Environment variable: another origin for the exchange's REST calls (a test stand-in, a proxy).
EXCHANGE_URL_VAR = "SIGMAX_EXCHANGE_URL"


class ExchangeClock:
    """The exchange's clock: the local clock plus the offset last measured against the
    exchange's server time. :meth:`sleep` waits in slices of at most ``sync_s`` seconds and
    measures the offset again after each, so the wait ends by the exchange's clock."""

    def __init__(self, feed: CcxtFeed, *, sync_s: float = 30.0) -> None:
        if not sync_s > 0:
            raise ValueError(f"sync_s must be > 0 seconds (got {sync_s})")
        self._feed = feed
        self._sync_s = sync_s
        self._offset_ms = 0

    @staticmethod
    def _local_ms() -> int:
        return time.time_ns() // 1_000_000

    def now(self) -> int:
        return self._local_ms() + self._offset_ms

    async def sync(self) -> None:
        """Measure the offset (half the round trip is taken as the answer's age)."""
        sent = self._local_ms()
        server = await self._feed.server_time_ms()
        received = self._local_ms()
        self._offset_ms = server - (sent + received) // 2

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on the exchange's clock."""
        until = self.now() + round(seconds * 1000)
        while True:
            left = until - self.now()
            if left <= 0:
                return
            await asyncio.sleep(min(left / 1000, self._sync_s))
            await self.sync()


def exchange_url() -> str | None:
    """``SIGMAX_EXCHANGE_URL`` from the environment; empty counts as not set."""
    return os.environ.get(EXCHANGE_URL_VAR, "").strip() or None


def exchange_feed(settings: Settings, *, testnet: bool) -> CcxtFeed:
    """Public market data of ``trading.exchange`` (its testnet's for a testnet live run), at
    ``SIGMAX_EXCHANGE_URL`` when it is set."""
    url = exchange_url()
    try:
        return CcxtFeed(settings.trading.exchange, api_base_url=url, testnet=testnet)
    except ConfigError as error:
        # The feed names its own parameter; the operator set an environment variable.
        raise ConfigError(
            [
                ConfigProblem(EXCHANGE_URL_VAR, p.rule, p.value) if p.key == "api_base_url" else p
                for p in error.problems
            ]
        ) from None


def open_exchange_venue(
    settings: Settings,
    symbols: Sequence[str],
    *,
    base_url: str | None,
    clock: Callable[[], int] | None,
    on_api_error: Callable[[str, str], None] | None,
) -> CcxtVenue:
    """The ccxt venue of the configured exchange account (not started: :meth:`CcxtVenue.start`
    loads its markets). A missing key or secret is a :class:`ConfigError` naming it."""
    credentials = settings.credentials
    key = credentials.api_key.get_secret_value() if credentials.api_key else ""
    secret = credentials.api_secret.get_secret_value() if credentials.api_secret else ""
    try:
        session = CcxtSession(
            settings.trading.exchange,
            api_key=key,
            api_secret=secret,
            testnet=settings.trading.testnet,
            api_base_url=base_url,
            clock=clock,
            on_api_error=on_api_error,
        )
    except ConfigError as error:
        raise ConfigError(
            [
                ConfigProblem(EXCHANGE_URL_VAR, p.rule, p.value) if p.key == "api_base_url" else p
                for p in error.problems
            ]
        ) from None
    return CcxtVenue(session, tuple(symbols))


async def exchange_rules(feed: CcxtFeed, symbols: Sequence[str]) -> dict[str, MarketSpec]:
    """Each symbol's precision and limits as the exchange publishes them."""
    await feed.load_markets()
    return {s: await feed.market_spec(Symbol.parse(s)) for s in symbols}


async def live_trader(
    settings: Settings,
    venue: CcxtVenue,
    specs: Mapping[str, MarketSpec],
    fees: FeeSchedule,
    gate: OrderGate,
    point: ResumePoint | None,
) -> Trader:
    """The trader of an exchange account: new (the ledger holds the exchange's quote balance),
    or resumed from ``point`` (see the module docstring)."""
    quote = _quote(venue.symbols)
    if point is None:
        balances = await venue.balances()
        held = [
            f"{base} {balances[base]}"
            for base in sorted({s.split("/")[0] for s in venue.symbols})
            if balances.get(base, Decimal(0)) > 0
        ]
        if held:
            raise InputError(
                f"the {venue.name} account already holds {', '.join(held)}: a new live run "
                "starts from quote currency only, since SIGMAX cannot know what those coins "
                f"cost; sell them (or trade other symbols) and start again"
            )
        ledger = Ledger(balances.get(quote, Decimal(0)))
        log.info("live account on %s starts with %s %s", venue.name, ledger.cash, quote)
    else:
        ledger = restored_ledger(point)
        if point.venue is None:
            raise ResumePointError(
                "resume point venue: missing for the exchange venue (its stops and open orders)"
            )
        seen = {
            (e.client_order_id, e.fill_sequence)
            for e in ledger.entries
            if e.client_order_id is not None and e.fill_sequence is not None
        }
        await venue.resume(point.venue, seen)
    return account_trader(settings, ledger, venue, specs, fees, gate, point)


def _quote(symbols: Sequence[str]) -> str:
    quotes = {s.split("/")[1] for s in symbols}
    if len(quotes) != 1:
        raise InputError(
            f"--symbols: a live run trades markets of one quote currency (got {sorted(quotes)})"
        )
    return quotes.pop()
