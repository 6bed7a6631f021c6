"""The operator service layer: what every face (CLI, REST API, Telegram) calls to act.

Decide on demand, send a manual order, pause, resume or panic: each is one function here, over
the stored state of a home and the control queue, so a running engine applies what any face
asks and no face holds business logic of its own (freqtrade's RPC layer under its Telegram and
REST faces). The reads the faces share are in :mod:`sigmax.engine.account`,
:mod:`sigmax.engine.safety_service` and :mod:`sigmax.engine.decision_log`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sigmax.agents.orchestrator import Orchestrator
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import AccountHome, decimal_text
from sigmax.engine.adhoc import replay_moment
from sigmax.engine.decision_log import StoredDecisionLog, canonical_symbol
from sigmax.engine.facade import HistoryCache
from sigmax.engine.manual_order import QueuedOrder
from sigmax.engine.safety_service import CommandResult, request_command
from sigmax.engine.safety_service import submit_manual_order as submit_through_engine
from sigmax.errors import InputError
from sigmax.rl.voter import promoted_voter
from sigmax.storage.models import ControlKind

#: How long a face's request waits for a running engine to apply a pause, resume or panic
#: before answering ``pending`` (the engine applies it after the candle it is processing).
COMMAND_WAIT_S = 2.0


def submit_manual_order(
    home: AccountHome, symbol: str, side: str, qty: Decimal
) -> QueuedOrder | CommandResult:
    """A manual paper market order (risk, policies, safety): a running engine checks and places
    it through the control queue; with none running it is queued on the newest stored run.

    Raises :class:`~sigmax.engine.manual_order.OrderRefusedError` when the safety enforcer or
    a policy refuses it on the stored run, :class:`~sigmax.errors.InputError` when the account
    cannot take it. A running engine's refusal comes back as a refused command.
    """
    return submit_through_engine(home, symbol, side, decimal_text(qty), wait_s=COMMAND_WAIT_S)


def run_command(home: AccountHome, kind: ControlKind, arguments: dict[str, Any]) -> CommandResult:
    """Pause, resume or panic through the control queue (applied here when no engine runs)."""
    return request_command(home, kind, arguments, wait_s=COMMAND_WAIT_S)


class Decider:
    """Ad-hoc analyses on demand, as ``sigmax analyze`` makes them: the seven agents at a
    running replay's market time with its account (:mod:`sigmax.engine.adhoc`), else at the
    newest closed candle of ``catalog``; marked ``ad_hoc`` and stored before they are
    returned."""

    def __init__(self, home: AccountHome, catalog: DatasetCatalog) -> None:
        self._db = home.db
        self._histories = HistoryCache(catalog, home.settings)
        decisions = StoredDecisionLog(
            home.db, max_ad_hoc=home.settings.decision_history.max_entries
        )
        self._orchestrator = Orchestrator(
            home.settings, self._histories, decisions, voter=promoted_voter(home.settings)
        )
        # One decision at a time: the history cache is filled from a worker thread.
        self._lock = asyncio.Lock()

    async def __call__(self, symbol: str) -> dict[str, Any]:
        wanted = canonical_symbol(symbol)
        async with self._lock:
            # Reading and validating the candles and computing every indicator takes a
            # while the first time; a worker thread keeps the server answering meanwhile.
            history = await asyncio.to_thread(self._histories, wanted)
            moment = await asyncio.to_thread(replay_moment, self._db)
            at_ms = portfolio = None
            if moment is not None:
                next_close_ms = history.latest_decision_ms + history.timeframe.ms
                if moment.at_ms >= next_close_ms:
                    raise InputError(
                        f"symbol: the candle data of {wanted} ends at "
                        f"{ms_to_iso(history.latest_decision_ms)}, before the "
                        f"{moment.describe()}; it cannot be analysed at that moment"
                    )
                at_ms, portfolio = moment.at_ms, moment.portfolio
            record = await self._orchestrator.analyze_symbol(wanted, at_ms, portfolio)
        return record.to_dict()
