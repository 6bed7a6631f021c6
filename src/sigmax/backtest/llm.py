"""The LLM in a backtest (``sigmax backtest --llm``): its text on the recorded decisions and, with
``research.llm.vote_weight`` > 0, its stance in later decisions, in market time.

A backtest has no wall clock, so nothing may depend on when an answer arrives. The rule:

* every decision the backtest records (those that order) is answered after the engine made it,
  from its evidence, as a run's attacher does; the numbers were decided first;
* with a vote, the recorded decisions of a group of candles are answered before the engine
  steps the next group, and awaited: a decision at *t* reads the stance of the newest recorded
  decision of its symbol at *t'* < *t* (within ``research.max_age_minutes``), never one about
  *t* or later. The same candles and answers give the same decisions, however slow the LLM;
* without a vote the answers are asked for after the run, in the order of the decisions.

Answers come from the reply cache when the same evidence was answered before (the SQLite file
under SIGMAX_HOME, or Redis), kept without expiry for backtests: a rerun makes no call and gets
the same texts, so the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import DecisionRecord
from sigmax.research.llm.reasoner import MICRO, LlmReasoner
from sigmax.research.llm.stance import ACCEPTED, LlmStances

log = logging.getLogger(__name__)

#: What the result keeps of an answer: the texts and why not, never timing or cost (a rerun
#: answered from the cache must give the same result).
KEPT_FIELDS: Final = (
    "stance",
    "bull_argument",
    "bear_argument",
    "summary",
    "reason",
    "error",
    "evidence_digest",
)


class BacktestLlm:
    """Asks the reasoner about a backtest's recorded decisions, each once, in market order."""

    def __init__(
        self, reasoner: LlmReasoner, *, vote_weight: float, stances: LlmStances | None
    ) -> None:
        """``stances``: where accepted stances go when the LLM votes (None: it does not)."""
        self.reasoner = reasoner
        self.vote_weight = vote_weight
        self.stances = stances
        self.answers: dict[str, dict[str, Any]] = {}
        self._records: dict[str, DecisionRecord] = {}

    @property
    def votes(self) -> bool:
        return self.stances is not None

    def identity(self) -> dict[str, Any]:
        """What a backtest's configuration (and so its id) says about the LLM."""
        provider = self.reasoner.provider
        return {
            "provider": provider.name,
            "model": provider.model,
            "vote_weight": self.vote_weight,
        }

    async def answer(self, records: Iterable[DecisionRecord]) -> None:
        """Ask about each record not answered yet, oldest first (ties by symbol, then id)."""
        waiting = sorted(
            (r for r in records if r.id not in self.answers),
            key=lambda r: (r.timestamp_ms, r.symbol, r.id),
        )
        for record in waiting:
            document = record.to_dict()
            annotation = await self.reasoner.annotate(document)
            if self.stances is not None:
                self.stances.remember(document, annotation)
            if annotation["status"] not in ACCEPTED:
                log.warning(
                    "LLM reasoning for backtest decision %s at %s: %s (%s)",
                    record.id,
                    ms_to_iso(record.timestamp_ms),
                    annotation["status"],
                    annotation.get("reason", ""),
                )
            self.answers[record.id] = annotation
            self._records[record.id] = record

    def summary_of(self, decision_id: str | None) -> str | None:
        """The accepted answer's summary of a decision, for the trade's explanation."""
        answer = self.answers.get(decision_id or "")
        if answer is None or answer["status"] not in ACCEPTED:
            return None
        return str(answer.get("summary", "")) or None

    def usage(self) -> dict[str, Any]:
        """Calls made, answers from the cache and their cost (shown, not part of the result)."""
        return {
            "calls": self.reasoner.calls,
            "cached": self.reasoner.cached,
            "cost_usd": str(Decimal(self.reasoner.spent_micro_usd) / MICRO),
        }

    def to_result(self) -> dict[str, Any]:
        """The result's ``llm`` section: the identity and each answer, in decision order.

        ``ok`` (asked now) and ``cached`` (answered before) are both ``accepted``: the same
        evidence gets the same text either way, and the result must not depend on which."""
        answers = []
        for decision_id, annotation in self.answers.items():
            record = self._records[decision_id]
            status = str(annotation["status"])
            entry: dict[str, Any] = {
                "decision_id": decision_id,
                "symbol": record.symbol,
                "timestamp": ms_to_iso(record.timestamp_ms),
                "decision": record.decision.value,
                "status": "accepted" if status in ACCEPTED else status,
            }
            entry.update({k: annotation[k] for k in KEPT_FIELDS if k in annotation})
            answers.append(entry)
        return {**self.identity(), "answers": answers}
