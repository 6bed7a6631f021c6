"""``sigmax backtest``: the paper engine on a simulated clock over stored candles.

A backtest is :class:`~sigmax.engine.engine.Engine` itself, the one that runs replays and live
paper trading, with the steps kept in memory instead of the database. What makes it fast is
what it leaves out, never what it changes:

* every candle's combined score and confidence come from the whole-history assessment
  (:mod:`sigmax.agents.batch`, equal to the per-decision one), so a candle that cannot act is a
  HOLD without being assessed;
* a candle is not even handed to the engine when it cannot change anything: no position and
  no resting order in its symbol, and no buy signal. Such a candle would move no money, fill no
  order and fire no trigger (equity only moves with a position), so leaving it out gives the
  same fills, fees and equity as a replay of every candle; a test compares the two.

The equity curve is the engine's marks carried forward over every candle close of the window.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sigmax.agents.batch import BatchAssessment, assess_history
from sigmax.agents.market_view import SymbolHistory
from sigmax.agents.orchestrator import Orchestrator, build_history, config_digest
from sigmax.agents.researcher import ResearchSource, default_sources
from sigmax.backtest.derived import DerivedArrays
from sigmax.backtest.feed import BacktestFeed, PassedCurve
from sigmax.backtest.llm import BacktestLlm
from sigmax.backtest.safety_off import SAFETY_SWITCHES, SafetySwitch, backtest_gate
from sigmax.backtest.sma_cross import SmaCrossStrategy
from sigmax.config import Settings, load_settings
from sigmax.config.settings import timeframe_overrides
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import CandleSeries, Timeframe, ms_to_iso
from sigmax.domain.decisions import DecisionRecord
from sigmax.domain.ledger import Ledger
from sigmax.engine.assembly import paper_trader
from sigmax.engine.engine import DecisionSource, Engine, RunTotals
from sigmax.engine.run_store import EquityPoint, FillRecord, OrderUpdate, StepWrite
from sigmax.engine.symbols import parse_symbols
from sigmax.errors import InputError
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.execution.instruments import bundled_market_specs
from sigmax.research.hub import research_file_digest, research_from_settings
from sigmax.research.llm.attach import require_reasoner
from sigmax.research.llm.stance import LlmStances, LlmStanceSource
from sigmax.rl.voter import promoted_voter
from sigmax.safety.state import SafetyEvent, SafetyState

STRATEGIES = ("agents", "sma_cross")
SLIPPAGE_MODELS = ("default", "none")


class ReferenceStrategy(DecisionSource, Protocol):
    """A decision source that reads its own history and batch (``sma_cross``, a policy)."""

    sleeve_cash: Callable[[str], Decimal] | None

    def history(self, series: CandleSeries) -> SymbolHistory: ...

    def batch(self, series: CandleSeries) -> BatchAssessment: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """What the operator asked for on the command line."""

    profile: str | None = None
    symbols: Sequence[str] | None = None
    timeframe: str | None = None
    start_ms: int | None = None
    until_ms: int | None = None
    data: Path | None = None
    strategy: str = "agents"
    #: sma_cross: the moving averages' periods.
    fast: int = 10
    slow: int = 50
    fee_rate: Decimal | None = None
    slippage_model: str = "default"
    capital: Decimal | None = None
    home: Path | None = None
    #: Told (candles seen, candles in the window) as the backtest goes, for a progress bar.
    progress: Callable[[int, int], None] | None = None
    #: Settings overrides (dotted keys, as ``load_settings`` takes them).
    overrides: Mapping[str, Any] | None = None
    #: Step every candle through the engine (the path the fast one is checked against).
    every_candle: bool = False
    #: "off": the auto-pause triggers and protections are off (engine comparisons).
    safety: SafetySwitch = "on"
    #: The candles already loaded and validated, kept by a process that runs many backtests
    #: over the same data (a parameter sweep's worker, the benchmark's warm runs); it must be
    #: the catalog of ``data``.
    catalog: DatasetCatalog | None = None
    #: A dated research file (``--research``): the researcher reads it, each decision only the
    #: items published by its moment. Without one a backtest reads no research (no network).
    research: Path | None = None
    #: A decision source of the caller's instead of ``strategy`` (``sigmax rl evaluate``'s
    #: policy), built from the settings and the number of symbols.
    source: Callable[[Settings, int], ReferenceStrategy] | None = None
    #: Whether a promoted learned policy votes with the agents (False: the agents alone).
    policy_vote: bool = True
    #: ``--llm``: the configured LLM answers the recorded decisions (and votes in later ones
    #: when research.llm.vote_weight > 0). Without it no provider is even built.
    llm: bool = False
    #: Histories and agent assessments kept between the backtests of one process (an
    #: optimisation worker), each keyed by what it is computed from; None: computed here.
    derived: DerivedArrays | None = None
    #: Close times at which ``at_checkpoint`` is shown the run so far (everything up to the
    #: checkpoint processed); True from it stops the run there (an optimisation trial the pruner
    #: gives up on). The run then ends at that close, as if the window did.
    checkpoints: Sequence[int] = ()
    at_checkpoint: Callable[[BacktestRun, int], bool] | None = None


@dataclass
class MemorySink:
    """The engine's committed steps, kept in memory (a backtest has no resume point)."""

    run_id: str
    keeps_resume_point: bool = False
    decisions: dict[str, DecisionRecord] = field(default_factory=dict)
    orders: list[OrderUpdate] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    safety_events: list[SafetyEvent] = field(default_factory=list)
    #: The equity points of the groups the engine passed over without stepping them.
    passed: PassedCurve = field(default_factory=PassedCurve)

    def commit(
        self,
        write: StepWrite,
        state: Mapping[str, Any],
        now_ms: int,
        safety: SafetyState | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        for record in write.decisions:
            self.decisions[record.id] = record
        self.orders += write.orders
        self.fills += write.fills
        self.equity += write.equity
        self.safety_events += write.safety_events

    def equity_curve(
        self,
    ) -> tuple[
        np.ndarray[tuple[int], np.dtype[np.int64]], np.ndarray[tuple[int], np.dtype[np.float64]]
    ]:
        """Close time and equity of every group, stepped or passed over, in time order."""
        times = np.array(
            [p.taken_at_ms for p in self.equity] + self.passed.closes_ms, dtype=np.int64
        )
        values = np.array(
            [float(p.equity) for p in self.equity] + self.passed.equity, dtype=np.float64
        )
        order = np.argsort(times, kind="stable")
        return times[order], values[order]


@dataclass(frozen=True, slots=True, repr=False)
class BacktestRun:
    """What the engine did over the window, before any metric is computed.

    Its ``repr`` is short on purpose: ``asyncio.run`` formats the finished task (with its
    result) when it restores the SIGINT handler, and the full dataclass ``repr`` of every
    decision, order and equity point took a quarter of a second of each backtest.
    """

    id: str
    settings: Settings
    config: dict[str, Any]
    series: dict[str, CandleSeries]
    #: Close time of every candle of the window, all symbols, sorted and unique.
    closes_ms: np.ndarray[tuple[int], np.dtype[np.int64]]
    sink: MemorySink
    totals: RunTotals
    ledger: Ledger
    marks: dict[str, Decimal]
    #: Candles in the window, all symbols (the engine is handed only those that matter).
    window_candles: int
    #: The LLM's answers (``--llm``), None without it.
    llm: BacktestLlm | None = None
    #: The checkpoint the run was stopped at (``BacktestOptions.at_checkpoint``), else None;
    #: ``closes_ms`` then ends there.
    stopped_ms: int | None = None

    def __repr__(self) -> str:
        return (
            f"BacktestRun(id={self.id!r}, symbols={list(self.series)}, "
            f"window_candles={self.window_candles}, fills={len(self.sink.fills)}, "
            f"stopped_ms={self.stopped_ms})"
        )


def _settings(options: BacktestOptions) -> Settings:
    overrides: dict[str, Any] = dict(options.overrides or {})
    if options.fee_rate is not None:
        overrides["trading.paper_fee_rate"] = options.fee_rate
    if options.capital is not None:
        overrides["profile.starting_capital_usd"] = options.capital
    overrides.update(timeframe_overrides(options.timeframe))
    return load_settings(home=options.home, profile=options.profile, overrides=overrides)


def _chosen_symbols(
    options: BacktestOptions, catalog: DatasetCatalog, timeframe: Timeframe
) -> Sequence[str] | None:
    """``--symbols``; without it, given ``--data``, every market the data holds on the
    timeframe (a file of one market backtests that market); else ``trading.symbols``."""
    if options.symbols is not None or options.data is None:
        return options.symbols
    held = list(dict.fromkeys(str(e.symbol) for e in catalog.entries() if e.timeframe == timeframe))
    if not held:
        available = ", ".join(str(entry) for entry in catalog.entries())
        raise InputError(
            f"--data: no {timeframe.value} candles in {catalog.source} (it holds {available}); "
            "give --timeframe or --symbols"
        )
    return held


def _slippage(name: str) -> SlippageModel:
    if name not in SLIPPAGE_MODELS:
        raise InputError(
            f"--slippage-model: must be one of {', '.join(SLIPPAGE_MODELS)} (got {name})"
        )
    return SlippageModel.none() if name == "none" else SlippageModel()


def backtest_id(config: Mapping[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


async def simulate(options: BacktestOptions) -> BacktestRun:
    """Run the engine over the window; everything a result is computed from."""
    if options.strategy not in STRATEGIES:
        raise InputError(
            f"--strategy: must be one of {', '.join(STRATEGIES)} (got {options.strategy})"
        )
    if options.safety not in SAFETY_SWITCHES:
        raise InputError(f"--safety: must be on or off (got {options.safety!r})")
    settings = _settings(options)
    slippage = _slippage(options.slippage_model)
    timeframe = settings.agents.analyzer.timeframes.primary
    catalog = (
        options.catalog if options.catalog is not None else DatasetCatalog.from_path(options.data)
    )
    symbols = parse_symbols(_chosen_symbols(options, catalog, timeframe), settings)
    loaded = {s: catalog.load(s, timeframe) for s in symbols}
    series = {s: item.series for s, item in loaded.items()}
    specs = bundled_market_specs()
    missing = [s for s in symbols if s not in specs]
    if missing:
        raise InputError(f"--symbols: no trading rules are known for {', '.join(missing)}")
    rate = settings.trading.paper_fee_rate
    fees = FeeSchedule(maker=rate, taker=rate)
    strategy: SmaCrossStrategy | ReferenceStrategy | None = None
    if options.source is not None:
        strategy = options.source(settings, len(symbols))
    elif options.strategy == "sma_cross":
        strategy = SmaCrossStrategy(settings, options.fast, options.slow, len(symbols))
    config: dict[str, Any] = {
        "strategy": options.strategy,
        "symbols": symbols,
        "timeframe": timeframe.value,
        "from": None if options.start_ms is None else ms_to_iso(options.start_ms),
        "to": None if options.until_ms is None else ms_to_iso(options.until_ms),
        "profile": settings.profile_name,
        "profile_settings": settings.profile.model_dump(mode="json"),
        "agents": settings.agents.model_dump(mode="json"),
        "safety": settings.safety.model_dump(mode="json", exclude={"policy": {"opa_url"}}),
        "config_digest": config_digest(settings),
        "fee_rate": str(rate),
        "slippage_model": options.slippage_model,
        "slippage": repr(slippage),
        "capital": str(settings.profile.starting_capital_usd),
        "data": {s: item.sha256 for s, item in loaded.items()},
    }
    if isinstance(strategy, SmaCrossStrategy):
        config["sma"] = {"fast": strategy.fast, "slow": strategy.slow}
        if strategy.cash_sleeves > 1:
            # Only several symbols say so: a one-symbol run's configuration and id are as before.
            config["sma"]["sleeves"] = strategy.cash_sleeves
    elif strategy is not None:
        config["strategy"] = "source"
        config["source"] = strategy.describe()
    voter = promoted_voter(settings) if strategy is None and options.policy_vote else None
    if voter is not None:
        # Only a run with a promoted policy says so: other runs keep their ids.
        config["rl"] = voter.identity
    if options.research is not None:
        config["research"] = research_file_digest(options.research)
    llm = _backtest_llm(settings, options, strategy is None)
    if llm is not None:
        # Only a run asked with --llm says so: other runs keep their ids.
        config["llm"] = llm.identity()
    allocating = settings.allocation.enabled and strategy is None
    if allocating:
        # Only a run with the allocation step says so: a default run's id stays what it was.
        config["allocation"] = settings.allocation.model_dump(mode="json")
    if options.safety == "off":
        # Only a run with the switch off says so: a default run's configuration, and so its
        # id, stay what they were.
        config["safety_switch"] = "off"
    run_id = backtest_id(config)
    source: DecisionSource
    # Per candle, whether its decision may act (from the batch assessment when there is one).
    candidates: dict[str, Any] = {}
    if strategy is None:
        reads_batch = options.research is None and (llm is None or not llm.votes)
        derived = options.derived if reads_batch else None
        if derived is not None:
            arrays = {
                s: derived.agents(series[s], loaded[s].sha256, settings, voter) for s in symbols
            }
            histories = {s: history for s, (history, _) in arrays.items()}
        else:
            histories = {s: build_history(series[s], settings) for s in symbols}
            for history in histories.values():
                history.require_higher_timeframes()
        if reads_batch:
            source = Orchestrator(settings, lambda symbol: histories[symbol], voter=voter)
            if derived is not None:
                batch = {s: assessment for s, (_, assessment) in arrays.items()}
            else:
                batch = {s: assess_history(h, settings, voter) for s, h in histories.items()}
        else:
            source = Orchestrator(
                settings,
                lambda symbol: histories[symbol],
                sources=_researcher_sources(settings, options.research, llm),
                voter=voter,
            )
            # Research or the LLM's stance can move any candle's decision: every candle is a
            # candidate.
            batch = {}
            candidates = {s: np.ones(len(series[s]), dtype=bool) for s in symbols}
    else:
        if options.derived is not None and isinstance(strategy, SmaCrossStrategy):
            # Its history (the primary timeframe, standard periods) does not depend on the
            # periods searched; its crossings do, and are the strategy's own.
            derived_arrays = options.derived
            histories = {s: derived_arrays.history(series[s], loaded[s].sha256) for s in symbols}
        else:
            histories = {s: strategy.history(series[s]) for s in symbols}
        source = strategy
        batch = {s: strategy.batch(series[s]) for s in symbols}
    sink = MemorySink(run_id)
    trader = paper_trader(
        settings, specs, symbols, fees, slippage, backtest_gate(settings, options.safety)
    )
    ledger = trader.ledger
    if strategy is not None and strategy.cash_sleeves > 1:
        sleeves = strategy.cash_sleeves
        strategy.sleeve_cash = lambda symbol: trader.sleeve_cash(symbol, sleeves)
    engine = Engine(
        orchestrator=source,
        histories=histories,
        trader=trader,
        store=sink,
        persist_holds=False,
        history_for=strategy.history if strategy is not None else None,
    )
    engine.batch = batch
    if allocating:
        # The classical answer only: a backtest's result must not depend on a wall clock,
        # so no quantum solver runs beside it (docs/PORTFOLIO.md).
        from sigmax.portfolio.step import AllocationStep

        engine.allocation = AllocationStep(settings, lambda symbol: histories[symbol].series)

    closes = _window_closes(series, options.start_ms, options.until_ms)
    at_checkpoint = options.at_checkpoint

    def stop_at(checkpoint_ms: int) -> bool:
        """The run so far, up to the checkpoint, shown to the caller."""
        if at_checkpoint is None:
            return False
        # Into the sink what the engine holds back for its next commit (a memory sink keeps
        # the same steps whenever they are committed).
        engine.commit(engine.totals.last_close_ms or checkpoint_ms)
        so_far = BacktestRun(
            run_id,
            settings,
            config,
            series,
            closes[closes <= checkpoint_ms],
            sink,
            engine.totals,
            ledger,
            dict(trader.marks),
            total,
            stopped_ms=checkpoint_ms,
        )
        return at_checkpoint(so_far, checkpoint_ms)

    feed = BacktestFeed(
        series,
        start_ms=options.start_ms,
        until_ms=options.until_ms,
        candidates=candidates or {s: engine.batch[s].candidate for s in symbols},
        ledger=ledger,
        venue=trader.venue,
        safety=engine.safety,
        safety_on=options.safety == "on",
        curve=sink.passed,
        every_candle=options.every_candle,
        progress=None if options.progress is None else (lambda done: options.progress(done, total)),  # type: ignore[misc]
        checkpoints=options.checkpoints,
        stop_at=stop_at if at_checkpoint is not None else None,
    )
    total = feed.total_candles()
    if llm is not None and llm.votes:
        answering = llm

        async def answer_before(close_ms: int) -> None:
            # The decisions recorded so far are answered before the next group is decided.
            await answering.answer(sink.decisions.values())

        engine.before_group = answer_before
    try:
        totals = await engine.run(feed, paced=False)
        if llm is not None:
            await llm.answer(sink.decisions.values())
    finally:
        if llm is not None:
            await llm.reasoner.close()
    if options.progress is not None:
        options.progress(total, total)
    if feed.stopped_ms is not None:
        closes = closes[closes <= feed.stopped_ms]
    return BacktestRun(
        run_id,
        settings,
        config,
        series,
        closes,
        sink,
        totals,
        ledger,
        dict(trader.marks),
        total,
        llm,
        stopped_ms=feed.stopped_ms,
    )


def _backtest_llm(settings: Settings, options: BacktestOptions, agents: bool) -> BacktestLlm | None:
    """The LLM of a backtest asked with ``--llm`` (the agents' decisions only: a reference
    strategy has no evidence to rewrite), None otherwise: no provider is built."""
    if not options.llm:
        return None
    if not agents:
        raise InputError("--llm: only the agents' decisions have evidence for the LLM")
    # Kept without expiry: a rerun of the backtest is answered from the cache.
    reasoner = require_reasoner(settings, "--llm", reply_ttl_s=None)
    vote_weight = settings.research.llm.vote_weight
    stances = LlmStances() if vote_weight > 0 else None
    return BacktestLlm(reasoner, vote_weight=vote_weight, stances=stances)


def _researcher_sources(
    settings: Settings, research_file: Path | None, llm: BacktestLlm | None
) -> tuple[ResearchSource, ...]:
    """The researcher's sources: the research file's (or the offline defaults), and the LLM's
    stance when it votes, fed by :class:`BacktestLlm` in market time."""
    sources: tuple[ResearchSource, ...] = (
        research_from_settings(settings, research_file=research_file).researcher_sources()
        if research_file is not None
        else default_sources()
    )
    if llm is None or llm.stances is None:
        return sources
    # A research file's hub has its own llm source, which says it votes only in live runs:
    # it is replaced by the one this backtest feeds.
    sources = tuple(s for s in sources if s.name != "llm")
    vote = LlmStanceSource(
        llm.stances,
        vote_weight=llm.vote_weight,
        max_age_ms=round(settings.research.max_age_minutes * 60_000),
        live=True,
    )
    return (*sources, vote)


def _window_closes(
    series: Mapping[str, CandleSeries], start_ms: int | None, until_ms: int | None
) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    """The close time of every candle the window holds, all symbols together."""
    parts = []
    for candles in series.values():
        closes = candles.timestamp + np.int64(candles.timeframe.ms)
        keep = np.ones(len(closes), dtype=bool)
        if start_ms is not None:
            keep &= closes >= start_ms  # as the replay feed: a candle closing at the start
        if until_ms is not None:
            keep &= closes <= until_ms
        parts.append(closes[keep])
    merged: np.ndarray[tuple[int], np.dtype[np.int64]] = np.unique(np.concatenate(parts))
    return merged
