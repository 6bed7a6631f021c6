"""``sigmax reconcile``: the stored live account against the exchange, on demand.

A running live engine reconciles at start and every ``trading.reconcile_minutes`` and pauses on
a mismatch. This service does the same comparison for an operator at any time, from the newest
live run's resume point (its ledger, and the stops and open orders its venue keeps), through the
same :func:`~sigmax.execution.reconcile.reconcile` the engine calls. It reports; it does not
pause: pausing is the running engine's (or ``sigmax pause``'s).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sigmax.data.feeds import CcxtFeed
from sigmax.domain.ledger import Ledger
from sigmax.engine.account import AccountHome, newest_run
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.kernel import ExchangeClock, open_exchange_venue
from sigmax.engine.resume import ResumePoint
from sigmax.errors import InputError
from sigmax.execution.reconcile import ReconcileReport, reconcile
from sigmax.storage.models import RunMode

#: Environment variable: another origin for the exchange's REST calls (as for ``sigmax run``).
EXCHANGE_URL_VAR = "SIGMAX_EXCHANGE_URL"


async def reconcile_stored_run(
    home: AccountHome, *, clock: Callable[[], int] | None = None
) -> ReconcileReport:
    """Compare the newest live run's stored account with the exchange account it trades.

    ``clock``: the exchange's "now" in ms (default: the local clock corrected by the
    exchange's server time, as a live run uses)."""
    with home.db.session() as session:
        run = newest_run(session)
    if run is None:
        raise InputError(
            "no run in SIGMAX_HOME: reconciliation compares a live run's ledger with its "
            "exchange account"
        )
    if run.info.mode is not RunMode.LIVE:
        raise InputError(
            f"the newest run ({run.info.id[:12]}) is a {run.info.mode.value} run: its account "
            "is SIGMAX's own ledger, there is no exchange account to reconcile"
        )
    if run.state is None:
        raise InputError(f"the live run {run.info.id[:12]} has no resume point yet")
    point = ResumePoint.from_json(run.state)
    symbols = run.symbols
    base_url = os.environ.get(EXCHANGE_URL_VAR, "").strip() or None
    if clock is None:
        feed = CcxtFeed(home.settings.trading.exchange, api_base_url=base_url)
        try:
            exchange_clock = ExchangeClock(feed)
            await exchange_clock.sync()
        finally:
            await feed.close()
        clock = exchange_clock.now
    venue = open_exchange_venue(
        home.settings, symbols, base_url=base_url, clock=clock, on_api_error=None
    )
    try:
        await venue.start()
        ledger = Ledger.restore(point.ledger)
        if point.venue is not None:
            seen = {
                (entry.client_order_id, entry.fill_sequence)
                for entry in ledger.entries
                if entry.client_order_id is not None and entry.fill_sequence is not None
            }
            await venue.resume(point.venue, seen)
        # Trades before the run's first fill are not SIGMAX's.
        entries = [entry.timestamp_ms for entry in ledger.entries]
        since_ms = min(entries) if entries else run.info.started_at_ms
        return await reconcile(
            venue, ledger, since_ms=since_ms, at_ms=wall_clock_ms(),
            quote=symbols[0].split("/")[1],
        )  # fmt: skip
    finally:
        await venue.close()
