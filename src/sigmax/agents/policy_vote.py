"""A learned policy as one more voter of the optimizer (the reinforcement-learning signal).

The orchestrator and the whole-history assessment take an optional :class:`PolicyVoter`; with
none (no model promoted) they are exactly what they were. A voter gives, for a decision, the
policy's action (``long`` or ``flat``) and its probability, read as a vote: score
``2 * P(long) - 1`` (long is for buying, flat against), confidence ``|score|``. Its weight is
the one its promotion set; the implementation lives in :mod:`sigmax.rl.voter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.domain.candles import FloatArray

#: The voter's name in the optimizer's weights and in the decision record.
POLICY_VOTER = "rl"


@dataclass(frozen=True, slots=True)
class PolicyVote:
    """The policy at one decision."""

    action: str
    #: The probability of ``action``.
    probability: float
    long_probability: float
    model: str

    @property
    def score(self) -> float:
        return 2.0 * self.long_probability - 1.0

    @property
    def confidence(self) -> float:
        return abs(self.score)


@dataclass(frozen=True, slots=True)
class PolicyVotes:
    """The policy at every candle close of a history (the batch path)."""

    long_probability: FloatArray

    @property
    def score(self) -> FloatArray:
        values: FloatArray = 2.0 * self.long_probability - 1.0
        return values

    @property
    def confidence(self) -> FloatArray:
        values: FloatArray = np.abs(self.score)
        return values


class PolicyVoter(Protocol):
    """A promoted policy: its weight in the vote and what it says."""

    name: str
    weight: float
    #: The model id, its sha256 and the weight: part of the decisions' configuration digest.
    identity: str

    def vote(self, snapshot: MarketSnapshot) -> PolicyVote: ...

    def votes(self, history: SymbolHistory) -> PolicyVotes: ...
