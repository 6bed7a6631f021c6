"""``sigmax optimize --apply STUDY``: the best parameters of a study as a new profile file.

The study's base profile (its values as the study ran them) with the best ``profile.*``
parameters in place, checked by the profile's settings model, written to
``CONFIG_DIR/profiles/NAME.yaml``. The file is created exclusively: an existing profile is never
replaced. Parameters that are not profile settings (``agents.*`` belong to ``agents.yaml``,
``fast`` / ``slow`` to ``sigmax backtest --strategy sma_cross``) are written at the top of the
file as comments saying where they go, with the study's out-of-sample result and its
probability of overfitting, so nobody applies them without seeing both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sigmax.config.paths import PROFILES_DIR_NAME
from sigmax.config.settings import ProfileSettings, normalise_profile_name
from sigmax.errors import InputError


def _profile_values(document: Mapping[str, Any], best: Mapping[str, Any]) -> dict[str, Any]:
    base = dict(document["identity"]["backtest"]["profile_settings"])
    for name, value in best.items():
        if name.startswith("profile."):
            base[name.removeprefix("profile.")] = value
    try:
        checked = ProfileSettings.model_validate(base)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InputError(
            f"--apply: the best parameters make an invalid profile ({problems})"
        ) from None
    values: dict[str, Any] = checked.model_dump(mode="json")
    return values


def _header(document: Mapping[str, Any], name: str, others: Mapping[str, Any]) -> str:
    result = document["result"]
    identity = document["identity"]
    lines = [
        f"# Profile {name}: written by `sigmax optimize --apply {document['id']}`.",
        f"# Study {document['id']}: {identity['strategy']} on "
        f"{', '.join(identity['backtest']['symbols'])} {identity['backtest']['timeframe']}, "
        f"objective {identity['objective']}, {len(identity['folds'])} walk-forward folds.",
        f"# Out-of-sample {identity['objective']} of these parameters: {result['best_value']} "
        f"(the configuration before: {result['baseline']['value']}).",
        f"# Probability of backtest overfitting: {result['overfitting'].get('pbo')} "
        "(docs/METRICS.md). Past results do not promise future ones.",
    ]
    if others:
        lines.append("# Searched parameters that are not profile settings:")
        for key, value in others.items():
            if key.startswith("agents."):
                lines.append(f"#   agents.yaml: {key.removeprefix('agents.')}: {value}")
            else:
                lines.append(f"#   sigmax backtest --strategy sma_cross: --{key} {value}")
    return "\n".join(lines) + "\n"


def apply_study(document: Mapping[str, Any], config_dir: Path, name: str | None) -> Path:
    """Write the new profile; its path. Refuses to replace any existing file."""
    result = document["result"]
    best = result.get("best_params")
    if not best:
        raise InputError(f"--apply: study {document['id']} has no complete trial to apply")
    base = str(document["identity"]["backtest"]["profile"])
    chosen = name if name is not None else f"{base}-opt-{str(document['id'])[:8]}"
    try:
        chosen = normalise_profile_name(chosen)
    except ValueError as error:
        raise InputError(f"--name: {error} (got {chosen!r})") from None
    values = _profile_values(document, best)
    others = {k: v for k, v in best.items() if not k.startswith("profile.")}
    folder = config_dir / PROFILES_DIR_NAME
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{chosen}.yaml"
    text = _header(document, chosen, others) + yaml.safe_dump(values, sort_keys=False)
    try:
        # O_EXCL: created here or refused, never written over, even if one appears meanwhile.
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise InputError(
            f"--apply: the profile {target} already exists and is never replaced; "
            "choose another --name"
        ) from None
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    return target
