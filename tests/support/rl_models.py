"""A stored policy model whose recorded validation beat every baseline: one that may be promoted."""

from __future__ import annotations

from pathlib import Path

from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.registry import save_model

#: The baselines' validation Sharpe the stored model's 1.5 beats.
BASELINE_SHARPE = {"sharpe": 0.5}


def save_winning_model(home: Path, network: PolicyNetwork) -> str:
    """Store ``network`` in ``home``'s registry as a BTC/USDT 1h model whose validation Sharpe
    (1.5) beat buy-and-hold, the agents and sma_cross (0.5 each); returns its id."""
    validation = {
        "metrics": {"sharpe": 1.5},
        "baselines": {
            "buy_and_hold": BASELINE_SHARPE,
            "agents": BASELINE_SHARPE,
            "sma_cross": BASELINE_SHARPE,
        },
    }
    stored = save_model(
        home,
        {"symbols": ["BTC/USDT"], "timeframe": "1h", "seed": 1},
        {"metrics": {"training": None, "validation": validation}},
        network,
    )
    return stored.id
