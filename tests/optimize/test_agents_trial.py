"""An agents trial: the searched config paths reach the backtest, and a combination the
settings refuse is an invalid trial naming the rule."""

from __future__ import annotations

from pathlib import Path

from optimize.helpers import WINDOW
from sigmax.cli.analyze_cmd import parse_moment
from sigmax.optimize.space import build_space, parse_param
from sigmax.optimize.study import StudyRequest, plan_study
from sigmax.optimize.trial import evaluate


def test_agents_parameters_reach_the_backtest(sigmax_home: Path) -> None:
    space = build_space(
        "agents",
        [
            parse_param("profile.buy_threshold=0.1..1", "agents"),
            parse_param("agents.analyzer.indicators.macd_fast=5..30", "agents"),
        ],
    )
    plan = plan_study(
        StudyRequest(
            strategy="agents",
            space=space,
            home=sigmax_home,
            folds=2,
            symbols=("BTC/USDT",),
            start_ms=parse_moment(WINDOW[0], "--from"),
            until_ms=parse_moment(WINDOW[1], "--to"),
            jobs=0,
            overrides={"safety.max_consecutive_losses": 1000, "safety.max_daily_loss_usd": 100000},
        )
    )
    assert plan.baseline["params"] == {
        "profile.buy_threshold": 0.5,
        "agents.analyzer.indicators.macd_fast": 12,
    }
    eager = evaluate(plan.spec, {"profile.buy_threshold": 0.1})
    never = evaluate(plan.spec, {"profile.buy_threshold": 1.0})
    # A threshold of 1 is a combined score no candle reaches: no trade at all.
    assert never["out_of_sample_metrics"]["trades"] == 0
    assert eager["out_of_sample_metrics"]["trades"] > 0
    assert eager["backtest_id"] != never["backtest_id"]
    assert len(eager["folds"]) == 2
    refused = evaluate(plan.spec, {"agents.analyzer.indicators.macd_fast": 30})
    assert "macd_fast" in refused["invalid"]
    assert "macd_slow" in refused["invalid"]
