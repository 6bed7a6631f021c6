"""Typed errors. Every error SIGMAX raises on purpose derives from :class:`SigmaxError`.

The CLI maps them to exit codes: bad input or configuration -> 2, runtime failure -> 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class SigmaxError(Exception):
    """Base of all deliberate SIGMAX errors."""

    #: Process exit code the CLI uses for this error.
    exit_code: int = 1


class InputError(SigmaxError):
    """The user gave something invalid (argument, file, configuration)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One configuration problem: which key, which rule, which value."""

    key: str
    rule: str
    value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.key}: {self.rule}"
        return f"{self.key}: {self.rule} (got {self.value})"


class ConfigError(InputError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class DataIssue:
    """One problem in a candle file. ``line`` is 1-based and counts the header line."""

    path: Path
    line: int | None
    rule: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.rule}"


class DataValidationError(InputError):
    """A candle file broke one or more rules; ``issues`` names file, line and rule."""

    def __init__(self, issues: list[DataIssue]) -> None:
        self.issues = list(issues)
        shown = "\n".join(str(i) for i in self.issues[:20])
        more = len(self.issues) - 20
        super().__init__(shown + (f"\n... and {more} more" if more > 0 else ""))


class DatasetNotFoundError(InputError):
    """No dataset matches the requested exchange, symbol and timeframe."""


class FeedError(SigmaxError):
    """A market-data feed failed."""


class ExchangeUnavailableError(FeedError):
    """The exchange could not be reached after the configured retries."""


class StorageError(SigmaxError):
    """The database could not be reached or a write failed."""
