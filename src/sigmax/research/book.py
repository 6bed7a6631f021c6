"""The items a run knows, per symbol, ready to be read at any decision moment.

:class:`ItemBook` keeps every item scored, screened and rendered once, when it arrives, and per
(group of feed kinds, base asset) three sorted arrays (publication times, scores, base weights)
so that a decision reads its window with two binary searches and one weighted sum: no network,
no text, microseconds. Items are immutable, so nothing about one is ever worked out twice: an
explained decision copies the evidence each of its items already holds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sigmax.agents.researcher import ITEM_TEXTS
from sigmax.domain.candles import ms_to_iso
from sigmax.research.items import ResearchItem
from sigmax.research.sentiment import (
    DEFAULT_SOURCE_WEIGHTS,
    SentimentScorer,
    engagement,
)
from sigmax.safety.privacy import PrivacyScanner


@dataclass(frozen=True, slots=True)
class ScoredItem:
    item: ResearchItem
    score: float
    #: source weight x engagement (recency is applied at the decision moment).
    base_weight: float
    #: The item as a decision's evidence shows it (its weight at the moment is added then):
    #: title, source, time, link and score, the texts already screened.
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: What the screen redacted in those texts, as (field, kind, preview), never the content
    #: (almost always nothing).
    findings: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Index:
    items: tuple[ScoredItem, ...]
    times: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    kinds: tuple[str, ...]
    kind_codes: npt.NDArray[np.int16]
    times_list: list[int]

    def mask(self, active: frozenset[str]) -> npt.NDArray[np.float64]:
        """1 for the items of the ``active`` kinds, 0 for the others."""
        counts = np.asarray([1.0 if k in active else 0.0 for k in self.kinds])
        return counts[self.kind_codes]


@dataclass(frozen=True, slots=True)
class Window:
    """What a decision counted: the aggregate, and (read only when explained) its items."""

    sentiment: float
    weight: float
    count: int
    _items: tuple[ScoredItem, ...] = ()
    _weights: npt.NDArray[np.float64] | None = None

    def entries(self) -> tuple[tuple[ScoredItem, float], ...]:
        """Each counted item with its weight (source x recency x engagement), oldest first."""
        if self._weights is None:
            return ()
        return tuple(
            (s, float(w)) for s, w in zip(self._items, self._weights, strict=True) if w > 0
        )

    def heaviest(self, count: int) -> list[tuple[ScoredItem, float]]:
        """The ``count`` counted items of the highest weight (ties: the older first), newest
        first: what a record keeps as evidence."""
        weights = self._weights
        if weights is None:
            return []
        counted = np.flatnonzero(weights > 0)
        chosen = counted[np.argsort(-weights[counted], kind="stable")[:count]]
        items = self._items
        heaviest = [(items[i], float(weights[i])) for i in chosen.tolist()]
        heaviest.sort(key=lambda e: -e[0].item.published_ms)
        return heaviest


EMPTY_WINDOW = Window(0.0, 0.0, 0)


class ItemBook:
    """Every item known, scored once; the windows decisions read."""

    def __init__(
        self,
        *,
        scorer: SentimentScorer | None = None,
        source_weights: Mapping[str, float] = DEFAULT_SOURCE_WEIGHTS,
        screen: PrivacyScanner | None = None,
    ) -> None:
        """``screen``: the privacy scanner with the configured secrets (default: personal data
        and token shapes only, no configured secret)."""
        self._scorer = scorer or SentimentScorer()
        self._screen = screen or PrivacyScanner()
        self.source_weights = dict(source_weights)
        self._items: dict[tuple[str, str, int, str], ScoredItem] = {}
        self._indexes: dict[tuple[frozenset[str], str], _Index] = {}
        #: Items published before this are not kept (see :meth:`forget_before`).
        self._horizon_ms: int | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, items: Iterable[ResearchItem]) -> int:
        """Score, screen and keep the items not yet known; returns how many were new."""
        added = 0
        for item in items:
            if item.key in self._items or (
                self._horizon_ms is not None and item.published_ms < self._horizon_ms
            ):
                continue
            self._items[item.key] = self._scored(item)
            added += 1
        if added:
            self._indexes.clear()
        return added

    def _scored(self, item: ResearchItem) -> ScoredItem:
        score = self._scorer.item(item)
        texts = {"title": item.title, "url": item.url, "source": item.source}
        findings: list[tuple[str, str, str]] = []
        for name in ITEM_TEXTS:
            result = self._screen.redact(texts[name])
            texts[name] = result.text
            findings.extend((name, v.kind.value, v.preview) for v in result.violations)
        evidence = {
            "title": texts["title"],
            "source": texts["source"],
            "published_at": ms_to_iso(item.published_ms),
            "url": texts["url"],
            "score": round(score, 4),
        }
        weight = self.source_weights.get(item.kind, 1.0) * engagement(item.votes)
        return ScoredItem(item, score, weight, evidence, tuple(findings))

    def forget_before(self, ms: int) -> None:
        """Drop items published before ``ms`` and keep none from before it again (a live run
        keeps only its look-back; a feed that returns old items again does not re-add them)."""
        self._horizon_ms = ms if self._horizon_ms is None else max(self._horizon_ms, ms)
        old = [k for k, v in self._items.items() if v.item.published_ms < ms]
        for key in old:
            del self._items[key]
        if old:
            self._indexes.clear()

    def items(self) -> tuple[ResearchItem, ...]:
        return tuple(
            s.item for s in sorted(self._items.values(), key=lambda s: s.item.published_ms)
        )

    def prepare(self, kinds: frozenset[str], base: str) -> None:
        """Build the arrays decisions about ``base`` will read, ahead of them (after a fetch)."""
        self._index(kinds, base)

    def _index(self, kinds: frozenset[str], base: str) -> _Index:
        key = (kinds, base)
        index = self._indexes.get(key)
        if index is None:
            chosen = sorted(
                (
                    s
                    for s in self._items.values()
                    if s.item.kind in kinds and (not s.item.symbols or base in s.item.symbols)
                ),
                key=lambda s: (s.item.published_ms, s.item.source, s.item.url),
            )
            ordered_kinds = tuple(sorted(kinds))
            codes = {k: i for i, k in enumerate(ordered_kinds)}
            times = [s.item.published_ms for s in chosen]
            index = _Index(
                tuple(chosen),
                np.asarray(times, dtype=np.int64),
                np.asarray([s.score for s in chosen], dtype=np.float64),
                np.asarray([s.base_weight for s in chosen], dtype=np.float64),
                ordered_kinds,
                np.asarray([codes[s.item.kind] for s in chosen], dtype=np.int16),
                times,
            )
            self._indexes[key] = index
        return index

    def window(
        self,
        kinds: frozenset[str],
        active: frozenset[str],
        base: str,
        decision_ms: int,
        lookback_ms: int,
        half_life_ms: int,
    ) -> Window:
        """Items of the ``active`` kinds about ``base`` (or market-wide) published in
        ``(decision_ms - lookback_ms, decision_ms]``, weighted by source and recency."""
        index = self._index(kinds, base)
        lo = bisect.bisect_right(index.times_list, decision_ms - lookback_ms)
        hi = bisect.bisect_right(index.times_list, decision_ms)
        if hi <= lo:
            return EMPTY_WINDOW
        ages = (decision_ms - index.times[lo:hi]).astype(np.float64)
        weights = index.weights[lo:hi] * np.exp2(-ages / half_life_ms)
        if active != kinds:
            weights = weights * index.mask(active)[lo:hi]
        total = float(weights.sum())
        if total <= 0.0:
            return EMPTY_WINDOW
        sentiment = float(np.dot(weights, index.scores[lo:hi])) / total
        return Window(
            max(-1.0, min(1.0, sentiment)),
            total,
            int(np.count_nonzero(weights)),
            index.items[lo:hi],
            weights,
        )
