"""The search space: which parameters a study varies, and over which ranges.

Parameters are named by their configuration path, exactly as ``load_settings`` overrides take
them: ``profile.buy_threshold``, ``agents.analyzer.weight``,
``agents.analyzer.indicators.rsi_period``. ``sma_cross`` searches its two periods, ``fast`` and
``slow``. The searchable names are discovered from the settings models (every numeric field of
the profile and of ``agents.yaml``), so a field added to the models becomes searchable, and each
range is checked against the field's own rules (``gt``, ``ge``, ``lt``, ``le``) before a single
backtest runs.

A range is written ``LOW..HIGH`` or ``LOW..HIGH:STEP`` on the command line (``--param
profile.buy_threshold=0.2..0.6:0.05``) or in a YAML file (``--space FILE.yaml``) as a mapping of
names to such strings or to ``{low: .., high: .., step: ..}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel

from sigmax.backtest.sma_cross import MAX_PERIOD
from sigmax.config.settings import AgentsSettings, ProfileSettings
from sigmax.errors import InputError

Kind = Literal["int", "float", "decimal"]
STRATEGIES = ("agents", "sma_cross")

_RANGE = re.compile(
    r"^\s*(?P<low>[^.:\s][^:]*?)\s*\.\.\s*(?P<high>[^:]+?)\s*(?::\s*(?P<step>.+?))?\s*$"
)


class SpaceError(InputError):
    """A parameter or range the study cannot search; the message names it and the rule."""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What a searchable field is: its kind and the bounds its settings model enforces."""

    name: str
    kind: Kind
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def describe(self) -> str:
        parts = []
        if self.gt is not None:
            parts.append(f"> {self.gt:g}")
        if self.ge is not None:
            parts.append(f">= {self.ge:g}")
        if self.lt is not None:
            parts.append(f"< {self.lt:g}")
        if self.le is not None:
            parts.append(f"<= {self.le:g}")
        kind = "an integer" if self.kind == "int" else "a number"
        return f"{kind}" + (f" {' and '.join(parts)}" if parts else "")

    def refuses(self, value: float) -> str | None:
        """The rule ``value`` breaks, or None."""
        if self.gt is not None and not value > self.gt:
            return f"must be > {self.gt:g}"
        if self.ge is not None and not value >= self.ge:
            return f"must be >= {self.ge:g}"
        if self.lt is not None and not value < self.lt:
            return f"must be < {self.lt:g}"
        if self.le is not None and not value <= self.le:
            return f"must be <= {self.le:g}"
        return None


@dataclass(frozen=True, slots=True)
class Param:
    """One searched parameter: ``low`` to ``high`` inclusive, on a grid of ``step`` if given."""

    name: str
    kind: Kind
    low: float
    high: float
    step: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "step": self.step,
        }

    def value(self, raw: float) -> int | float | str:
        """``raw`` (from the sampler) as the settings take it: an int, a float, or a decimal
        string for money fields (so no binary float reaches a ``Decimal``)."""
        if self.kind == "int":
            return int(raw)
        if self.step is not None:
            # Snap to the step's own decimal places: 0.1 + 2 * 0.1 is 0.30000000000000004.
            raw = round(raw, _decimal_places(self.step))
        else:
            # A continuous value to 6 significant digits: what the backtest runs is exactly
            # what the study shows and --apply writes.
            raw = float(f"{raw:.6g}")
        if self.kind == "decimal":
            return str(Decimal(repr(raw)))
        return float(raw)


def _decimal_places(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True, slots=True)
class SearchSpace:
    strategy: str
    params: tuple[Param, ...]

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]


def _bounds(metadata: Iterable[object]) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in metadata:
        for key, kind in (
            ("gt", annotated_types.Gt),
            ("ge", annotated_types.Ge),
            ("lt", annotated_types.Lt),
            ("le", annotated_types.Le),
        ):
            if isinstance(item, kind):
                found[key] = float(getattr(item, key))
    return found


def _numeric_fields(model: type[BaseModel], prefix: str) -> dict[str, FieldRule]:
    """Every numeric field of ``model`` and of the models it nests, by dotted path. Optional
    fields (``None`` switches a behaviour off, as ``agents.timeout_ms``) are not searched."""
    fields: dict[str, FieldRule] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        path = f"{prefix}.{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields.update(_numeric_fields(annotation, path))
            continue
        kind: Kind
        if annotation is int:
            kind = "int"
        elif annotation is float:
            kind = "float"
        elif annotation is Decimal:
            kind = "decimal"
        else:
            continue  # text, lists, switches, optional values
        bounds = _bounds(info.metadata)
        fields[path] = FieldRule(path, kind, **bounds)
    return fields


def searchable(strategy: str) -> dict[str, FieldRule]:
    """The names ``strategy`` can search and their rules."""
    if strategy == "sma_cross":
        return {
            "fast": FieldRule("fast", "int", ge=2, le=MAX_PERIOD),
            "slow": FieldRule("slow", "int", ge=3, le=MAX_PERIOD),
        }
    if strategy == "agents":
        return {
            **_numeric_fields(ProfileSettings, "profile"),
            **_numeric_fields(AgentsSettings, "agents"),
        }
    raise SpaceError(f"--strategy: must be one of {', '.join(STRATEGIES)} (got {strategy})")


def _number(text: object, name: str, part: str, kind: Kind) -> float:
    if isinstance(text, bool):
        raise SpaceError(f"{name}: {part} must be a number (got {text!r})")
    if isinstance(text, int | float):
        value = float(text)
    else:
        try:
            value = float(Decimal(str(text).strip()))
        except (InvalidOperation, ValueError):
            raise SpaceError(f"{name}: {part} must be a number (got {text!r})") from None
    if not math.isfinite(value):
        raise SpaceError(f"{name}: {part} must be a finite number (got {text!r})")
    if kind == "int" and value != int(value):
        raise SpaceError(f"{name}: {part} must be an integer for this field (got {text!r})")
    return value


def make_param(
    name: str,
    low: object,
    high: object,
    step: object,
    rules: Mapping[str, FieldRule],
    strategy: str,
) -> Param:
    """One parameter checked against its field's kind and rules; refusals name the field."""
    rule = rules.get(name)
    if rule is None:
        hint = ", ".join(sorted(rules)[:12]) + (", ..." if len(rules) > 12 else "")
        raise SpaceError(f"{name}: not a searchable parameter of {strategy} (searchable: {hint})")
    lo = _number(low, name, "LOW", rule.kind)
    hi = _number(high, name, "HIGH", rule.kind)
    st = None if step is None else _number(step, name, "STEP", rule.kind)
    if not lo < hi:
        raise SpaceError(f"{name}: empty range: LOW must be below HIGH (got {lo:g}..{hi:g})")
    for label, value in (("LOW", lo), ("HIGH", hi)):
        broken = rule.refuses(value)
        if broken is not None:
            raise SpaceError(
                f"{name}: {label} {broken} (got {value:g}; the field is {rule.describe()})"
            )
    if st is not None:
        if not st > 0:
            raise SpaceError(f"{name}: STEP must be > 0 (got {st:g})")
        if st > hi - lo:
            raise SpaceError(
                f"{name}: STEP must not exceed HIGH - LOW ({hi - lo:g}), or the range holds one "
                f"value (got {st:g})"
            )
        count = (hi - lo) / st
        if abs(count - round(count)) > 1e-9 * max(1.0, count):
            raise SpaceError(
                f"{name}: HIGH - LOW ({hi - lo:g}) must be a whole number of STEPs ({st:g}), "
                "so that HIGH is on the grid"
            )
    return Param(name, rule.kind, lo, hi, st)


def parse_param(text: str, strategy: str) -> Param:
    """``NAME=LOW..HIGH[:STEP]`` from ``--param``."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise SpaceError(f"--param: must be NAME=LOW..HIGH[:STEP] (got {text!r})")
    match = _RANGE.match(spec)
    if match is None:
        raise SpaceError(f"{name}: the range must be LOW..HIGH[:STEP] (got {spec!r})")
    return make_param(
        name, match["low"], match["high"], match["step"], searchable(strategy), strategy
    )


def _from_yaml_entry(name: str, entry: object, strategy: str) -> Param:
    rules = searchable(strategy)
    if isinstance(entry, str):
        match = _RANGE.match(entry)
        if match is None:
            raise SpaceError(f"{name}: the range must be LOW..HIGH[:STEP] (got {entry!r})")
        return make_param(name, match["low"], match["high"], match["step"], rules, strategy)
    if isinstance(entry, Mapping):
        unknown = sorted(set(map(str, entry)) - {"low", "high", "step"})
        if unknown:
            raise SpaceError(
                f"{name}: unknown keys {', '.join(unknown)} (allowed: low, high, step)"
            )
        if "low" not in entry or "high" not in entry:
            raise SpaceError(f"{name}: needs both low and high")
        return make_param(name, entry["low"], entry["high"], entry.get("step"), rules, strategy)
    raise SpaceError(
        f"{name}: must be 'LOW..HIGH[:STEP]' or a mapping with low, high and step "
        f"(got {type(entry).__name__})"
    )


def load_space_file(path: Path, strategy: str) -> list[Param]:
    """``--space FILE.yaml``: a mapping of parameter names to ranges."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SpaceError(f"--space: cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SpaceError(f"--space: {path} is not valid YAML: {error}") from None
    if not isinstance(document, Mapping) or not document:
        raise SpaceError(f"--space: {path} must map parameter names to ranges")
    return [_from_yaml_entry(str(name), entry, strategy) for name, entry in document.items()]


def build_space(strategy: str, params: Iterable[Param], *, default_sma: bool = True) -> SearchSpace:
    """The study's space: each name once; ``sma_cross`` with neither period given searches
    both over their whole useful ranges."""
    chosen = list(params)
    searchable(strategy)  # refuses an unknown strategy
    names = [p.name for p in chosen]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SpaceError(f"{', '.join(repeated)}: given more than once")
    if not chosen:
        if strategy == "sma_cross" and default_sma:
            # slow starts above fast's top: every combination is a valid crossing strategy.
            chosen = [Param("fast", "int", 5, 50, 1), Param("slow", "int", 55, 200, 5)]
        else:
            raise SpaceError(
                "--param/--space: name at least one parameter to search "
                "(e.g. --param profile.buy_threshold=0.2..0.6:0.05)"
            )
    if strategy == "sma_cross":
        fast = next((p for p in chosen if p.name == "fast"), None)
        slow = next((p for p in chosen if p.name == "slow"), None)
        fast_low = fast.low if fast else 10
        slow_high = slow.high if slow else 50
        if fast_low >= slow_high:
            raise SpaceError(
                f"slow: must be able to exceed fast: the smallest fast ({fast_low:g}) is not "
                f"below the largest slow ({slow_high:g})"
            )
    return SearchSpace(strategy, tuple(chosen))
