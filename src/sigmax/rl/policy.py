"""The trained policy's network in numpy: what decisions run, without importing torch.

PPO's actor (``MlpPolicy``: tanh hidden layers, then a linear head) is exported after training
into :class:`PolicyNetwork`, written as a deterministic ``.npz`` (fixed entry order and zip
timestamps, so the same weights give the same file and the same sha256). Decisions read it here:
the engine never imports torch, and a decision costs microseconds.

Each dense layer is an element-wise product summed over each output's contiguous inputs, one
reduction per row and output, so a row computed alone (a live decision) equals that row of a
whole-history matrix (a backtest) bit for bit; a BLAS matrix product may pick another kernel, and
so another summation order, for one row than for many.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigmax.errors import InputError

Matrix = np.ndarray[tuple[int, int], np.dtype[np.float64]]
Vector = np.ndarray[tuple[int], np.dtype[np.float64]]
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Rows per block of a whole-history forward pass (bounds the temporary products' memory).
_BLOCK = 256


class PolicyFileError(InputError):
    """A policy file cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class PolicyOutput:
    """Per row: the position the policy wants and how sure it is of being in the market.

    ``target`` is the fraction of equity it would hold: 1 or 0 for a flat/long policy, the
    mean of its target clipped to [0, 1] for a fraction policy (what PPO's deterministic action
    is). ``long_probability`` is the probability that the policy, sampling as it trained, holds
    a position: the softmax of its long logit, or for a fraction policy the Gaussian's mass
    above 0 (its samples are clipped to [0, 1], so all the mass below 0 is exactly flat).
    """

    long_probability: Vector
    target: Vector
    kind: str

    @property
    def action(self) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
        """1 where the policy would hold a position (any target above 0), 0 where flat."""
        held: np.ndarray[tuple[int], np.dtype[np.int64]] = (self.target > 0.0).astype(np.int64)
        return held

    @property
    def probability(self) -> Vector:
        """The probability of the chosen action (in the market, or flat)."""
        chosen: Vector = np.where(
            self.action == 1, self.long_probability, 1.0 - self.long_probability
        )
        return chosen

    @property
    def score(self) -> Vector:
        """The vote: ``2 P(long) - 1`` for a flat/long policy. For a fraction policy its target
        when above 0 (0.5 a long half as strong as 1); at a target of 0 (flat: exit) the flat
        policy's ``2 P(long) - 1``, as strong against as it is sure, so that a mean just below
        0 is not a full exit when one just above it is a vote of almost nothing."""
        flat_or_long: Vector = 2.0 * self.long_probability - 1.0
        if self.kind == "discrete":
            return flat_or_long
        fraction: Vector = np.where(self.target > 0.0, self.target, flat_or_long)
        return fraction

    @property
    def all_in(self) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
        """Where a strategy that invests a whole sleeve or nothing is long: the policy's long
        action, or a target of one half or more (the nearer of flat and all in)."""
        threshold = 0.5 if self.kind == "fraction" else 1.0
        long: np.ndarray[tuple[int], np.dtype[np.bool_]] = self.target >= threshold
        return long


@dataclass(frozen=True, slots=True)
class PolicyNetwork:
    """Hidden layers (weights ``out x in``, biases) with tanh, then the action head.

    ``kind`` is ``discrete`` (two logits: flat, long) or ``fraction`` (the mean of the target
    fraction of equity, with ``log_std``: the log of its Gaussian's standard deviation, which
    PPO learns apart from the observation).
    """

    weights: tuple[Matrix, ...]
    biases: tuple[Vector, ...]
    kind: str
    log_std: Vector | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("discrete", "fraction"):
            raise PolicyFileError(f"policy kind must be discrete or fraction (got {self.kind})")
        if len(self.weights) != len(self.biases) or len(self.weights) < 1:
            raise PolicyFileError("policy: weights and biases must pair up, at least one layer")
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise PolicyFileError(f"policy layer {k}: weight {w.shape} and bias {b.shape}")
            if k and w.shape[1] != self.weights[k - 1].shape[0]:
                raise PolicyFileError(f"policy layer {k}: takes {w.shape[1]} inputs")
        outputs = self.weights[-1].shape[0]
        if outputs != (2 if self.kind == "discrete" else 1):
            raise PolicyFileError(f"policy head: {outputs} outputs for a {self.kind} policy")
        if self.kind == "discrete" and self.log_std is not None:
            raise PolicyFileError("policy log_std: only a fraction policy has one")
        if self.kind == "fraction" and (
            self.log_std is None
            or self.log_std.shape != (1,)
            or not bool(np.isfinite(self.log_std).all())
        ):
            raise PolicyFileError(
                "policy log_std: a fraction policy needs the log of its target's standard "
                "deviation, one finite number (a file without it predates the fraction vote: "
                "retrain the model)"
            )

    @property
    def inputs(self) -> int:
        return int(self.weights[0].shape[1])

    def forward(
        self, observations: np.ndarray[tuple[int, int], np.dtype[np.float32]]
    ) -> PolicyOutput:
        """The policy's output for each row of ``observations``."""
        if observations.ndim != 2 or observations.shape[1] != self.inputs:
            raise InputError(
                f"observations: the policy takes {self.inputs} values per row "
                f"(got shape {observations.shape})"
            )
        x: Matrix = observations.astype(np.float64)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out = _dense(x, w, b)
            x = out if k == last else np.tanh(out)
        if self.kind == "discrete":
            # softmax of two logits: P(long) = 1 / (1 + exp(flat - long))
            p_long: Vector = 1.0 / (1.0 + np.exp(x[:, 0] - x[:, 1]))
            target: Vector = (x[:, 1] > x[:, 0]).astype(np.float64)
        else:
            assert self.log_std is not None  # __post_init__ requires it
            mean: Vector = x[:, 0]
            p_long = _mass_above_zero(mean, float(np.exp(self.log_std[0])))
            target = np.clip(mean, 0.0, 1.0)
        return PolicyOutput(p_long, target, self.kind)

    def to_bytes(self) -> bytes:
        """The ``.npz`` bytes: the same network always gives the same bytes."""
        buffer = io.BytesIO()
        arrays = {"kind": np.array(self.kind)}
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{k}"] = np.ascontiguousarray(w, dtype=np.float64)
            arrays[f"b{k}"] = np.ascontiguousarray(b, dtype=np.float64)
        if self.log_std is not None:
            arrays["log_std"] = np.ascontiguousarray(self.log_std, dtype=np.float64)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in arrays.items():
                entry = io.BytesIO()
                np.lib.format.write_array(entry, array, allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
                archive.writestr(info, entry.getvalue())
        return buffer.getvalue()

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def read(cls, path: Path) -> PolicyNetwork:
        try:
            with np.load(path, allow_pickle=False) as data:
                kind = str(data["kind"])
                layers = sum(1 for name in data.files if name.startswith("w"))
                weights = tuple(np.asarray(data[f"w{k}"], dtype=np.float64) for k in range(layers))
                biases = tuple(np.asarray(data[f"b{k}"], dtype=np.float64) for k in range(layers))
                log_std = (
                    np.asarray(data["log_std"], dtype=np.float64)
                    if "log_std" in data.files
                    else None
                )
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise PolicyFileError(f"{path}: not a policy file ({error})") from None
        try:
            return cls(weights, biases, kind, log_std)
        except PolicyFileError as error:
            raise PolicyFileError(f"{path}: {error}") from None


def _mass_above_zero(mean: Vector, std: float) -> Vector:
    """P(X > 0) for X ~ N(mean, std), row by row with ``math.erfc`` (one row alone gives the
    same number as that row of a whole history)."""
    scale = std * math.sqrt(2.0)
    values: Vector = np.array([0.5 * math.erfc(-m / scale) for m in mean.tolist()])
    return values


def _dense(x: Matrix, w: Matrix, b: Vector) -> Matrix:
    """``x @ w.T + b``, each output summed over its own contiguous products (see the module)."""
    out: Matrix = np.empty((len(x), len(w)))
    for start in range(0, len(x), _BLOCK):
        block = x[start : start + _BLOCK]
        out[start : start + _BLOCK] = (block[:, None, :] * w[None, :, :]).sum(axis=2)
    out += b
    return out
