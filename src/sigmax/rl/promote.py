"""Promotion: a model gets a vote only when it beat its baselines on its validation window.

The rule: the policy's validation Sharpe ratio must be greater than buy-and-hold's and greater
than the agents' (without the policy) on the same window. A model without a validation window,
or whose Sharpe is undefined (no variation of equity: it never traded), is refused. Refusals say
by how much the model falls short of each baseline it does not beat.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigmax.errors import InputError, SigmaxError
from sigmax.rl.registry import PROMOTED, StoredModel, load_model, models_dir, write_json

#: The baselines a model must beat, as named in an evaluation's ``baselines``.
MUST_BEAT = ("buy_and_hold", "agents")
#: How a refusal names each baseline's Sharpe.
_WHOSE = {"buy_and_hold": "buy-and-hold's", "agents": "the agents'"}
DEFAULT_WEIGHT = 0.2


class PromotionRefusedError(SigmaxError):
    """The model did not beat its baselines on its validation window."""


def _sharpe(metrics: Any) -> float | None:
    value = metrics.get("sharpe") if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) else None


def shortfalls(stored: StoredModel) -> tuple[float | None, dict[str, float | None], list[str]]:
    """The model's validation Sharpe, each baseline's, and why it is not promotable (empty:
    it is)."""
    validation = (stored.card.get("metrics") or {}).get("validation")
    if not isinstance(validation, dict):
        return None, {}, ["it has no validation window (train it with one)"]
    own = _sharpe(validation.get("metrics"))
    baselines = validation.get("baselines") or {}
    theirs = {name: _sharpe(baselines.get(name)) for name in MUST_BEAT}
    reasons = []
    if own is None:
        known = ", ".join(
            f"{_WHOSE[name]} {value:.4f}" for name, value in theirs.items() if value is not None
        )
        reasons.append(
            "its validation Sharpe is undefined (its equity never varied: it never held a "
            f"position){'; to beat: ' + known if known else ''}"
        )
    for name, other in theirs.items():
        if other is None:
            continue  # an undefined baseline (flat equity) is beaten by any defined Sharpe > 0
        if own is not None and own <= other:
            reasons.append(
                f"its validation Sharpe {own:.4f} is {other - own:.4f} short of {_WHOSE[name]} "
                f"{other:.4f}"
            )
    if own is not None and own <= 0 and all(v is None for v in theirs.values()):
        reasons.append(f"its validation Sharpe {own:.4f} is not positive")
    return own, theirs, reasons


def promote(home: Path, wanted: str, weight: float = DEFAULT_WEIGHT) -> dict[str, Any]:
    """Give the model ``wanted`` its vote with ``weight``, or refuse saying why."""
    if not 0 < weight <= 100:
        raise InputError(f"--weight: must be > 0 and <= 100 (got {weight})")
    stored = load_model(home, wanted)
    stored.policy()  # the file is intact (sha256) before anything votes with it
    own, theirs, reasons = shortfalls(stored)
    if reasons:
        raise PromotionRefusedError(f"model {stored.id} is not promoted: " + "; ".join(reasons))
    record = {
        "model": stored.id,
        "sha256": stored.sha256,
        "weight": weight,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "validation_sharpe": own,
        "baseline_sharpe": theirs,
    }
    write_json(models_dir(home) / PROMOTED, record)
    return record


def demote(home: Path) -> bool:
    """Take the promoted model's vote away; False when none was promoted."""
    path = models_dir(home) / PROMOTED
    if not path.exists():
        return False
    path.unlink()
    return True
