"""The LLM reasoning step: evidence in, three screened texts out, within budget, after the fact.

:meth:`LlmReasoner.annotate` takes a recorded decision (its stored dict) and returns what is
attached to it as ``llm``:

1. the prompt is built from the record's structured evidence only (each agent's evidence items
   as ``key``, ``label``, ``value``, and the decision's action, score and confidence); headlines
   and other web text never reach it; the privacy agent screens it (no secret or personal data
   leaves);
2. the reply cache is keyed by a digest of provider, model and prompt: the same evidence is
   answered from the cache, free and identical (a rerun of a backtest costs nothing);
3. the daily budget (USD from the configured price table, and tokens) is checked against the
   call's worst case before it is made, and charged with what the provider counted after;
   once spent, calls stop and the status says ``budget_spent``;
4. the answer must be the JSON schema's object (three texts and a stance: bullish, bearish or
   neutral), and every number in it must be one of the evidence's numbers (its value as the
   record writes it, or rounded to fewer decimals, or a number in a label such as the 14 of
   ``RSI(14)``): an invented number rejects the answer, stance included.

The decision itself never waits for this and never changes because of it. With
``research.llm.vote_weight`` > 0 a live run's *later* decisions read the stance, and a
backtest's asked with ``--llm``, in market time (:mod:`sigmax.research.llm.stance`,
:mod:`sigmax.backtest.llm`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any, Final

from sigmax.agents.privacy_agent import PrivacyAgent
from sigmax.domain.decisions import format_value
from sigmax.research.cache import CacheError, ResearchCache
from sigmax.research.llm.providers import ANSWER_SCHEMA, LlmError, LlmProvider

SYSTEM: Final = (
    "You are the explanation writer of a trading system. You receive the evidence a "
    "deterministic decision used, as JSON. Write a bull argument, a bear argument and a short "
    "summary of the decision in plain English. Use only the evidence given: quote a number only "
    "if it appears in the evidence, written as the evidence writes it, and never invent prices, "
    "percentages or dates. Give your stance on the market from the same evidence: bullish, "
    "bearish or neutral. Answer with one JSON object with the keys bull_argument, "
    "bear_argument, summary and stance."
)
#: Characters per token for the worst-case estimate before a call (English text is ~4).
CHARS_PER_TOKEN: Final = 3
BUDGET_TTL_S: Final = 2 * 86_400
CACHE_TTL_S: Final = 90 * 86_400
_NUMBER: Final = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?")
MICRO: Final = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens."""

    input_usd: Decimal
    output_usd: Decimal

    def micro_usd(self, input_tokens: int, output_tokens: int) -> int:
        """The cost in millionths of a USD, rounded up (USD per million tokens = micro-USD per
        token, so this is exact)."""
        cost = self.input_usd * input_tokens + self.output_usd * output_tokens
        return int(cost.to_integral_value(rounding=ROUND_CEILING))


def evidence_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The structured evidence of a stored record: what the LLM may read, nothing else."""
    items = []
    seen: set[str] = set()
    for agent in record.get("agents") or []:
        for item in agent.get("evidence") or []:
            key = f"{agent.get('name')}.{item.get('key')}"
            value = item.get("value")
            if key in seen or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            seen.add(key)
            items.append({"key": key, "label": str(item.get("label")), "value": value})
    return {
        "symbol": record.get("symbol"),
        "decision": record.get("decision"),
        "score": record.get("score"),
        "confidence": record.get("confidence"),
        "evidence": items,
    }


def allowed_numbers(evidence: Mapping[str, Any]) -> tuple[set[str], list[float]]:
    """Number texts that may appear in an answer, and the values they may round from."""
    texts: set[str] = set()
    values: list[float] = []
    for name in ("score", "confidence"):
        value = evidence.get(name)
        if isinstance(value, int | float):
            values.append(float(value))
    for item in evidence.get("evidence") or []:
        values.append(float(item["value"]))
        texts.update(_canonical(n) for n in _NUMBER.findall(str(item["label"])))
    for value in values:
        texts.add(_canonical(format_value(value)))
    return texts, values


def _canonical(text: str) -> str:
    cleaned = text.replace(",", "").lstrip("+")
    if "." in cleaned:
        cleaned = cleaned.rstrip("0").rstrip(".")
    return "0" if cleaned in ("-0", "") else cleaned


def invented_numbers(answer: Mapping[str, str], evidence: Mapping[str, Any]) -> list[str]:
    """The numbers of ``answer`` that are not in ``evidence`` (empty: the answer may be used)."""
    texts, values = allowed_numbers(evidence)
    invented = []
    for text in answer.values():
        for found in _NUMBER.findall(text):
            canonical = _canonical(found)
            if canonical in texts:
                continue
            decimals = len(canonical.split(".")[1]) if "." in canonical else 0
            number = float(canonical)
            # A value written with fewer decimals (52.1 for 52.104) or as its magnitude.
            if any(
                math.isclose(round(v, decimals), number, abs_tol=1e-9)
                or math.isclose(round(abs(v), decimals), number, abs_tol=1e-9)
                for v in values
            ):
                continue
            invented.append(found)
    return invented


def parse_answer(text: str) -> dict[str, str]:
    """The answer's object, checked against :data:`ANSWER_SCHEMA`; ValueError names the rule."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("the answer is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    required = ANSWER_SCHEMA["required"]
    extra = sorted(set(document) - set(required))
    if extra:
        raise ValueError(f"the answer has a field the schema does not allow: {extra[0]}")
    for name in required:
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the answer's {name} is missing or not text")
    stances = ANSWER_SCHEMA["properties"]["stance"]["enum"]
    if document["stance"].strip() not in stances:
        raise ValueError(f"the answer's stance must be one of {', '.join(stances)}")
    return {name: document[name].strip() for name in required}


class LlmBudget:
    """The day's spending (micro-USD) and tokens, kept in the research cache (Redis when
    REDIS_URL is set, so every process of one home shares it)."""

    def __init__(
        self,
        cache: ResearchCache,
        *,
        daily_usd: Decimal,
        daily_tokens: int,
        clock: Any = None,
    ) -> None:
        self.cache = cache
        self.daily_micro = int((daily_usd * MICRO).to_integral_value())
        self.daily_tokens = daily_tokens
        self._clock = clock or (lambda: time.time())

    def _day(self) -> str:
        return datetime.fromtimestamp(self._clock(), tz=UTC).strftime("%Y-%m-%d")

    async def spent(self) -> tuple[int, int]:
        day = self._day()
        micro = await self.cache.get(f"llm:budget:{day}:micro_usd")
        tokens = await self.cache.get(f"llm:budget:{day}:tokens")
        return (int(micro) if micro else 0, int(tokens) if tokens else 0)

    async def refusal(self, worst_micro: int, worst_tokens: int) -> str | None:
        """Why a call of this worst case may not be made today, or None."""
        micro, tokens = await self.spent()
        if micro + worst_micro > self.daily_micro:
            return (
                f"the daily LLM budget is spent: {Decimal(micro) / MICRO} of "
                f"{Decimal(self.daily_micro) / MICRO} USD used, this call could cost up to "
                f"{Decimal(worst_micro) / MICRO} USD (LLM_DAILY_BUDGET_USD)"
            )
        if tokens + worst_tokens > self.daily_tokens:
            return (
                f"the daily LLM token budget is spent: {tokens} of {self.daily_tokens} tokens "
                f"used, this call could use up to {worst_tokens} (research.llm.daily_token_budget)"
            )
        return None

    async def charge(self, micro: int, tokens: int) -> None:
        day = self._day()
        await self.cache.incr(f"llm:budget:{day}:micro_usd", micro, BUDGET_TTL_S)
        await self.cache.incr(f"llm:budget:{day}:tokens", tokens, BUDGET_TTL_S)


class LlmReasoner:
    """One provider, its prices, the budget, the reply cache and the privacy screen."""

    def __init__(
        self,
        provider: LlmProvider,
        prices: Prices,
        budget: LlmBudget,
        cache: ResearchCache,
        privacy: PrivacyAgent,
        *,
        max_output_tokens: int,
        reply_ttl_s: float | None = CACHE_TTL_S,
    ) -> None:
        """``reply_ttl_s``: how long an accepted answer is kept (None: until the cache is
        deleted, a backtest's, so that its reruns stay free and identical)."""
        self.provider = provider
        self.prices = prices
        self.budget = budget
        self.cache = cache
        self.privacy = privacy
        self.max_output_tokens = max_output_tokens
        self.reply_ttl_s = reply_ttl_s
        #: Calls made to the provider, answers taken from the cache, and what the calls cost.
        self.calls = 0
        self.cached = 0
        self.spent_micro_usd = 0

    async def close(self) -> None:
        await self.cache.close()
        if self.budget.cache is not self.cache:
            await self.budget.cache.close()

    def prompt(self, record: Mapping[str, Any]) -> tuple[str, dict[str, Any], int]:
        """The screened prompt, the evidence it holds, and how many findings were redacted."""
        evidence = evidence_of(record)
        text = (
            "Evidence of the decision (JSON):\n"
            + json.dumps(evidence, sort_keys=True, separators=(",", ":"))
            + "\nRewrite the bull argument, the bear argument and the summary from it."
        )
        screening = self.privacy.screen({"llm.prompt": text})
        return (
            screening.texts["llm.prompt"],
            evidence,
            len(screening.report.details.get("violations", [])),
        )

    async def annotate(self, record: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        prompt, evidence, redacted = self.prompt(record)
        digest = hashlib.sha256(
            f"{self.provider.name}|{self.provider.model}|{SYSTEM}|{prompt}".encode()
        ).hexdigest()
        base: dict[str, Any] = {
            "provider": self.provider.name,
            "model": self.provider.model,
            "evidence_digest": digest[:16],
            "prompt_redactions": redacted,
        }

        def done(status: str, **fields: Any) -> dict[str, Any]:
            latency = round((time.perf_counter() - started) * 1000.0, 3)
            return {"status": status, **base, **fields, "latency_ms": latency}

        try:
            cached = await self.cache.get(f"llm:reply:{digest}")
        except CacheError as error:
            return done("failed", reason=str(error))
        if cached is not None:
            self.cached += 1
            return done("cached", **json.loads(cached))
        worst_tokens = len(SYSTEM + prompt) // CHARS_PER_TOKEN + self.max_output_tokens
        worst_micro = self.prices.micro_usd(
            len(SYSTEM + prompt) // CHARS_PER_TOKEN, self.max_output_tokens
        )
        try:
            refusal = await self.budget.refusal(worst_micro, worst_tokens)
        except CacheError as error:
            return done("failed", reason=str(error))
        if refusal is not None:
            return done("budget_spent", reason=refusal)
        self.calls += 1
        try:
            reply = await self.provider.complete(SYSTEM, prompt, self.max_output_tokens)
        except LlmError as error:
            return done("failed", reason=str(error), error=error.code)
        micro = self.prices.micro_usd(reply.input_tokens, reply.output_tokens)
        self.spent_micro_usd += micro
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cost_usd": str(Decimal(micro) / MICRO),
        }
        try:
            await self.budget.charge(micro, reply.input_tokens + reply.output_tokens)
        except CacheError as error:
            return done("failed", reason=str(error), **usage)
        try:
            answer = parse_answer(reply.text)
        except ValueError as error:
            return done("rejected", reason=str(error), **usage)
        invented = invented_numbers(answer, evidence)
        if invented:
            return done(
                "rejected",
                reason="the answer quotes numbers that are not in the evidence: "
                + ", ".join(invented[:10]),
                **usage,
            )
        screened = self.privacy.screen({f"llm.{k}": v for k, v in answer.items()}).texts
        texts = {k: screened[f"llm.{k}"] for k in answer}
        try:
            await self.cache.set(
                f"llm:reply:{digest}", json.dumps(texts).encode(), self.reply_ttl_s
            )
        except CacheError as error:
            return done("failed", reason=str(error), **usage)
        return done("ok", **texts, **usage)
