"""Trading symbols such as ``BTC/USDT``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYMBOL_RE = re.compile(r"^([A-Z0-9]{2,15})[/-]([A-Z0-9]{2,15})$")


@dataclass(frozen=True, slots=True, order=True)
class Symbol:
    """A spot market: ``base`` priced in ``quote`` (``BTC/USDT``)."""

    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> Symbol:
        """Parse ``BTC/USDT`` or ``BTC-USDT`` (case-insensitive)."""
        match = _SYMBOL_RE.match(text.strip().upper())
        if match is None:
            raise ValueError(f"symbol must look like BASE/QUOTE, e.g. BTC/USDT (got {text!r})")
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def file_token(self) -> str:
        """The form used in data file names: ``BTC-USDT``."""
        return f"{self.base}-{self.quote}"
