"""The live feed: candles that close in real time, read from an exchange's public endpoints.

:class:`LiveFeed` polls a :class:`~sigmax.data.feeds.CcxtFeed` once per candle, a moment after
each close, and yields every newly closed candle once, as the same :class:`CandleClosed` events a
replay yields: the engine cannot tell the two apart, which is the point (one engine, many
clocks).

* The first poll of a symbol fetches ``warmup`` closed candles: the context the indicators need.
  On a fresh start only the newest of them becomes an event (the rest is history, not news); on
  a resume (``after_ms``) every candle after the last processed one does, so the run catches up
  exactly as a replay would, with ``warmup`` candles of context before it.
* Later polls fetch from the newest known candle on and append what is newer. Known candles are
  never rewritten: decisions and fills were made on them. If the exchange now reports different
  values for a closed candle, a WARNING says so and ours are kept.
* A candle is never yielded before it has closed: :meth:`CcxtFeed.fetch_ohlcv` drops the forming
  one, judged by the exchange's clock (or the feed's injected clock).
* Failures (:class:`~sigmax.errors.ExchangeUnavailableError` once ccxt's retries are spent, or
  invalid data) propagate out of :meth:`LiveFeed.events`: the run stops with the reason rather
  than trade on stale data.

The clock and the sleep are injected so that tests can run hours of candles in a second.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

import numpy as np

from sigmax.data.feeds import CcxtFeed, FeedDataError
from sigmax.domain.candles import CandleSeries, Timeframe, ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.engine.feeds import CandleClosed

log = logging.getLogger("sigmax.engine")

#: Candles asked for per request; Binance serves at most 1000 a page (others fewer, which the
#: paging loop copes with: it continues from the last candle it received).
PAGE_CANDLES = 1000


def wall_clock_ms() -> int:
    """Now, in ms since the epoch, from the system clock."""
    return time.time_ns() // 1_000_000


class LiveFeed:
    """Closed candles of ``symbols`` as they close, polled from ``feed`` (which the caller owns
    and closes).

    ``clock`` schedules the polls; ``sleep`` waits between them. The feed stops after
    ``max_polls`` polls, or once the next candle would close after ``until_ms`` (candles closing
    after ``until_ms`` are never yielded); without either it runs until cancelled or a fetch
    fails.
    """

    kind = "live"

    def __init__(
        self,
        feed: CcxtFeed,
        symbols: Sequence[str | Symbol],
        timeframe: Timeframe,
        *,
        warmup: int = 1000,
        poll_delay_s: float = 2.0,
        clock: Callable[[], int] = wall_clock_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        after_ms: Mapping[str, int] | None = None,
        until_ms: int | None = None,
        max_polls: int | None = None,
    ) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1 candle (got {warmup})")
        if not (math.isfinite(poll_delay_s) and poll_delay_s >= 0):
            raise ValueError(f"poll_delay_s must be a number of seconds >= 0 (got {poll_delay_s})")
        if max_polls is not None and max_polls < 1:
            raise ValueError(f"max_polls must be >= 1 (got {max_polls})")
        parsed = [s if isinstance(s, Symbol) else Symbol.parse(s) for s in symbols]
        names = [str(s) for s in parsed]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"symbols must be a non-empty list without repeats (got {names})")
        self._feed = feed
        self._symbols = parsed
        self._timeframe = timeframe
        self._warmup = warmup
        self._poll_delay_ms = round(poll_delay_s * 1000)
        self._clock = clock
        self._sleep = sleep
        self._after = dict(after_ms or {})
        self._until_ms = until_ms
        self._max_polls = max_polls
        #: Every candle known per symbol, oldest first; only ever appended to.
        self._known: dict[str, CandleSeries] = {}
        #: Polls made so far.
        self.polls = 0

    def total_candles(self) -> None:
        """A live feed has no known end, so no total."""
        return None

    async def events(self) -> AsyncIterator[list[CandleClosed]]:
        """Groups of candles that closed at the same moment, oldest first, as they close."""
        rank = {str(symbol): i for i, symbol in enumerate(self._symbols)}
        while True:
            now_ms = self._clock()
            fresh: list[CandleClosed] = []
            for symbol in self._symbols:
                fresh.extend(await self._poll(symbol, now_ms))
            self.polls += 1
            if self._until_ms is not None:
                fresh = [event for event in fresh if event.close_ms <= self._until_ms]
            fresh.sort(key=lambda event: (event.close_ms, rank[event.symbol]))
            for group in _grouped(fresh):
                yield group
            if self._max_polls is not None and self.polls >= self._max_polls:
                return
            now_ms = self._clock()
            next_close_ms = self._next_close_ms(now_ms)
            if self._until_ms is not None and next_close_ms > self._until_ms:
                log.info("live feed stops: the next candle closes after --until")
                return
            # A moment after the close: the exchange needs it to publish the finished candle.
            wake_ms = next_close_ms + self._poll_delay_ms
            await self._sleep(max(0, wake_ms - now_ms) / 1000)

    # -- one poll -------------------------------------------------------------------------------

    async def _poll(self, symbol: Symbol, now_ms: int) -> list[CandleClosed]:
        """The candles of ``symbol`` that closed since the last poll, as events."""
        name = str(symbol)
        tf = self._timeframe.ms
        known = self._known.get(name)
        if known is None:
            return await self._first_poll(symbol, now_ms)
        fetched = await self._fetch_from(symbol, known.last_ms, now_ms)
        self._warn_on_revisions(name, known, fetched)
        newer = fetched[int(np.searchsorted(fetched.timestamp, known.last_ms, "right")) :]
        if len(newer) == 0:
            expected_open = self._forming_open_ms(now_ms) - tf
            if known.last_ms < expected_open:
                log.warning(
                    "%s: no %s candle closed at %s arrived; the newest is still the one that "
                    "closed at %s (exchange gap or delay); waiting for the next close",
                    name,
                    self._timeframe.value,
                    ms_to_iso(expected_open + tf),
                    ms_to_iso(known.last_ms + tf),
                )
            return []
        merged = _appended(known, newer)
        self._known[name] = merged
        return self._events(name, merged, len(known))

    async def _first_poll(self, symbol: Symbol, now_ms: int) -> list[CandleClosed]:
        """Fetch the history; on a fresh start only its newest candle is news."""
        name = str(symbol)
        tf = self._timeframe.ms
        after = self._after.get(name)
        if after is None:
            since = self._forming_open_ms(now_ms) - self._warmup * tf
        else:
            # ``warmup`` candles of context up to the last processed one, then the catch-up.
            since = max(0, after - (self._warmup - 1) * tf)
        history = await self._fetch_from(symbol, since, now_ms)
        if len(history) == 0:
            log.warning(
                "%s: %s has no closed %s candle since %s yet; trying again at the next close",
                name,
                self._feed.exchange_id,
                self._timeframe.value,
                ms_to_iso(since),
            )
            return []
        self._known[name] = history
        if after is None:
            first_new = len(history) - 1
            log.info(
                "%s: %d %s candles of history up to %s; trading from the next close",
                name,
                len(history) - 1,
                self._timeframe.value,
                ms_to_iso(history.last_ms + tf),
            )
        else:
            first_new = int(np.searchsorted(history.timestamp, after, "right"))
            log.info(
                "%s: resuming after the candle that closed at %s; %d closed candle(s) to catch up",
                name,
                ms_to_iso(after + tf),
                len(history) - first_new,
            )
        return self._events(name, history, first_new)

    async def _fetch_from(self, symbol: Symbol, since_ms: int, now_ms: int) -> CandleSeries:
        """Closed candles opening at or after ``since_ms``, page by page up to the newest."""
        tf = self._timeframe.ms
        pages: list[CandleSeries] = []
        while True:
            page = await self._feed.fetch_ohlcv(
                symbol, self._timeframe, since_ms=since_ms, limit=PAGE_CANDLES
            )
            if len(page) == 0:
                break
            if page.first_ms < since_ms:
                # Paging relies on it; an exchange ignoring ``since`` could loop forever.
                raise FeedDataError(
                    self._feed.exchange_id,
                    "fetch_ohlcv",
                    str(symbol),
                    f"asked for candles from {ms_to_iso(since_ms)}, got one of "
                    f"{ms_to_iso(page.first_ms)}",
                )
            pages.append(page)
            since_ms = page.last_ms + tf
            if since_ms + tf > now_ms:
                break  # the next candle has not closed yet
        if not pages:
            return _empty(self._feed.exchange_id, symbol, self._timeframe)
        return pages[0] if len(pages) == 1 else _appended(pages[0], *pages[1:])

    def _warn_on_revisions(self, name: str, known: CandleSeries, fetched: CandleSeries) -> None:
        """Closed candles the exchange now reports differently: say so; ours stay."""
        overlap = fetched[: int(np.searchsorted(fetched.timestamp, known.last_ms, "right"))]
        for index in range(len(overlap)):
            theirs = overlap.candle(index)
            position = int(np.searchsorted(known.timestamp, theirs.timestamp))
            if position == len(known) or int(known.timestamp[position]) != theirs.timestamp:
                continue  # a candle we never had (a late-filled gap) cannot rewrite history
            ours = known.candle(position)
            if ours != theirs:
                log.warning(
                    "%s: %s revised the closed %s candle of %s (ours o=%r h=%r l=%r c=%r v=%r, "
                    "now o=%r h=%r l=%r c=%r v=%r); keeping ours, which decisions were made on",
                    name,
                    self._feed.exchange_id,
                    self._timeframe.value,
                    ms_to_iso(ours.timestamp),
                    ours.open,
                    ours.high,
                    ours.low,
                    ours.close,
                    ours.volume,
                    theirs.open,
                    theirs.high,
                    theirs.low,
                    theirs.close,
                    theirs.volume,
                )

    def _events(self, name: str, series: CandleSeries, first: int) -> list[CandleClosed]:
        tf = self._timeframe.ms
        return [
            CandleClosed(name, series.candle(i), int(series.timestamp[i]) + tf, series)
            for i in range(first, len(series))
        ]

    # -- time -----------------------------------------------------------------------------------

    def _forming_open_ms(self, now_ms: int) -> int:
        """Open time of the candle forming at ``now_ms``.

        Every timeframe SIGMAX knows (1m to 1d) is aligned to the Unix epoch in UTC on the
        exchanges it supports, so the grid is ``k * timeframe``.
        """
        tf = self._timeframe.ms
        return now_ms // tf * tf

    def _next_close_ms(self, now_ms: int) -> int:
        """The first candle close strictly after ``now_ms``."""
        return self._forming_open_ms(now_ms) + self._timeframe.ms


def _grouped(events: list[CandleClosed]) -> list[list[CandleClosed]]:
    """Consecutive events with the same close time, as groups (``events`` is sorted)."""
    groups: list[list[CandleClosed]] = []
    for event in events:
        if groups and groups[-1][0].close_ms == event.close_ms:
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups


def _appended(first: CandleSeries, *more: CandleSeries) -> CandleSeries:
    """``first`` followed by ``more`` (each strictly later than the one before)."""
    parts = (first, *more)
    return CandleSeries(
        first.exchange,
        first.symbol,
        first.timeframe,
        np.concatenate([p.timestamp for p in parts]),
        np.concatenate([p.open for p in parts]),
        np.concatenate([p.high for p in parts]),
        np.concatenate([p.low for p in parts]),
        np.concatenate([p.close for p in parts]),
        np.concatenate([p.volume for p in parts]),
    )


def _empty(exchange: str, symbol: Symbol, timeframe: Timeframe) -> CandleSeries:
    no_floats = np.empty(0, dtype=np.float64)
    return CandleSeries(
        exchange,
        symbol,
        timeframe,
        np.empty(0, dtype=np.int64),
        no_floats,
        no_floats,
        no_floats,
        no_floats,
        no_floats,
    )
