"""Text in the backtest report: numbers written for reading, and the privacy screen over text.

Nothing here writes HTML: the template escapes every value, so these functions return plain text.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from sigmax.backtest.report_model import JsonValue, MetricFormat, metric_number
from sigmax.safety.privacy import PrivacyScanner

__all__ = [
    "ConfigRow",
    "ScreenedText",
    "config_rows",
    "format_duration",
    "format_metric",
    "format_number",
    "format_price",
    "format_time",
    "format_usd",
]


def format_time(ms: int) -> str:
    """``2024-01-05 13:00:00`` (UTC)."""
    return str(np.datetime64(int(ms), "ms").astype("datetime64[s]")).replace("T", " ")


def _group_thousands(text: str) -> str:
    """Thousands separators in the integer part of a positional number."""
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("-")
    whole, dot, fraction = body.partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


def format_price(value: float) -> str:
    """A price or quantity with up to 8 significant digits, never in exponent form:
    43210.5 -> "43,210.5", 0.00001234 -> "0.00001234"."""
    text = np.format_float_positional(
        float(value), precision=8, unique=True, fractional=False, trim="-"
    )
    return _group_thousands(text)


def _non_finite(value: float) -> str | None:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return None


def format_usd(value: Decimal | float) -> str:
    """-1234.5 -> "-$1,234.50" (rounded half to even to the cent)."""
    if isinstance(value, float):
        special = _non_finite(value)
        if special is not None:
            return special
    cents = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def format_duration(seconds: float) -> str:
    """93780 -> "1 d 2 h 3 min"; under a minute in seconds."""
    special = _non_finite(seconds)
    if special is not None:
        return special
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days:,} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    return " ".join(part for part in parts if part and part != "0 min") or "0 min"


def format_number(value: float) -> str:
    """4 decimals with thousands separators; tiny values in exponent form so they do not read
    as zero."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:,.4f}"


def format_metric(value: JsonValue, metric_format: MetricFormat) -> str:
    """A metric's value as the metrics table shows it; an undefined value (``None``) is a dash."""
    if metric_format is not MetricFormat.AUTO:
        # ReportInput has checked that the value is a number, a decimal string or None.
        number = metric_number(value)
        if number is None:
            return "—"
        if metric_format is MetricFormat.USD:
            return format_usd(number)
        if metric_format is MetricFormat.COUNT:
            return f"{int(number):,}"
        as_float = float(number)
        if metric_format is MetricFormat.PERCENT:
            special = _non_finite(as_float)
            return special if special is not None else f"{as_float * 100:,.2f} %"
        if metric_format is MetricFormat.DURATION:
            return format_duration(as_float)
        return format_number(as_float)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True, slots=True)
class ConfigRow:
    """One leaf of the configuration: its dotted path and its value as JSON text."""

    path: str
    value: str


@dataclass(slots=True)
class ScreenedText:
    """Runs text through the privacy screen and counts what it redacted, by kind."""

    scanner: PrivacyScanner = field(default_factory=PrivacyScanner)
    redactions: Counter[str] = field(default_factory=Counter)

    def text(self, value: str) -> str:
        result = self.scanner.redact(value)
        for violation in result.violations:
            self.redactions[violation.kind.value] += 1
        return result.text

    def json(self, value: JsonValue) -> JsonValue:
        """The value with every string in it (mapping keys too) screened."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(key): self.json(item) for key, item in value.items()}
        if isinstance(value, Sequence):
            return [self.json(item) for item in value]
        return value

    def summary(self) -> str:
        """``"2 email, 1 phone"``, or empty when nothing was redacted."""
        return ", ".join(f"{count} {kind}" for kind, count in sorted(self.redactions.items()))


def config_rows(config: JsonValue, prefix: str = "") -> list[ConfigRow]:
    """The configuration's leaves in their order; an empty mapping or list is a leaf too."""
    if isinstance(config, Mapping) and config:
        rows: list[ConfigRow] = []
        for key, item in config.items():
            rows.extend(config_rows(item, f"{prefix}.{key}" if prefix else key))
        return rows
    if isinstance(config, str):
        return [ConfigRow(prefix, config)]
    return [ConfigRow(prefix, json.dumps(config, ensure_ascii=False, allow_nan=False))]
