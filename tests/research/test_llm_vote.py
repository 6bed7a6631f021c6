"""``research.llm.vote_weight`` > 0: the LLM's stance on earlier decisions counts in later
ones, against the OpenAI, Anthropic and Ollama stand-ins, never waited for and never in a
replay or backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sigmax.agents.base import PortfolioView
from sigmax.agents.orchestrator import Orchestrator
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.facade import HistoryCache
from sigmax.errors import ConfigError
from sigmax.research.hub import research_from_settings
from sigmax.research.llm.attach import reasoner_from_settings
from sigmax.research.llm.reasoner import evidence_of
from support.research_servers import ANTHROPIC_KEY, OPENAI_KEY, ResearchLoopback

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "ollama": "llama3.1"}


def _use(monkeypatch: pytest.MonkeyPatch, kind: str, server: ResearchLoopback) -> None:
    monkeypatch.setenv("LLM_PROVIDER", kind)
    monkeypatch.setenv("LLM_MODEL", MODELS[kind])
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_URL", f"{server.base_url}/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("ANTHROPIC_URL", server.base_url)
    monkeypatch.setenv("OLLAMA_URL", server.base_url)


def _settings(vote_weight: float) -> Any:
    prices = {"research.llm.prices": {m: ["0.15", "0.60"] for m in MODELS.values()}}
    return load_settings(overrides={"research.llm.vote_weight": vote_weight, **prices})


def _answer(record: dict[str, Any], stance: str, extra: str = "") -> dict[str, str]:
    first = evidence_of(record)["evidence"][0]
    return {
        "bull_argument": f"{first['label']} is in the evidence.{extra}",
        "bear_argument": "The bears see no clear trend.",
        "summary": f"The decision is {record['decision']}.",
        "stance": stance,
    }


async def _run(
    settings: Any, server: ResearchLoopback, stance: str, extra: str = ""
) -> tuple[Orchestrator, list[int], dict[str, Any]]:
    """A live hub whose attacher asked the LLM about the decision at moments[-3]."""
    histories = HistoryCache(DatasetCatalog.from_path(None), settings)
    moments = [int(m) for m in histories("BTC/USDT").decision_moments()]
    hub = research_from_settings(settings)
    orchestrator = Orchestrator(settings, histories, sources=hub.researcher_sources())
    stances = hub.llm_stances(live=True)
    assert stances is not None
    portfolio = PortfolioView.starting(settings.profile.starting_capital_usd)
    first = await orchestrator.decide(histories("BTC/USDT").snapshot(moments[-3]), portfolio)
    record = first.to_dict()
    server.llm_answer = _answer(record, stance, extra)
    reasoner = reasoner_from_settings(settings)
    assert reasoner is not None
    annotation = await reasoner.annotate(record)
    stances.remember(record, annotation)
    return orchestrator, moments, annotation


def _researcher(orchestrator: Orchestrator, moment: int) -> Any:
    settings = orchestrator.settings
    snapshot = orchestrator._history("BTC/USDT").snapshot(moment)
    return orchestrator.researcher.measure(snapshot), orchestrator.assess(
        snapshot, PortfolioView.starting(settings.profile.starting_capital_usd)
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_an_accepted_stance_counts_in_later_decisions_with_its_weight(
    sigmax_home: Path,
    research_server: ResearchLoopback,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    _use(monkeypatch, kind, research_server)
    settings = _settings(0.5)
    orchestrator, moments, annotation = await _run(settings, research_server, "bearish")
    assert annotation["status"] == "ok", annotation
    assert annotation["stance"] == "bearish"
    # The decision the LLM answered about does not read its own answer; the next one does.
    own, _ = _researcher(orchestrator, moments[-3])
    voted, voted_numbers = _researcher(orchestrator, moments[-2])
    assert {r.source: r.available for r in own.readings}["llm"] is False
    llm = {r.source: r for r in voted.readings}["llm"]
    assert (llm.available, llm.score, llm.confidence) == (True, -1.0, 0.5)
    # The same moment without an LLM vote: only the researcher's vote differs, pulled down.
    monkeypatch.delenv("LLM_PROVIDER")
    plain_settings = load_settings()
    plain = Orchestrator(
        plain_settings,
        orchestrator._history,
        sources=research_from_settings(plain_settings).researcher_sources(),
    )
    unvoted, plain_numbers = _researcher(plain, moments[-2])
    assert voted.score < unvoted.score
    assert voted_numbers.score <= plain_numbers.score
    # The explained record quotes the stance as evidence, and equals the numbers path.
    record = await orchestrator.decide(
        orchestrator._history("BTC/USDT").snapshot(moments[-2]),
        PortfolioView.starting(settings.profile.starting_capital_usd),
    )
    keys = {e.key for e in record.agents[0].evidence}
    assert {"llm_stance", "llm_vote_weight"} <= keys
    assert (record.decision, record.score) == (voted_numbers.decision, voted_numbers.score)
    # A stance older than research.max_age_minutes is not read.
    stale = moments[-3] + round(settings.research.max_age_minutes * 60_000) + 3_600_000
    assert "more than" in (
        orchestrator.researcher.sources[-1]
        .measure(orchestrator._history("BTC/USDT").snapshot(stale))
        .reason
    )


@pytest.mark.parametrize(
    ("fault", "extra"), [("429", ""), ("timeout", ""), ("", " Expect 98,765.43 by Friday.")]
)
async def test_a_failing_or_rejected_answer_leaves_the_decision_as_without_an_llm(
    sigmax_home: Path,
    research_server: ResearchLoopback,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    extra: str,
) -> None:
    _use(monkeypatch, "openai", research_server)
    monkeypatch.setenv("OPENAI_URL", f"{research_server.base_url}/v1")
    settings = load_settings(
        overrides={"research.llm.vote_weight": 1.0, "research.llm.timeout_s": 0.5}
    )
    if fault:
        research_server.fail["openai"] = fault
    orchestrator, moments, annotation = await _run(settings, research_server, "bullish", extra)
    assert annotation["status"] == ("rejected" if extra else "failed")
    reading, numbers = _researcher(orchestrator, moments[-2])
    llm = {r.source: r for r in reading.readings}["llm"]
    assert llm.available is False
    assert llm.reason == "no accepted LLM answer about an earlier BTC/USDT decision"
    monkeypatch.delenv("LLM_PROVIDER")
    plain = Orchestrator(load_settings(), orchestrator._history)
    _, plain_numbers = _researcher(plain, moments[-2])
    assert (numbers.decision, numbers.score, numbers.confidence) == (
        plain_numbers.decision,
        plain_numbers.score,
        plain_numbers.confidence,
    )


async def test_replays_and_backtests_never_vote(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, "ollama", research_server)
    settings = _settings(1.0)
    hub = research_from_settings(settings)
    assert hub.llm_stances(live=False) is None  # a replay's attacher keeps no stance
    histories = HistoryCache(DatasetCatalog.from_path(None), settings)
    moment = int(histories("BTC/USDT").decision_moments()[-1])
    reading = hub.researcher_sources()[-1].measure(histories("BTC/USDT").snapshot(moment))
    assert reading.source == "llm"
    assert not reading.available
    assert reading.reason.startswith("the LLM votes only in live runs")


def test_a_vote_weight_needs_a_provider_and_stays_within_0_and_1(sigmax_home: Path) -> None:
    with pytest.raises(ConfigError, match="vote_weight"):
        load_settings(overrides={"research.llm.vote_weight": 0.5})
    with pytest.raises(ConfigError, match="vote_weight"):
        load_settings(
            overrides={
                "research.llm.provider": "ollama",
                "research.llm.model": "gpt-4o-mini",
                "research.llm.vote_weight": 1.5,
            }
        )
