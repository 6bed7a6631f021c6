"""Where an ad-hoc analysis stands: at a replaying run's market time, with its account.

While a replay runs, its "now" is the close of the last candle it committed, not the end of
the candle data: an analysis asked for then (``sigmax analyze``, ``POST /api/analyze``) must
see the market the run sees, or an operator reviewing an auto-pause reads a decision made
years later. With no replay running (none yet, finished, stopped, or a live run, whose clock is
the wall clock), an analysis is made at the newest closed candle of its data, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sigmax.agents.base import PortfolioView
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import newest_run
from sigmax.engine.gate import AccountView
from sigmax.errors import SigmaxError
from sigmax.storage import Database
from sigmax.storage.models import RunMode, RunStatus

DAY_MS: Final = 86_400_000


class RunNotStartedError(SigmaxError):
    """A replay runs but has committed no candle yet: it has no market time to analyse at."""


@dataclass(frozen=True, slots=True)
class RunMoment:
    """A running replay's market time (the close of its last committed candle) and account."""

    run_id: str
    at_ms: int
    portfolio: PortfolioView

    def describe(self) -> str:
        return f"run {self.run_id}'s market time {ms_to_iso(self.at_ms)}"


def replay_moment(db: Database) -> RunMoment | None:
    """The newest run's moment when it is a replay that is running now, else ``None``.

    Raises :class:`RunNotStartedError` when that replay has not committed a candle yet.
    """
    with db.session() as session:
        run = newest_run(session)
    if run is None or run.info.status is not RunStatus.RUNNING:
        return None
    if run.info.mode is not RunMode.REPLAY:
        return None
    at_ms = run.as_of_ms()
    if at_ms is None:
        raise RunNotStartedError(
            f"run {run.info.id} is replaying but has not committed its first candle yet, so it "
            "has no market time to analyse at; try again in a moment"
        )
    account = AccountView.of(run.ledger(), run.marks)
    portfolio = PortfolioView(
        equity_usd=account.equity_usd,
        cash_usd=account.cash_usd,
        positions_usd=dict(account.positions_usd),
    )
    return RunMoment(run.info.id, at_ms, portfolio)


def today_window(db: Database, now_ms: int) -> tuple[int, int]:
    """``[start, end)`` in ms of "today" (UTC) for ``history --today``.

    Today on the newest run's clock when it is a replay (its market day: a replay of 2021
    decides in 2021), else the calendar day of ``now_ms``.
    """
    with db.session() as session:
        run = newest_run(session)
    moment = now_ms
    if run is not None and run.info.mode is RunMode.REPLAY:
        as_of = run.as_of_ms()
        if as_of is not None:
            # Decisions are stamped with their candle's close, as the run's clock is.
            moment = as_of
    start = moment - moment % DAY_MS
    return start, start + DAY_MS
