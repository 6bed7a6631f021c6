"""Offline sentiment: VADER with the crypto lexicon per item, and the per-symbol aggregate.

Per item: the item's own ``score`` when its feed gave one (market readings, CryptoPanic votes),
else VADER's compound score of ``title. body`` with :data:`~sigmax.research.lexicon.CRYPTO_LEXICON`
added to VADER's lexicon.

Aggregate at a decision moment *t* over the items published in ``(t - lookback, t]``::

    weight_i    = source_weight(kind_i) * 0.5 ** ((t - published_i) / half_life) * engagement_i
    engagement  = 1 + log10(1 + max(votes, 0))          (1 without votes)
    sentiment   = sum(weight_i * score_i) / sum(weight_i)

so newer items and more trusted sources count more, and an item published after *t* is never
read (the window is cut by ``published <= t``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
    SentimentIntensityAnalyzer,
)

from sigmax.research.items import ResearchItem
from sigmax.research.lexicon import CRYPTO_LEXICON

#: How much each feed kind's items count (news desks over forums, market readings in between).
DEFAULT_SOURCE_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "rss": 1.0,
        "newsapi": 1.0,
        "cryptopanic": 0.8,
        "reddit": 0.5,
        "coingecko": 0.7,
        "fear_greed": 0.7,
        "mempool": 0.7,
    }
)
#: VADER's own thresholds for calling a text positive or negative.
POSITIVE: Final = 0.05
NEGATIVE: Final = -0.05


class SentimentScorer:
    """VADER with the crypto lexicon. One instance scores every item (the lexicon loads once)."""

    def __init__(self, lexicon: Mapping[str, float] = CRYPTO_LEXICON) -> None:
        self._analyzer = SentimentIntensityAnalyzer()
        self._analyzer.lexicon.update(lexicon)

    def compound(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text)["compound"])

    def item(self, item: ResearchItem) -> float:
        """The item's sentiment in [-1, 1]."""
        if item.score is not None:
            return item.score
        return self.compound(item.text())


def label(sentiment: float) -> str:
    if sentiment >= POSITIVE:
        return "positive"
    if sentiment <= NEGATIVE:
        return "negative"
    return "neutral"


def engagement(votes: int | None) -> float:
    return 1.0 if votes is None else 1.0 + math.log10(1 + max(votes, 0))
