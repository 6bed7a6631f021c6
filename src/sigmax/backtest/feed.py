"""The backtest's feed: the replay's groups, with the stretches where nothing can happen
passed over in one go.

A :class:`~sigmax.engine.feeds.ReplayFeed` yields every candle. This feed walks the same
groups (candles closing together, symbols in the same order) on the arrays of
:mod:`sigmax.backtest.timeline`. From the engine's state after each group it scans ahead
(:func:`sigmax.backtest.inert.scan`) to the next group where something may happen: a decision
candidate, a possible fill, a safety trigger, the window's end. The groups before it are
handed to the engine as one :class:`~sigmax.engine.feeds.CandlesPassed` (the engine applies
what stepping them would have left: marks, day openings, the equity peak, the HOLD count),
and their equity points are recorded here, from the same exact figures. The event group
itself is stepped candle by candle, each candle that can change nothing flagged ``inert``.

With ``every_candle`` (or when prices or amounts are not exact eight-decimal numbers) every
group is stepped: the per-candle path the fast one is compared with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sigmax.agents.batch import BoolArray
from sigmax.backtest.inert import NotExactError, Span, scan
from sigmax.backtest.timeline import Timeline, build_timeline
from sigmax.domain.candles import CandleSeries
from sigmax.domain.ledger import Ledger
from sigmax.engine.feeds import CandleClosed, CandlesPassed, ReplayFeed
from sigmax.execution.venue import Venue
from sigmax.safety.enforcer import SafetyEnforcer


@dataclass(slots=True)
class PassedCurve:
    """The equity points of the groups the engine passed over: close times and equity."""

    closes_ms: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)


class BacktestFeed:
    kind = "replay"

    def __init__(
        self,
        series: Mapping[str, CandleSeries],
        *,
        start_ms: int | None,
        until_ms: int | None,
        candidates: Mapping[str, BoolArray],
        ledger: Ledger,
        venue: Venue,
        safety: SafetyEnforcer,
        curve: PassedCurve,
        safety_on: bool = True,
        every_candle: bool = False,
        progress: Callable[[int], None] | None = None,
        checkpoints: Sequence[int] = (),
        stop_at: Callable[[int], bool] | None = None,
    ) -> None:
        """``candidates[symbol]``: per candle, whether its decision may act. ``ledger``,
        ``venue`` and ``safety`` are the engine's, read between groups (``safety_on`` False: its
        triggers are off, so a daily loss or a drawdown ends no span). ``curve`` receives the
        passed groups' equity points. ``progress`` hears how many candles of the window have
        been passed. ``stop_at`` is asked at each of the ``checkpoints`` (close times), once the
        engine has processed every group closing at or before it and before anything closing
        after it: True ends the feed there (a stretch passed over in one go may reach past the
        checkpoint; it holds no fill and no decision)."""
        windows = {
            symbol: ReplayFeed(
                {symbol: candles}, start_ms=start_ms, until_ms=until_ms, speed=None
            ).window(symbol, candles)
            for symbol, candles in series.items()
        }
        self._series = dict(series)
        self._total = sum(len(w) for w in windows.values())
        self.timeline: Timeline = build_timeline(series, windows, candidates)
        self._ledger = ledger
        self._venue = venue
        self._safety = safety
        self._safety_on = safety_on
        self._curve = curve
        self._every_candle = every_candle or not self.timeline.exact
        self._progress = progress
        self._checkpoints = sorted(checkpoints) if stop_at is not None else []
        self._stop_at = stop_at
        #: The checkpoint the feed stopped at, if it did.
        self.stopped_ms: int | None = None

    def _goes_on(self, close_ms: int) -> bool:
        """Ask about every checkpoint before ``close_ms``; False: stop before it."""
        while self._checkpoints and self._checkpoints[0] < close_ms:
            checkpoint = self._checkpoints.pop(0)
            if self._stop_at is not None and self._stop_at(checkpoint):
                self.stopped_ms = checkpoint
                return False
        return True

    def total_candles(self) -> int:
        return self._total

    def _scan(self, start: int) -> Span | None:
        if self._every_candle:
            return None
        try:
            return scan(
                self.timeline,
                start,
                ledger=self._ledger,
                venue=self._venue,
                safety=self._safety,
                breaches=self._safety_on,
            )
        except NotExactError:
            return None  # an amount off the 1e-8 grid: step this group

    def _group(self, g: int) -> list[CandleClosed]:
        close_ms = self.timeline.closes[g]
        group = []
        for lane in self.timeline.lanes:
            index = lane.at[g]
            if index < 0:
                continue
            inert = (
                not self._every_candle
                and not bool(lane.candidate[index])
                and not self._venue.open_orders(lane.symbol)
            )
            group.append(
                CandleClosed(
                    lane.symbol,
                    lane.series.candle(index),
                    close_ms,
                    lane.series,
                    index,
                    inert=inert,
                )
            )
        return group

    def _passed(self, span: Span) -> CandlesPassed:
        timeline = self.timeline
        last_group = span.stop - 1
        last: dict[str, tuple[int, float]] = {}
        for lane in timeline.lanes:
            index = lane.mark[last_group]
            if index >= 0 and (span.start == 0 or lane.mark[span.start - 1] != index):
                last[lane.symbol] = (lane.open_ms[index], lane.close[index])
        held = [timeline.lanes[k] for k in span.held]
        day_opens = []
        for g in span.day_opens:
            first = timeline.first[g]
            day_opens.append(
                (
                    timeline.closes[g],
                    {
                        lane.symbol: lane.close[lane.mark[g] if k == first else lane.mark[g - 1]]
                        for k, lane in zip(span.held, held, strict=True)
                    },
                )
            )
        peak = None
        if span.peak is not None:
            g = span.peak
            peak = (timeline.closes[g], {lane.symbol: lane.close[lane.mark[g]] for lane in held})
        return CandlesPassed(
            close_ms=timeline.closes[last_group],
            candles=timeline.candles(span.start, span.stop),
            last=last,
            day_opens=tuple(day_opens),
            peak=peak,
        )

    def _record(self, span: Span) -> None:
        curve = self._curve
        curve.closes_ms += self.timeline.closes[span.start : span.stop]
        curve.equity += span.equity

    async def events(self) -> AsyncIterator[list[CandleClosed] | CandlesPassed]:
        timeline = self.timeline
        count = len(timeline.closes)
        done = 0
        g = 0
        while g < count:
            if not self._goes_on(timeline.closes[g]):
                return
            span = self._scan(g)
            if span is not None and span.stop > g:
                passed = self._passed(span)
                self._record(span)
                yield passed
                done += passed.candles
                g = span.stop
                if g >= count or not self._goes_on(timeline.closes[g]):
                    break
            group = self._group(g)
            yield group
            await asyncio.sleep(0)
            done += len(group)
            g += 1
            if self._progress is not None:
                self._progress(done)
