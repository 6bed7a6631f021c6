"""The researcher's item sources: ``news`` (RSS, CryptoPanic, NewsAPI), ``social`` (Reddit),
``market`` (CoinGecko, Fear & Greed) and ``onchain`` (mempool.space), each over the shared
:class:`~sigmax.research.book.ItemBook`.

Numbers (:meth:`ItemSentimentSource.measure`, every candle, no I/O): the feeds that can be read
at the decision moment (configured, fetched, last fetch succeeded, fresh enough) are *active*;
the window is their items about the symbol (or market-wide) published in
``(t - lookback, t]``, weighted by source, recency and engagement (see
:mod:`sigmax.research.sentiment`):

* ``sentiment`` = the weighted mean, and ``sentiment_weight`` = the weights' sum, so the
  researcher's aggregate over several sources is the weighted mean over all their items;
* ``score`` = ``clip(2 * sentiment)``; ``confidence`` = ``0.6 * (1 - exp(-items / 10))``.

Unavailable, with every feed's reason, when no feed is active or the window is empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from sigmax.agents.base import AnalysisContext, clip
from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.researcher import EvidenceItem, SourceReading
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Claim, Evidence
from sigmax.research.book import ItemBook, ScoredItem, Window
from sigmax.research.feeds.base import Feed
from sigmax.research.sentiment import label

HOUR_MS: Final = 3_600_000
SCORE_SCALE: Final = 2.0
MAX_CONFIDENCE: Final = 0.6
CONFIDENCE_ITEMS: Final = 10.0
#: Items kept as a decision's evidence per source (the highest weights; the count says how many
#: were read).
EVIDENCE_ITEMS: Final = 20

GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "news": ("rss", "cryptopanic", "newsapi"),
    "social": ("reddit",),
    "market": ("coingecko", "fear_greed"),
    "onchain": ("mempool",),
}


class ItemSentimentSource:
    """One research source over a group of feeds (see the module docstring)."""

    def __init__(
        self,
        name: str,
        feeds: Sequence[Feed],
        book: ItemBook,
        *,
        lookback_ms: int,
        half_life_ms: int,
    ) -> None:
        if lookback_ms <= 0 or half_life_ms <= 0:
            raise ValueError("lookback_ms and half_life_ms must be > 0")
        self.name = name
        self.feeds = tuple(feeds)
        self.kinds = frozenset(f.kind for f in self.feeds)
        self.book = book
        self.lookback_ms = lookback_ms
        self.half_life_ms = half_life_ms
        self._hours = f"{lookback_ms / HOUR_MS:g} h"
        self._measured: dict[str, tuple[int, Window]] = {}

    def feed_statuses(self, symbol: str, decision_ms: int) -> dict[str, str]:
        """Each feed's state at the moment: ``available`` or ``unavailable: <reason>``."""
        statuses = {}
        for feed in self.feeds:
            problem = feed.problem(symbol, decision_ms)
            statuses[feed.kind] = "available" if problem is None else f"unavailable: {problem}"
        return statuses

    def measure(self, snapshot: MarketSnapshot) -> SourceReading:
        symbol, decision_ms = snapshot.symbol, snapshot.decision_ms
        problems = {f.kind: f.problem(symbol, decision_ms) for f in self.feeds}
        active = frozenset(k for k, p in problems.items() if p is None)
        if not active:
            reason = "; ".join(f"{k}: {p}" for k, p in problems.items())
            return SourceReading(self.name, False, reason=reason)
        base = symbol.split("/")[0]
        window = self.book.window(
            self.kinds, active, base, decision_ms, self.lookback_ms, self.half_life_ms
        )
        if window.count == 0:
            return SourceReading(
                self.name,
                False,
                reason=f"no {'/'.join(sorted(active))} items about {base} in the {self._hours} "
                f"before {ms_to_iso(decision_ms)}",
            )
        self._measured[symbol] = (decision_ms, window)
        score = clip(SCORE_SCALE * window.sentiment)
        return SourceReading(
            self.name,
            True,
            score=score,
            confidence=MAX_CONFIDENCE * (1.0 - math.exp(-window.count / CONFIDENCE_ITEMS)),
            claim_weights=(score, 0.0),
            sentiment=window.sentiment,
            sentiment_weight=window.weight,
        )

    def _window(self, snapshot: MarketSnapshot) -> Window:
        measured = self._measured.get(snapshot.symbol)
        if measured is not None and measured[0] == snapshot.decision_ms:
            return measured[1]
        problems = {f.kind: f.problem(snapshot.symbol, snapshot.decision_ms) for f in self.feeds}
        active = frozenset(k for k, p in problems.items() if p is None)
        return self.book.window(
            self.kinds,
            active,
            snapshot.symbol.split("/")[0],
            snapshot.decision_ms,
            self.lookback_ms,
            self.half_life_ms,
        )

    def explain(self, context: AnalysisContext, reading: SourceReading) -> tuple[Claim, ...]:
        """The aggregate with its item count, then the most positive and most negative item,
        quoted verbatim with their sources (the privacy screen redacts the record after)."""
        window = self._window(context.snapshot)
        entries = window.entries()
        if not entries:
            raise ValueError(
                f"explain needs an available {self.name} reading for {context.snapshot.symbol}"
            )
        summary = Claim(
            (
                f"{self.name.capitalize()} sentiment: ",
                Evidence(f"{self.name}_sentiment", "weighted sentiment", window.sentiment),
                " over ",
                Evidence(
                    f"{self.name}_items", f"items in the last {self._hours}", float(window.count)
                ),
                f": {label(window.sentiment)}.",
            ),
            reading.claim_weights[0],
        )
        best = max(entries, key=lambda e: (e[0].score, e[0].item.published_ms))[0]
        worst = min(entries, key=lambda e: (e[0].score, -e[0].item.published_ms))[0]
        if best is worst:
            parts: tuple[str | Evidence, ...] = (
                "Only item: ",
                *_quote(best, f"{self.name}_item_score"),
                ".",
            )
        else:
            parts = (
                "Most positive: ",
                *_quote(best, f"{self.name}_top_item_score"),
                "; most negative: ",
                *_quote(worst, f"{self.name}_bottom_item_score"),
                ".",
            )
        return (summary, Claim(parts, reading.claim_weights[1]))

    def evidence_items(self, snapshot: MarketSnapshot) -> list[EvidenceItem]:
        """The items the reading counted (the heaviest :data:`EVIDENCE_ITEMS`), newest first,
        as the book rendered and screened them when they arrived."""
        return [
            EvidenceItem({**s.evidence, "weight": round(w, 4)}, s.findings)
            for s, w in self._window(snapshot).heaviest(EVIDENCE_ITEMS)
        ]


def _quote(scored: ScoredItem, key: str) -> tuple[str | Evidence, ...]:
    return (
        f'"{scored.item.title}" ({scored.item.source}, ',
        Evidence(key, "sentiment", scored.score),
        ")",
    )
