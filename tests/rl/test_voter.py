"""The policy as the optimizer's eighth input: its vote in the decision, the record and the
whole-history assessment, equal to each other; without a promoted model nothing changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from sigmax.agents.base import PortfolioView
from sigmax.agents.batch import assess_history
from sigmax.agents.orchestrator import Orchestrator, build_history
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.voter import NetworkVoter, voter_in

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def _network(seed: int = 11) -> PolicyNetwork:
    generator = np.random.default_rng(seed)
    sizes = [30, 16, 2]
    return PolicyNetwork(
        tuple(generator.normal(0, 0.6, (sizes[k + 1], sizes[k])) for k in range(2)),
        tuple(generator.normal(0, 0.1, sizes[k + 1]) for k in range(2)),
        "discrete",
    )


@pytest.fixture(scope="module")
def history():  # type: ignore[no-untyped-def]
    settings = load_settings(config_dir=REPO_CONFIG, env={}, profile="aggressive")
    series = DatasetCatalog.bundled().load("ETH/USDT", "1h").series[12_000:16_000]
    return settings, build_history(series, settings)


async def test_the_vote_is_in_the_assessment_the_record_and_the_batch(history) -> None:  # type: ignore[no-untyped-def]
    settings, symbol_history = history
    voter = NetworkVoter(_network(), "0123456789abcdef", "f" * 64, 0.4)
    with_policy = Orchestrator(settings, lambda _: symbol_history, voter=voter)
    without = Orchestrator(settings, lambda _: symbol_history)
    batch = assess_history(symbol_history, settings, voter)
    plain = assess_history(symbol_history, settings)
    moments = symbol_history.decision_moments()
    portfolio = PortfolioView(Decimal("1000"), Decimal("990"), {"ETH/USDT": Decimal("10")})
    moved = 0
    for index in [0, 3, 50, 400, *range(700, len(moments), 211), len(moments) - 1]:
        snapshot = symbol_history.snapshot(int(moments[index]))
        fast = with_policy.assess(snapshot, portfolio)
        assert (fast.score, fast.confidence) == (batch.score[index], batch.confidence[index])
        if fast.decision.value != "HOLD":
            assert batch.candidate[index]
        record = await with_policy.decide(snapshot, portfolio)
        assert (record.decision, record.score, record.confidence) == (
            fast.decision,
            fast.score,
            fast.confidence,
        )
        rl = next(a for a in record.agents if a.name == "rl")
        vote = voter.vote(snapshot)
        assert rl.details["action"] == vote.action
        assert rl.details["probability"] == round(vote.probability, 6)
        assert rl.details["model"] == "0123456789abcdef"
        assert "rl" in record.agents[-1].details["voters"]  # the optimizer counted it
        assert "probability" in rl.argument
        other = without.assess(snapshot, portfolio)
        assert other.id != fast.id  # a policy's decisions are other decisions
        moved += int(other.score != fast.score)
    assert moved > 0
    assert not np.array_equal(plain.score, batch.score)


def test_no_promotion_means_no_voter(tmp_path: Path) -> None:
    assert voter_in(tmp_path) is None


async def test_why_shows_the_policys_action_and_probability(history) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    from sigmax.cli.analyze_cmd import render_decision

    settings, symbol_history = history
    voter = NetworkVoter(_network(), "0123456789abcdef", "f" * 64, 0.4)
    orchestrator = Orchestrator(settings, lambda _: symbol_history, voter=voter)
    snapshot = symbol_history.snapshot(int(symbol_history.decision_moments()[-1]))
    record = await orchestrator.decide(snapshot, PortfolioView.starting(Decimal("1000")))
    console = Console(record=True, width=200)
    render_decision(record.to_dict(), console)
    text = console.export_text()
    vote = voter.vote(snapshot)
    assert "Learned policy" in text
    assert f"would be {vote.action} with probability = " in text
    assert "model 0123456789abcdef" in text


def _fraction_network(seed: int = 11, shift: float = 0.45) -> PolicyNetwork:
    """A target-fraction policy whose mean crosses 0 and 1 over the history."""
    generator = np.random.default_rng(seed)
    sizes = [30, 16, 1]
    return PolicyNetwork(
        tuple(generator.normal(0, 0.6, (sizes[k + 1], sizes[k])) for k in range(2)),
        (generator.normal(0, 0.1, 16), generator.normal(0, 0.1, 1) + shift),
        "fraction",
        np.array([-1.0]),
    )


def _constant_target(mean: float) -> PolicyNetwork:
    """A fraction policy that wants ``mean`` (clipped to [0, 1]) whatever it observes."""
    return PolicyNetwork(
        (np.zeros((4, 30)), np.zeros((1, 4))),
        (np.zeros(4), np.array([mean])),
        "fraction",
        np.array([np.log(0.3)]),
    )


async def test_a_fraction_vote_is_in_the_assessment_the_record_and_the_batch(history) -> None:  # type: ignore[no-untyped-def]
    settings, symbol_history = history
    voter = NetworkVoter(_fraction_network(), "0123456789abcdef", "f" * 64, 0.4)
    orchestrator = Orchestrator(settings, lambda _: symbol_history, voter=voter)
    batch = assess_history(symbol_history, settings, voter)
    votes = voter.votes(symbol_history)
    moments = symbol_history.decision_moments()
    portfolio = PortfolioView(Decimal("1000"), Decimal("990"), {"ETH/USDT": Decimal("10")})
    seen = set()
    for index in [0, 3, 50, 400, *range(700, len(moments), 137), len(moments) - 1]:
        snapshot = symbol_history.snapshot(int(moments[index]))
        fast = orchestrator.assess(snapshot, portfolio)
        assert (fast.score, fast.confidence) == (batch.score[index], batch.confidence[index])
        record = await orchestrator.decide(snapshot, portfolio)
        assert (record.decision, record.score, record.confidence) == (
            fast.decision,
            fast.score,
            fast.confidence,
        )
        rl = next(a for a in record.agents if a.name == "rl")
        vote = voter.vote(snapshot)
        assert vote.score == votes.score[index]
        assert rl.score == vote.score
        assert rl.details["target"] == round(vote.target or 0.0, 6)
        assert rl.details["action"] == vote.action
        assert rl.details["probability"] == round(vote.probability, 6)
        if vote.action == "flat":
            seen.add("flat")
            assert rl.score == 2.0 * vote.long_probability - 1.0 < 0.0
            assert "would be flat with probability = " in rl.argument
        else:
            seen.add("long")
            assert vote.action == f"target {vote.target:.2f}"
            assert "target fraction of equity = " in rl.argument
    assert seen == {"flat", "long"}


def test_a_smaller_target_is_a_weaker_long_and_zero_an_exit(history) -> None:  # type: ignore[no-untyped-def]
    settings, symbol_history = history
    snapshot = symbol_history.snapshot(int(symbol_history.decision_moments()[-1]))
    portfolio = PortfolioView(Decimal("1000"), Decimal("990"), {"ETH/USDT": Decimal("10")})
    scores = {}
    for mean in (-0.3, 0.25, 0.5, 1.0, 1.7):
        voter = NetworkVoter(_constant_target(mean), "0123456789abcdef", "f" * 64, 0.4)
        vote = voter.vote(snapshot)
        scores[mean] = (
            Orchestrator(settings, lambda _: symbol_history, voter=voter)
            .assess(snapshot, portfolio)
            .score
        )
        if mean > 0:
            assert (vote.score, vote.confidence) == (min(1.0, mean), min(1.0, mean))
        else:  # flat: P(N(-0.3, 0.3) > 0) = 0.1587, a vote of 2 x 0.1587 - 1 against
            assert vote.action == "flat"
            assert vote.score == pytest.approx(-0.6827, abs=1e-4)
    plain = Orchestrator(settings, lambda _: symbol_history).assess(snapshot, portfolio).score
    # Each vote pulls the combined score towards its own: flat below 0.25 below 0.5 below 1.
    assert scores[-0.3] < plain
    assert scores[-0.3] < scores[0.25] < scores[0.5] < scores[1.0]
    assert scores[1.7] == scores[1.0]  # the target is clipped to the whole equity


async def test_why_shows_a_fraction_policys_target(history) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    from sigmax.cli.analyze_cmd import render_decision

    settings, symbol_history = history
    voter = NetworkVoter(_constant_target(0.5), "0123456789abcdef", "f" * 64, 0.4)
    orchestrator = Orchestrator(settings, lambda _: symbol_history, voter=voter)
    snapshot = symbol_history.snapshot(int(symbol_history.decision_moments()[-1]))
    record = await orchestrator.decide(snapshot, PortfolioView.starting(Decimal("1000")))
    console = Console(record=True, width=200)
    render_decision(record.to_dict(), console)
    text = console.export_text()
    assert "Learned policy" in text
    assert "would hold a position, target fraction of equity = 0.5" in text
    assert "with probability = 0.95" in text  # P(N(0.5, 0.3) > 0)
    assert "score = 0.5" in text
