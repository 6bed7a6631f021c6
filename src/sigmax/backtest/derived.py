"""Candle-derived arrays kept by a process that runs many backtests over the same candles.

An optimisation worker backtests the same candles hundreds of times with different parameters.
A symbol's history (its indicators on every timeframe and the analyzer's per-candle scores) and
the whole-history assessment of the agents depend on the candles and on a few settings only, so
a worker keeps them between trials in a :class:`DerivedArrays` and computes them once for each
combination of those settings it meets.

Each entry is keyed by everything it is computed from, so a trial never reads another's arrays:

* a history by the symbol, the timeframe, the candles' SHA-256, the higher timeframes and the
  indicator periods (:class:`~sigmax.data.indicators.IndicatorSpec`);
* an assessment by its history's key, the digest of every setting a decision depends on
  (:func:`~sigmax.agents.orchestrator.config_digest`: the profile and ``agents.yaml``) and the
  promoted policy voting with the agents, if any.

A history covers the symbol's whole series, not the backtest's window: the window is applied
by the feed, so backtests of different windows share it. Both kinds are bounded (least recently
used first out): a study searching indicator periods meets a new history for each combination.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sigmax.agents.batch import BatchAssessment, assess_history
from sigmax.agents.market_view import SymbolHistory
from sigmax.agents.orchestrator import build_history, config_digest, indicator_spec
from sigmax.agents.policy_vote import PolicyVoter
from sigmax.config.settings import Settings
from sigmax.data.indicators import STANDARD_SPEC, IndicatorSpec
from sigmax.domain.candles import CandleSeries, Timeframe

#: Histories kept: each holds every indicator of three timeframes (a few MB for 20,000 hours).
HISTORY_LIMIT = 8
#: Assessments kept: four arrays over the candles each, and one per combination of the
#: profile's and agents' settings a study tries.
ASSESSMENT_LIMIT = 32

HistoryKey = tuple[str, str, str, tuple[str, ...], IndicatorSpec]
AssessmentKey = tuple[HistoryKey, str, str | None]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Bounded(Generic[K, V]):
    """A mapping that keeps its ``limit`` most recently used entries."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.computed = 0

    def get(self, key: K, compute: Callable[[], V], fits: Callable[[V], bool] | None = None) -> V:
        """The entry of ``key``, computed on a miss (or when ``fits`` refuses the one kept)."""
        found = self._entries.get(key)
        if found is not None and (fits is None or fits(found)):
            self._entries.move_to_end(key)
            return found
        value = compute()
        self.computed += 1
        self._entries[key] = value
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class DerivedArrays:
    """Histories and assessments of one process's backtests, bounded and fully keyed."""

    def __init__(
        self, *, histories: int = HISTORY_LIMIT, assessments: int = ASSESSMENT_LIMIT
    ) -> None:
        self.histories: _Bounded[HistoryKey, SymbolHistory] = _Bounded(histories)
        self.assessments: _Bounded[AssessmentKey, BatchAssessment] = _Bounded(assessments)

    @staticmethod
    def history_key(
        series: CandleSeries, sha256: str, higher: tuple[Timeframe, ...], spec: IndicatorSpec
    ) -> HistoryKey:
        return (
            str(series.symbol),
            series.timeframe.value,
            sha256,
            tuple(tf.value for tf in higher),
            spec,
        )

    def history(
        self,
        series: CandleSeries,
        sha256: str,
        higher: tuple[Timeframe, ...] = (),
        spec: IndicatorSpec = STANDARD_SPEC,
    ) -> SymbolHistory:
        """``SymbolHistory(series, higher, spec)``, built once per key. ``sha256``: the
        candles' checksum, as the catalog loaded them."""
        key = self.history_key(series, sha256, higher, spec)
        return self.histories.get(
            key, lambda: SymbolHistory(series, higher, spec), lambda kept: kept.series is series
        )

    def agents(
        self,
        series: CandleSeries,
        sha256: str,
        settings: Settings,
        voter: PolicyVoter | None,
    ) -> tuple[SymbolHistory, BatchAssessment]:
        """The analyzer's history (:func:`~sigmax.agents.orchestrator.build_history`) and
        ``assess_history(history, settings, voter)``, each computed once per key."""
        analyzer = settings.agents.analyzer
        if series.timeframe != analyzer.timeframes.primary:
            build_history(series, settings)  # refuses it, naming the setting
        higher = tuple(analyzer.timeframes.higher_timeframes)
        spec = indicator_spec(settings)
        history_key = self.history_key(series, sha256, higher, spec)
        # Only for the very series object the run was given, so that the run sees exactly the
        # objects it would without the cache (equal candles from another catalog: a rebuild).
        history = self.histories.get(
            history_key,
            lambda: SymbolHistory(series, higher, spec),
            lambda kept: kept.series is series,
        )
        # Before any assessment: a history that cannot make a higher timeframe is refused.
        history.require_higher_timeframes()
        key = (
            history_key,
            config_digest(settings),
            None if voter is None else voter.identity,
        )
        assessment = self.assessments.get(key, lambda: assess_history(history, settings, voter))
        return history, assessment
