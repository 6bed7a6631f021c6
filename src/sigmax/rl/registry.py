"""The model registry under ``SIGMAX_HOME/models/``.

Each model has a folder named by its id holding ``policy.npz`` (the network decisions run,
:mod:`sigmax.rl.policy`), ``ppo.zip`` (stable-baselines3's checkpoint, for inspection and
further training) and ``model.json`` (its card: configuration, windows, data checksums, seed,
library versions, training and validation metrics, and the sha256 of ``policy.npz``). The id is
a digest of the configuration and that sha256, so training the same thing twice names the same
model. ``promoted.json`` says which model votes and with what weight; without it, none does.

Files are written to a temporary name and renamed, so a crash never leaves half a card.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmax.errors import InputError
from sigmax.rl.policy import PolicyNetwork

MODELS_DIR = "models"
CARD = "model.json"
POLICY = "policy.npz"
CHECKPOINT = "ppo.zip"
PROMOTED = "promoted.json"


class ModelNotFoundError(InputError):
    """No model in the registry has the id asked for."""


def models_dir(home: Path) -> Path:
    return home / MODELS_DIR


def model_id(config: dict[str, Any], sha256: str) -> str:
    canonical = json.dumps({"config": config, "sha256": sha256}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model in the registry: its folder and its card."""

    folder: Path
    card: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.card["id"])

    @property
    def sha256(self) -> str:
        return str(self.card["sha256"])

    def policy(self) -> PolicyNetwork:
        """The network, checked against the card's sha256 (a changed file is refused)."""
        path = self.folder / POLICY
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"{path}: cannot read the model ({error.strerror})") from None
        found = hashlib.sha256(data).hexdigest()
        if found != self.sha256:
            raise InputError(
                f"{path}: sha256 {found} differs from the registry's {self.sha256}; "
                "the model file was changed"
            )
        return PolicyNetwork.read(path)


def save_model(
    home: Path, config: dict[str, Any], card: dict[str, Any], network: PolicyNetwork
) -> StoredModel:
    """Store a trained model; the card gains ``id`` and ``sha256``. Existing files of the
    same id (the same model trained again) are replaced by identical ones."""
    policy_bytes = network.to_bytes()
    sha = hashlib.sha256(policy_bytes).hexdigest()
    identity = model_id(config, sha)
    folder = models_dir(home) / identity
    full = {"id": identity, "sha256": sha, **card, "config": config}
    write_atomic(folder / POLICY, policy_bytes)
    write_json(folder / CARD, full)
    return StoredModel(folder, full)


def load_model(home: Path, wanted: str) -> StoredModel:
    """The model whose id is ``wanted`` or starts with it (at least 6 characters)."""
    root = models_dir(home)
    if len(wanted) < 6 or not all(c in "0123456789abcdef" for c in wanted):
        raise InputError(f"MODEL: give a model id of at least 6 hex digits (got {wanted!r})")
    matches = sorted(p for p in root.glob(f"{wanted}*") if (p / CARD).is_file())
    if not matches:
        raise ModelNotFoundError(f"MODEL: no model {wanted} in {root} (see sigmax rl list)")
    if len(matches) > 1:
        raise InputError(f"MODEL: {wanted} names several models; give more of the id")
    return read_model(matches[0])


def read_model(folder: Path) -> StoredModel:
    path = folder / CARD
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a model card ({error})") from None
    if not isinstance(card, dict) or "id" not in card or "sha256" not in card:
        raise InputError(f"{path}: not a model card (no id or sha256)")
    return StoredModel(folder, card)


def list_models(home: Path) -> list[StoredModel]:
    """Every model, oldest first (by creation time, then id)."""
    root = models_dir(home)
    if not root.is_dir():
        return []
    found = [read_model(p) for p in root.iterdir() if (p / CARD).is_file()]
    return sorted(found, key=lambda m: (str(m.card.get("created", "")), m.id))


def promoted(home: Path) -> dict[str, Any] | None:
    """The promotion record (``model``, ``weight``, ...), or None when no model votes."""
    path = models_dir(home) / PROMOTED
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read the promotion ({error})") from None
    if not isinstance(record, dict) or "model" not in record or "weight" not in record:
        raise InputError(f"{path}: a promotion needs model and weight")
    return record
