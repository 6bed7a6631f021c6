"""Each agent's rules on real snapshots and small hand-made cases."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sigmax.agents.analyzer import AnalyzerAgent, swing_levels
from sigmax.agents.base import AnalysisContext, PortfolioView
from sigmax.agents.debate import run_debate
from sigmax.agents.optimizer import OptimizerAgent
from sigmax.agents.orchestrator import build_history
from sigmax.agents.privacy_agent import PrivacyAgent
from sigmax.agents.risk import RiskAgent
from sigmax.config import Settings
from sigmax.domain.candles import CandleSeries, datetime_to_ms
from sigmax.domain.decisions import Action, AgentReport, Claim, Evidence
from sigmax.safety.privacy import PrivacyScanner

AT = datetime_to_ms(datetime(2022, 11, 9, 0, tzinfo=UTC))


def _context(
    settings: Settings,
    series: CandleSeries,
    portfolio: PortfolioView | None = None,
    at_ms: int = AT,
) -> AnalysisContext:
    snapshot = build_history(series, settings).snapshot(at_ms)
    return AnalysisContext(
        snapshot,
        settings.profile_name,
        settings.profile,
        settings.agents,
        portfolio or PortfolioView.starting(Decimal("1000")),
    )


async def test_risk_sizes_from_volatility_and_applies_the_tightest_cap(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    context = _context(settings, bundled_series("BTC/USDT"))
    report = await RiskAgent().analyze(context)
    profile = settings.profile
    atr = context.snapshot.primary.value("atr")
    price = context.snapshot.price
    assert report.status == "ok"
    assert report.details["stop_loss"] == pytest.approx(price - profile.stop_atr_multiple * atr)
    assert report.details["take_profit"] == pytest.approx(
        price + profile.take_profit_atr_multiple * atr
    )
    volatility_size = 1000 * profile.risk_per_trade / (profile.stop_atr_multiple * atr) * price
    expected = min(volatility_size, float(profile.max_position_size), 1000 * 5 / 100, 20.0)
    assert Decimal(report.details["size_usd"]) == Decimal(str(expected)).quantize(Decimal("0.01"))


async def test_risk_vetoes_when_positions_are_full(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    full = PortfolioView(
        Decimal("1000"),
        Decimal("980"),
        {"ETH/USDT": Decimal("10"), "SOL/USDT": Decimal("10")},
    )
    report = await RiskAgent().analyze(_context(settings, bundled_series("BTC/USDT"), full))
    assert report.status == "veto"
    assert report.score == -1.0
    assert "2 positions are open" in report.details["veto"]


async def test_risk_vetoes_when_exposure_is_used_up(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    used = PortfolioView(Decimal("1000"), Decimal("980"), {"BTC/USDT": Decimal("20")})
    report = await RiskAgent().analyze(_context(settings, bundled_series("BTC/USDT"), used))
    assert report.status == "veto"
    assert "exposure room" in report.details["veto"]


async def test_analyzer_scores_every_timeframe(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    report = await AnalyzerAgent().analyze(_context(settings, bundled_series("SOL/USDT")))
    assert set(report.details["timeframes"]) == {"1h", "4h", "1d"}
    assert -1 <= report.score <= 1
    # FTX week: SOL was in free fall, the analysis must lean bearish.
    assert report.score < 0


def test_swing_levels_bracket_the_close(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    view = build_history(bundled_series("BTC/USDT"), settings).snapshot(AT).primary
    support, resistance = swing_levels(view)
    if not math.isnan(support):
        assert support < view.close
    if not math.isnan(resistance):
        assert resistance > view.close


def _report(name: str, score: float, confidence: float = 1.0, weight: float = 0.0) -> AgentReport:
    item = Evidence(f"x@{name}", f"{name} point", weight)
    return AgentReport.from_claims(name, score, confidence, [Claim((item,), weight)])


def test_optimizer_combines_with_weights_and_confidence(settings: Settings) -> None:
    voters = {
        "researcher": _report("researcher", 0.0, 0.6),
        "bull": _report("bull", 1.0),
        "bear": _report("bear", -0.2),
        "analyzer": _report("analyzer", 1.0),
    }
    weights = {"researcher": 0.2, "bull": 0.25, "bear": 0.25, "analyzer": 0.3}
    ok_risk = _report("risk", 0.0)
    verdict = OptimizerAgent().decide(voters, weights, settings.profile, ok_risk, Decimal(0))
    mass = {"researcher": 0.12, "bull": 0.25, "bear": 0.25, "analyzer": 0.3}
    expected = (0.25 * 1.0 - 0.25 * 0.2 + 0.3 * 1.0) / sum(mass.values())
    assert verdict.score == pytest.approx(expected)
    agreement = (0.25 + 0.3) / sum(mass.values())
    strength = min(1.0, expected / settings.profile.buy_threshold)
    assert verdict.confidence == pytest.approx(math.sqrt(strength * agreement))
    assert verdict.action is Action.BUY


def test_optimizer_holds_on_a_veto_and_without_a_position_to_sell(settings: Settings) -> None:
    weights = {"analyzer": 1.0}
    veto = AgentReport.from_claims("risk", -1.0, 1.0, [Claim(("Veto.",))], status="veto")
    buy = OptimizerAgent().decide(
        {"analyzer": _report("analyzer", 0.9)}, weights, settings.profile, veto, Decimal(0)
    )
    assert buy.action is Action.HOLD
    assert "vetoed" in buy.report.argument
    ok = _report("risk", 0.0)
    sell = OptimizerAgent().decide(
        {"analyzer": _report("analyzer", -0.9)}, weights, settings.profile, ok, Decimal(0)
    )
    assert sell.action is Action.HOLD
    assert "no position to sell" in sell.report.argument
    held = OptimizerAgent().decide(
        {"analyzer": _report("analyzer", -0.9)}, weights, settings.profile, ok, Decimal(10)
    )
    assert held.action is Action.SELL


def test_an_unavailable_agent_does_not_vote(settings: Settings) -> None:
    silent = AgentReport.from_claims("researcher", -1.0, 1.0, [], status="unavailable")
    verdict = OptimizerAgent().decide(
        {"researcher": silent, "analyzer": _report("analyzer", 0.6)},
        {"researcher": 0.5, "analyzer": 0.5},
        settings.profile,
        _report("risk", 0.0),
        Decimal(0),
    )
    assert verdict.score == pytest.approx(0.6)


def test_debate_rounds_answer_the_strongest_points() -> None:
    evidence = AgentReport.from_claims(
        "analyzer",
        0.0,
        1.0,
        [
            Claim(("bull strong ", Evidence("a", "A", 1.0)), 0.3),
            Claim(("bull weak ", Evidence("b", "B", 2.0)), 0.1),
            Claim(("bear strong ", Evidence("c", "C", 3.0)), -0.2),
        ],
    )
    outcome = run_debate([evidence], rounds=2)
    assert len(outcome.rounds) == 2
    first = outcome.rounds[0]
    assert first.bull.startswith("Against \u201cbear strong C = 3.00\u201d: bull strong")
    assert first.bear.startswith("Against \u201cbull strong A = 1.00\u201d: bear strong")
    # Rebuttals weaken both sides' surviving strength below what they opened with.
    assert outcome.bull.details["surviving_strength"] < outcome.bull.details["opening_strength"]
    assert 0 < outcome.bull.score < 1
    assert -1 < outcome.bear.score < 0
    assert outcome.bull.score > -outcome.bear.score


def test_privacy_agent_redacts_and_reports_by_place() -> None:
    agent = PrivacyAgent(PrivacyScanner(["sk-live-0123456789abcdef"]))
    screening = agent.screen(
        {
            "bull.argument": "Trend up. Mail trader@example.com, key sk-live-0123456789abcdef",
            "bear.argument": "RSI(14) 1h = 71.20: overbought.",
        }
    )
    assert "sk-live" not in screening.texts["bull.argument"]
    assert "trader@example.com" not in screening.texts["bull.argument"]
    assert screening.texts["bear.argument"] == "RSI(14) 1h = 71.20: overbought."
    kinds = sorted(v["kind"] for v in screening.report.details["violations"])
    assert kinds == ["email", "secret"]
    assert screening.report.status == "violation"
    assert "sk-live" not in str(screening.report.to_dict())


def test_swing_levels_match_a_brute_force_search(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> None:
    from sigmax.agents.analyzer import SWING_LOOKBACK, SWING_WING

    history = build_history(bundled_series("ETH/USDT"), settings)
    for at in history.decision_moments()[500::2500]:
        view = history.snapshot(int(at)).primary
        highs = list(view.window("high", SWING_LOOKBACK))
        lows = list(view.window("low", SWING_LOOKBACK))
        w = SWING_WING
        tops = [
            highs[i] for i in range(w, len(highs) - w) if highs[i] == max(highs[i - w : i + w + 1])
        ]
        bottoms = [
            lows[i] for i in range(w, len(lows) - w) if lows[i] == min(lows[i - w : i + w + 1])
        ]
        above = [t for t in tops if t > view.close]
        below = [b for b in bottoms if b < view.close]
        support, resistance = swing_levels(view)
        assert (min(above) if above else math.nan) == resistance or (
            not above and math.isnan(resistance)
        )
        assert (max(below) if below else math.nan) == support or (not below and math.isnan(support))
