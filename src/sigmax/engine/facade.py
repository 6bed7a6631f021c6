"""The SIGMAX facade: one object that wires configuration, logging, storage, data and agents.

As in the operations runbook::

    sigmax = SIGMAX(mode="paper", profile="conservative")
    await sigmax.initialize()
    record = await sigmax.orchestrator.analyze_symbol("BTC/USDT")
    await sigmax.stop()

or ``async with SIGMAX(mode="paper") as sigmax: ...``. Every decision the orchestrator makes
through the facade is an ad-hoc analysis, persisted (:class:`StoredDecisionLog`) before it is
returned; while a replay runs in the same home, :meth:`SIGMAX.analyze` decides at the run's
market time (:mod:`sigmax.engine.adhoc`).
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from sigmax.agents.base import AGENT_NAMES, PortfolioView
from sigmax.agents.market_view import SymbolHistory
from sigmax.agents.orchestrator import Orchestrator, build_history
from sigmax.config import Settings, load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.decisions import DecisionRecord
from sigmax.engine.adhoc import RunMoment, replay_moment
from sigmax.engine.decision_log import StoredDecisionLog, canonical_symbol, wall_clock_ms
from sigmax.errors import InputError, SigmaxError
from sigmax.logging_setup import configure_logging, shutdown_logging
from sigmax.research.hub import ResearchHub, fetch_moment, research_from_settings
from sigmax.research.llm.attach import annotate_and_attach, reasoner_from_settings
from sigmax.rl.voter import promoted_voter
from sigmax.storage import Database

#: The runbook names this logger for the engine's start-up lines.
log = logging.getLogger("sigmax.engine")

MODES: Final = ("paper", "live")
#: Agents whose score is a weighted vote; the others gate, size or screen every decision.
VOTING_AGENTS: Final = frozenset({"researcher", "bull", "bear", "analyzer"})


def log_agents_initialized(settings: Settings) -> None:
    """The runbook's start-up lines, one per agent: ``✓ Researcher agent initialized``.

    ``sigmax run`` and the facade both log them through this function, so they read the same.
    """
    agents = settings.agents
    for name in AGENT_NAMES:
        note = ""
        if name in VOTING_AGENTS and not getattr(agents, name).enabled:
            note = " (disabled in agents.yaml: its vote does not count)"
        log.info("✓ %s agent initialized%s", name.capitalize(), note)


class NotInitializedError(SigmaxError):
    """The facade was used before :meth:`SIGMAX.initialize` (or after :meth:`SIGMAX.stop`)."""


class HistoryCache:
    """Each symbol's :class:`SymbolHistory` at the analyzer's primary timeframe, built once.

    Building a history validates the candle file and computes every indicator; caching it makes
    the orchestrator's later decisions on that symbol cost only the agents' own work.
    """

    def __init__(self, catalog: DatasetCatalog, settings: Settings) -> None:
        self._catalog = catalog
        self._settings = settings
        self._histories: dict[str, SymbolHistory] = {}

    def __call__(self, symbol: str) -> SymbolHistory:
        """The history of ``symbol``; raises :class:`~sigmax.errors.InputError` when unknown."""
        key = canonical_symbol(symbol)
        history = self._histories.get(key)
        if history is None:
            timeframe = self._settings.agents.analyzer.timeframes.primary
            series = self._catalog.load(key, timeframe).series
            history = build_history(series, self._settings)
            self._histories[key] = history
        return history


class SIGMAX:
    """The trading system as one object: settings, logs, database, candle data and agents."""

    def __init__(
        self,
        mode: str = "paper",
        profile: str | None = None,
        data: Path | None = None,
        home: Path | None = None,
        *,
        console_log: bool = True,
        log_json: bool = False,
        log_level: str | None = None,
        research: Path | None = None,
    ) -> None:
        """Nothing is read or opened until :meth:`initialize`.

        ``mode`` is ``paper`` or ``live`` (live needs API_KEY and API_SECRET); ``profile``
        wins over SIGMAX_PROFILE; ``data`` is a candle file or folder (``None``: the bundled
        Binance data); ``home`` wins over SIGMAX_HOME. ``console_log`` also sends the log to
        stderr; the file ``logs/sigmax.log`` is always written. ``research`` is a dated
        research file the researcher reads (items published after a decision are never read).
        """
        cleaned = mode.strip().lower()
        if cleaned not in MODES:
            raise InputError(f"mode must be 'paper' or 'live' (got {mode!r})")
        self.mode = cleaned
        self.profile = profile
        self.data = data
        self.home = home
        self._console_log = console_log
        self._log_json = log_json
        self._log_level = log_level
        self.research = research
        self._settings: Settings | None = None
        self._database: Database | None = None
        self._decisions: StoredDecisionLog | None = None
        self._histories: HistoryCache | None = None
        self._orchestrator: Orchestrator | None = None
        self._research: ResearchHub | None = None
        self._logging_configured = False

    async def initialize(self) -> None:
        """Load and check the configuration, start logging, open storage and the agents.

        Raises :class:`~sigmax.config.ConfigLoadError` listing every configuration problem,
        :class:`~sigmax.errors.StorageError` when the database cannot be opened and
        :class:`~sigmax.errors.InputError` when the candle data cannot be found.
        """
        if self._orchestrator is not None:
            return
        settings = load_settings(
            home=self.home, profile=self.profile, overrides={"trading.mode": self.mode}
        )
        try:
            log_file = configure_logging(
                settings,
                json_lines=self._log_json,
                console=self._console_log,
                level=self._log_level,
            )
        except ValueError as error:  # an unknown log_level; nothing was installed yet
            raise InputError(str(error)) from None
        self._logging_configured = True
        try:
            database = Database.open(settings.effective_database_url())
            try:
                catalog = DatasetCatalog.from_path(self.data)
            except BaseException:
                database.dispose()
                raise
        except BaseException:
            self._close_logging()
            raise
        self._settings = settings
        self._database = database
        self._decisions = StoredDecisionLog(
            database, max_ad_hoc=settings.decision_history.max_entries
        )
        self._histories = HistoryCache(catalog, settings)
        # The research file's items, or the live feeds a live run reads (fetched once before
        # each analysis, see :meth:`analyze`).
        self._research = research_from_settings(settings, research_file=self.research)
        self._orchestrator = Orchestrator(
            settings,
            self._histories,
            self._decisions,
            sources=self._research.researcher_sources(),
            voter=promoted_voter(settings),
        )
        log.info(
            "SIGMAX starting in %s mode, profile %s, database %s, candle data from %s, log %s",
            settings.trading.mode,
            settings.profile_name,
            settings.database_summary(),
            catalog.source,
            log_file,
        )
        log_agents_initialized(settings)
        # What start-up created (modules, settings, engines, cached histories) lives as long as
        # the process: take it out of the collector's generations so that a full collection
        # does not walk it in the middle of a decision.
        gc.collect()
        gc.freeze()

    async def llm_reasoning(self, record: DecisionRecord) -> dict[str, Any] | None:
        """The LLM's text for a recorded decision, attached to the stored record (None when
        LLM_PROVIDER is not set). The decision was recorded before; it does not change."""
        reasoner = reasoner_from_settings(self.settings)
        if reasoner is None:
            return None
        try:
            return await annotate_and_attach(reasoner, self.decisions, record.to_dict())
        finally:
            await reasoner.close()

    @property
    def is_initialized(self) -> bool:
        return self._orchestrator is not None

    @property
    def settings(self) -> Settings:
        """The validated configuration."""
        if self._settings is None:
            raise self._not_initialized("settings")
        return self._settings

    @property
    def orchestrator(self) -> Orchestrator:
        """The orchestrator; its decisions are persisted before they are returned."""
        if self._orchestrator is None:
            raise self._not_initialized("orchestrator")
        return self._orchestrator

    @property
    def decisions(self) -> StoredDecisionLog:
        """The persisted decision history."""
        if self._decisions is None:
            raise self._not_initialized("decisions")
        return self._decisions

    def history(self, symbol: str) -> SymbolHistory:
        """The candles and indicators decisions on ``symbol`` are made from."""
        if self._histories is None:
            raise self._not_initialized("history")
        return self._histories(symbol)

    def run_moment(self) -> RunMoment | None:
        """The market time and account of the replay running in this home, if one runs."""
        if self._database is None:
            raise self._not_initialized("run_moment")
        return replay_moment(self._database)

    async def analyze(
        self, symbol: str, at_ms: int | None = None, portfolio: PortfolioView | None = None
    ) -> DecisionRecord:
        """An ad-hoc analysis of ``symbol`` at ``at_ms``, persisted before it is returned.

        Without ``at_ms``: at the market time of the replay running in this home, with its
        account (unless ``portfolio`` is given), else at the newest closed candle of the data.

        Without a research file the configured live feeds are fetched first (each at most once
        per ``research.min_refresh_seconds``); see :func:`~sigmax.research.hub.fetch_moment`
        for when their items count.
        """
        if self._orchestrator is None:
            raise self._not_initialized("analyze")
        if at_ms is None:
            moment = self.run_moment()
            if moment is not None:
                at_ms = moment.at_ms
                portfolio = portfolio or moment.portfolio
        research = self._research
        if research is not None and research.live:
            history = self.history(symbol)
            decision_ms = history.latest_decision_ms if at_ms is None else at_ms
            await research.refresh(
                [canonical_symbol(symbol)],
                fetch_moment(decision_ms, wall_clock_ms(), history.series.timeframe.ms),
            )
        return await self._orchestrator.analyze_symbol(symbol, at_ms, portfolio)

    async def stop(self) -> None:
        """Close the database and the log handlers this object opened. Safe to call twice."""
        if self._orchestrator is not None:
            log.info("SIGMAX stopped")
        database, self._database = self._database, None
        research, self._research = self._research, None
        self._orchestrator = None
        self._decisions = None
        self._histories = None
        try:
            if research is not None:
                await research.close()
            if database is not None:
                database.dispose()
        finally:
            self._close_logging()

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _close_logging(self) -> None:
        if self._logging_configured:
            shutdown_logging()
            self._logging_configured = False

    @staticmethod
    def _not_initialized(what: str) -> NotInitializedError:
        return NotInitializedError(
            f"SIGMAX.{what}: call 'await sigmax.initialize()' first "
            "(or use 'async with SIGMAX(...) as sigmax')"
        )
