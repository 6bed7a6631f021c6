"""The optional LLM reasoning against stand-ins of the OpenAI, Anthropic and Ollama APIs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sigmax.agents.base import PortfolioView
from sigmax.agents.orchestrator import Orchestrator
from sigmax.agents.privacy_agent import PrivacyAgent
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.decisions import format_value
from sigmax.engine.facade import SIGMAX, HistoryCache
from sigmax.research.cache import MemoryCache
from sigmax.research.llm.providers import (
    AnthropicProvider,
    LlmProvider,
    OllamaProvider,
    OpenAIProvider,
)
from sigmax.research.llm.reasoner import LlmBudget, LlmReasoner, Prices, evidence_of
from sigmax.safety.privacy import PrivacyScanner
from support.research_servers import ANTHROPIC_KEY, OPENAI_KEY, ResearchLoopback

PRICES = Prices(Decimal("0.15"), Decimal("0.60"))


async def _record(settings: Any) -> dict[str, Any]:
    histories = HistoryCache(DatasetCatalog.from_path(None), settings)
    moment = int(histories("BTC/USDT").decision_moments()[-1])
    orchestrator = Orchestrator(settings, histories)
    record = await orchestrator.decide(
        histories("BTC/USDT").snapshot(moment),
        PortfolioView.starting(settings.profile.starting_capital_usd),
    )
    return record.to_dict()


def _provider(kind: str, server: ResearchLoopback, timeout_s: float = 2.0) -> LlmProvider:
    if kind == "openai":
        return OpenAIProvider(
            f"{server.base_url}/v1", SecretStr(OPENAI_KEY), "gpt-4o-mini", timeout_s
        )
    if kind == "anthropic":
        return AnthropicProvider(
            server.base_url, SecretStr(ANTHROPIC_KEY), "claude-haiku-4-5", timeout_s
        )
    return OllamaProvider(server.base_url, "llama3.1", timeout_s)


def _reasoner(
    provider: LlmProvider,
    *,
    budget_usd: str = "1",
    tokens: int = 1_000_000,
    secrets: list[str] | None = None,
) -> LlmReasoner:
    cache = MemoryCache()
    return LlmReasoner(
        provider,
        PRICES,
        LlmBudget(cache, daily_usd=Decimal(budget_usd), daily_tokens=tokens),
        cache,
        PrivacyAgent(PrivacyScanner(secrets or [])),
        max_output_tokens=300,
    )


def _answer_quoting(record: dict[str, Any], extra: str = "") -> dict[str, str]:
    value = evidence_of(record)["evidence"][0]
    return {
        "bull_argument": f"{value['label']} stands at {format_value(value['value'])}.{extra}",
        "bear_argument": "The bears see no clear trend.",
        "summary": f"The decision is {record['decision']}.",
        "stance": "bullish",
    }


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_each_provider_rewrites_the_texts_from_the_evidence(
    sigmax_home: Path, research_server: ResearchLoopback, kind: str
) -> None:
    record = await _record(load_settings())
    research_server.llm_answer = _answer_quoting(record)
    reasoner = _reasoner(_provider(kind, research_server))
    annotation = await reasoner.annotate(record)
    assert annotation["status"] == "ok", annotation
    assert annotation["bull_argument"] == research_server.llm_answer["bull_argument"]
    assert annotation["input_tokens"] == 400
    assert annotation["output_tokens"] == 120
    # 400 x 0.15 + 120 x 0.60 micro-USD = 132 micro-USD, exactly.
    assert annotation["cost_usd"] == "0.000132"
    sent = research_server.requests[-1]["body"].replace('\\"', '"')
    assert '"evidence"' in sent
    # Only structured evidence: no headline, argument or other text of the record is sent.
    assert record["reasoning"]["technical_analysis"][:40] not in sent
    # The same evidence again is answered by the cache: free and identical.
    again = await reasoner.annotate(record)
    assert again["status"] == "cached"
    assert again["bull_argument"] == annotation["bull_argument"]
    assert research_server.hits[kind] == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_an_invented_number_rejects_the_answer(
    sigmax_home: Path, research_server: ResearchLoopback, kind: str
) -> None:
    record = await _record(load_settings())
    research_server.llm_answer = _answer_quoting(record, " Expect 98,765.43 by Friday.")
    annotation = await _reasoner(_provider(kind, research_server)).annotate(record)
    assert annotation["status"] == "rejected"
    assert "98,765.43" in annotation["reason"]
    assert "bull_argument" not in annotation


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
@pytest.mark.parametrize(
    ("fault", "error"), [("timeout", "timeout"), ("429", "rate_limited"), ("malformed", None)]
)
async def test_a_failing_provider_is_reported_not_raised(
    sigmax_home: Path, research_server: ResearchLoopback, kind: str, fault: str, error: str | None
) -> None:
    record = await _record(load_settings())
    research_server.fail[kind] = fault
    annotation = await _reasoner(_provider(kind, research_server, timeout_s=0.5)).annotate(record)
    assert annotation["status"] in ("failed", "rejected")
    if error is not None:
        assert annotation["error"] == error
    assert "summary" not in annotation


async def test_the_budget_stops_calls_when_spent(
    sigmax_home: Path, research_server: ResearchLoopback
) -> None:
    settings = load_settings()
    record = await _record(settings)
    research_server.llm_answer = _answer_quoting(record)
    # Room for one call's worst case (~300 output tokens x 0.60 + the prompt), not two.
    reasoner = _reasoner(_provider("openai", research_server), budget_usd="0.0007")
    first = await reasoner.annotate(record)
    assert first["status"] == "ok"
    other = dict(record, decision="SELL" if record["decision"] != "SELL" else "BUY")
    second = await reasoner.annotate(other)
    assert second["status"] == "budget_spent"
    assert "LLM_DAILY_BUDGET_USD" in second["reason"]
    assert research_server.hits["openai"] == 1  # the second call was never made
    tokens = _reasoner(_provider("openai", research_server), tokens=100)
    assert (await tokens.annotate(record))["status"] == "budget_spent"


async def test_the_prompt_is_screened_and_holds_no_secret(
    sigmax_home: Path, research_server: ResearchLoopback
) -> None:
    record = await _record(load_settings())
    leaked = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o"
    record["agents"][0]["evidence"].append(
        {"key": "x", "label": f"contact ops@desk.example {leaked}", "value": 1.0}
    )
    reasoner = _reasoner(_provider("ollama", research_server), secrets=[leaked])
    research_server.llm_answer = _answer_quoting(record)
    annotation = await reasoner.annotate(record)
    sent = research_server.requests[-1]["body"].replace('\\"', '"')
    assert leaked not in sent
    assert "ops@desk.example" not in sent
    assert annotation["prompt_redactions"] >= 2


async def test_a_failing_llm_leaves_the_recorded_decision_and_its_timing_intact(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = []
    for provider in (None, "openai"):
        if provider is not None:
            monkeypatch.setenv("LLM_PROVIDER", provider)
            monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
            monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
            monkeypatch.setenv("OPENAI_URL", f"{research_server.base_url}/v1")
            research_server.fail["openai"] = "429"
        sigmax = SIGMAX(console_log=False)
        await sigmax.initialize()
        try:
            record = await sigmax.analyze("BTC/USDT")
            stored_before = sigmax.decisions.get(record.id)
            llm = await sigmax.llm_reasoning(record)
            stored_after = sigmax.decisions.get(record.id)
        finally:
            await sigmax.stop()
        documents.append((record, stored_before, llm, stored_after))
    (plain, _, no_llm, _), (record, before, llm, after) = documents
    assert no_llm is None
    assert before is not None
    assert after is not None
    assert "llm" not in before  # recorded first, without waiting for the LLM
    assert llm is not None
    assert llm["status"] == "failed"
    assert llm["error"] == "rate_limited"
    assert after["llm"]["status"] == "failed"
    for name in ("decision", "score", "confidence", "size_usd", "reasoning", "agents"):
        if name != "agents":
            assert after[name] == before[name]
    assert (record.decision, record.score, record.confidence) == (
        plain.decision,
        plain.score,
        plain.confidence,
    )
    # The decision was timed and stored before the LLM was asked.
    assert after["latency_ms"] == before["latency_ms"]
