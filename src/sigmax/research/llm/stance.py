"""The LLM's vote: its stance on earlier decisions, read by later ones, never waited for.

With ``research.llm.vote_weight`` > 0 the researcher gets an ``llm`` source. The stance the LLM
gave (bullish +1, bearish -1, neutral 0) in an accepted answer about a symbol's recorded
decision at *t'* is kept in :class:`LlmStances`; a decision at *t* > *t'* reads the newest such
stance, as long as *t - t'* is within ``research.max_age_minutes``, with confidence
``vote_weight`` in the researcher's confidence-weighted mean (the other sources' confidences are
at most 0.6). So:

* the decision never waits: it reads what has arrived, as it reads feeds fetched ahead;
* no look-ahead: the stance was formed from the evidence of a decision at *t'* < *t*, which saw
  nothing after *t'*;
* a failing, rejected (an invented number) or budget-stopped answer leaves no stance: the
  source is unavailable with its reason and the decision is what it would be without an LLM;
* a live run feeds the book as its answers arrive in wall time; a backtest asked with
  ``--llm`` feeds it in market time, answering each group's recorded decisions before the
  next group is decided (:mod:`sigmax.backtest.llm`). A replay, or a backtest without
  ``--llm``, whose decisions must not depend on when an answer arrives, never gets a stance
  and says so.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sigmax.agents.base import AnalysisContext
from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.researcher import SourceReading
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Claim, Evidence
from sigmax.research.items import parse_time

STANCE_VALUES: Final[Mapping[str, float]] = {"bullish": 1.0, "bearish": -1.0, "neutral": 0.0}
#: Stances kept per symbol (a live run reads only the newest fresh one).
KEPT: Final = 256
ACCEPTED: Final = ("ok", "cached")


@dataclass(frozen=True, slots=True)
class Stance:
    decision_ms: int
    decision_id: str
    stance: str

    @property
    def value(self) -> float:
        return STANCE_VALUES[self.stance]


class LlmStances:
    """The accepted stances per symbol, ordered by the time of the decision they answered."""

    def __init__(self) -> None:
        self._by_symbol: dict[str, list[Stance]] = {}
        self._times: dict[str, list[int]] = {}

    def remember(self, record: Mapping[str, Any], annotation: Mapping[str, Any]) -> bool:
        """Keep the stance of an accepted answer about a stored record; False when the answer
        was not accepted (failed, rejected, budget spent) or holds no stance."""
        stance = annotation.get("stance")
        if annotation.get("status") not in ACCEPTED or stance not in STANCE_VALUES:
            return False
        symbol = str(record["symbol"])
        entry = Stance(parse_time(str(record["timestamp"])), str(record["id"]), str(stance))
        times = self._times.setdefault(symbol, [])
        stances = self._by_symbol.setdefault(symbol, [])
        at = bisect.bisect_right(times, entry.decision_ms)
        times.insert(at, entry.decision_ms)
        stances.insert(at, entry)
        del times[:-KEPT], stances[:-KEPT]
        return True

    def latest_before(self, symbol: str, decision_ms: int) -> Stance | None:
        """The newest stance about a decision strictly before ``decision_ms``."""
        times = self._times.get(symbol)
        if not times:
            return None
        at = bisect.bisect_left(times, decision_ms)
        return self._by_symbol[symbol][at - 1] if at > 0 else None


class LlmStanceSource:
    """The researcher's ``llm`` source over :class:`LlmStances` (see the module docstring)."""

    name = "llm"

    def __init__(
        self, stances: LlmStances, *, vote_weight: float, max_age_ms: int, live: bool
    ) -> None:
        if not 0 < vote_weight <= 1:
            raise ValueError(f"vote_weight must be in (0, 1] (got {vote_weight})")
        self.stances = stances
        self.vote_weight = vote_weight
        self.max_age_ms = max_age_ms
        self.live = live

    def _stance(self, snapshot: MarketSnapshot) -> tuple[Stance | None, str]:
        if not self.live:
            return None, (
                "the LLM votes only in live runs and in backtests asked with --llm: a "
                "replay's decisions never depend on when an answer arrives"
            )
        stance = self.stances.latest_before(snapshot.symbol, snapshot.decision_ms)
        if stance is None:
            return None, f"no accepted LLM answer about an earlier {snapshot.symbol} decision"
        if snapshot.decision_ms - stance.decision_ms > self.max_age_ms:
            return None, (
                f"the newest accepted LLM answer is about the decision at "
                f"{ms_to_iso(stance.decision_ms)}, more than "
                f"{self.max_age_ms / 60_000:g} min before this one"
            )
        return stance, ""

    def measure(self, snapshot: MarketSnapshot) -> SourceReading:
        stance, reason = self._stance(snapshot)
        if stance is None:
            return SourceReading(self.name, False, reason=reason)
        return SourceReading(
            self.name,
            True,
            score=stance.value,
            confidence=self.vote_weight,
            claim_weights=(stance.value,),
        )

    def explain(self, context: AnalysisContext, reading: SourceReading) -> tuple[Claim, ...]:
        stance, _ = self._stance(context.snapshot)
        if stance is None:
            raise ValueError(f"explain needs an available llm reading for {context.snapshot}")
        return (
            Claim(
                (
                    f"LLM stance, from the evidence of the decision at "
                    f"{ms_to_iso(stance.decision_ms)}: {stance.stance} (",
                    Evidence("llm_stance", "stance (+1 bullish, -1 bearish)", stance.value),
                    ", ",
                    Evidence("llm_vote_weight", "vote weight", self.vote_weight),
                    ").",
                ),
                reading.claim_weights[0],
            ),
        )
