"""The promoted policy as the optimizer's eighth input (a ``PolicyVoter``).

:func:`promoted_voter` reads ``SIGMAX_HOME/models/promoted.json``: with no promotion there is no
voter and every decision is what it was without the module. Decisions run the numpy network
(:mod:`sigmax.rl.policy`): one observation row per decision, or the whole history at once for a
backtest's batch assessment, the two equal bit for bit.
"""

from __future__ import annotations

from pathlib import Path

from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.agents.policy_vote import POLICY_VOTER, PolicyVote, PolicyVotes
from sigmax.config.settings import Settings
from sigmax.errors import InputError
from sigmax.rl.features import layer_count, observations, snapshot_observation
from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.registry import load_model, promoted


class NetworkVoter:
    """A policy network voting with ``weight``."""

    name = POLICY_VOTER

    def __init__(self, network: PolicyNetwork, model: str, sha256: str, weight: float) -> None:
        if not 0 < weight <= 100:
            raise InputError(f"weight: must be > 0 and <= 100 (got {weight})")
        self.network = network
        self.model = model
        self.weight = weight
        self.identity = f"{model}|{sha256}|{weight!r}"
        self._layers = layer_count(network.inputs)

    def vote(self, snapshot: MarketSnapshot) -> PolicyVote:
        output = self.network.forward(snapshot_observation(snapshot, self._layers))
        held = int(output.action[0]) == 1
        target = float(output.target[0])
        fraction = self.network.kind == "fraction"
        return PolicyVote(
            action=action_name(held, target if fraction else None),
            probability=float(output.probability[0]),
            long_probability=float(output.long_probability[0]),
            model=self.model,
            score=float(output.score[0]),
            target=target if fraction else None,
        )

    def votes(self, history: SymbolHistory) -> PolicyVotes:
        output = self.network.forward(observations(history))
        return PolicyVotes(output.score, output.long_probability)


def action_name(held: bool, target: float | None) -> str:
    """``long`` / ``flat``, or a fraction policy's ``target 0.48`` (``flat`` at 0)."""
    if not held:
        return "flat"
    return "long" if target is None else f"target {target:.2f}"


def promoted_voter(settings: Settings) -> NetworkVoter | None:
    """The voter of the promoted model in the settings' home, or None when none is promoted."""
    return voter_in(settings.home)


def voter_in(home: Path) -> NetworkVoter | None:
    record = promoted(home)
    if record is None:
        return None
    stored = load_model(home, str(record["model"]))
    return NetworkVoter(stored.policy(), stored.id, stored.sha256, float(record["weight"]))
