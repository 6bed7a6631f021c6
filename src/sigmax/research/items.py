"""One research item: a dated headline, post or market reading, and the file format that keeps them.

The research file is JSON lines, one item per line (UTF-8)::

    {"published_at": "2024-03-11T08:15:00Z", "source": "rss:coindesk",
     "title": "Bitcoin tops $72,000 for the first time", "url": "https://...",
     "symbols": ["BTC"], "body": "optional text", "score": 0.4, "votes": 12}

* ``published_at``: ISO 8601 with an offset (``Z`` or ``+00:00``); a time without one is refused.
* ``source``: the feed kind, optionally with a name after a colon (``rss:coindesk``,
  ``reddit:r/Bitcoin``, ``cryptopanic``, ``newsapi``, ``coingecko``, ``fear_greed``,
  ``mempool``).
* ``title`` (non-empty), ``url`` (text, may be empty for a market reading).
* ``symbols``: base assets the item is about (``["BTC", "ETH"]``); an empty list is market-wide
  and is seen by every symbol.
* optional ``body`` (text), ``score`` (a sentiment in [-1, 1] the feed computed itself: market
  readings, CryptoPanic votes; without it the item's text is scored), ``votes`` (a whole number
  of up-votes or likes, which raises the item's weight).

Unknown fields are refused, so a typo is not silently ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sigmax.errors import InputError

FIELDS: Final = frozenset(
    {"published_at", "source", "title", "url", "symbols", "body", "score", "votes"}
)
#: The largest research file read, bytes: a month of every feed is a few MB.
MAX_FILE_BYTES: Final = 512 * 1024 * 1024


class ResearchFileError(InputError):
    """A research file broke a rule; the message names file, line, field and rule."""


@dataclass(frozen=True, slots=True)
class ResearchItem:
    """A dated piece of research. ``published_ms`` is ms UTC; ``symbols`` are base assets."""

    published_ms: int
    source: str
    title: str
    url: str
    symbols: tuple[str, ...] = ()
    body: str | None = None
    score: float | None = None
    votes: int | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("title must not be empty")
        if not self.source.strip():
            raise ValueError("source must not be empty")
        if self.score is not None and not (math.isfinite(self.score) and -1 <= self.score <= 1):
            raise ValueError(f"score must be a number in [-1, 1] (got {self.score})")

    @property
    def kind(self) -> str:
        """The feed kind: ``rss`` for ``rss:coindesk``."""
        return self.source.split(":", 1)[0]

    @property
    def key(self) -> tuple[str, str, int, str]:
        """What makes two items the same (a re-fetch returns the same item again)."""
        return (self.source, self.url, self.published_ms, self.title)

    def text(self) -> str:
        """What is scored: the title and, when there is one, the body."""
        return f"{self.title}. {self.body}" if self.body else self.title

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "published_at": ms_to_iso_z(self.published_ms),
            "source": self.source,
            "title": self.title,
            "url": self.url,
            "symbols": list(self.symbols),
        }
        if self.body is not None:
            document["body"] = self.body
        if self.score is not None:
            document["score"] = self.score
        if self.votes is not None:
            document["votes"] = self.votes
        return document


def ms_to_iso_z(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> int:
    """ISO 8601 with an offset to ms UTC; ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if moment.tzinfo is None:
        raise ValueError("has no UTC offset (write 2024-03-11T08:15:00Z)")
    return round(moment.timestamp() * 1000)


def normalise_symbols(values: Iterable[str]) -> tuple[str, ...]:
    """Base assets upper-cased; ``BTC/USDT`` is read as ``BTC``."""
    return tuple(sorted({v.split("/")[0].strip().upper() for v in values if v.strip()}))


def item_from_json(document: object, where: str) -> ResearchItem:
    """One item from its JSON object; :class:`ResearchFileError` names ``where`` and the field."""
    if not isinstance(document, dict):
        raise ResearchFileError(f"{where}: an item must be a JSON object")
    unknown = sorted(set(document) - FIELDS)
    if unknown:
        raise ResearchFileError(
            f"{where}: unknown field {unknown[0]!r} (allowed: {sorted(FIELDS)})"
        )
    for name in ("published_at", "source", "title", "url"):
        if not isinstance(document.get(name), str):
            raise ResearchFileError(f"{where}: {name} is required and must be text")
    try:
        published_ms = parse_time(document["published_at"])
    except ValueError as error:
        raise ResearchFileError(
            f"{where}: published_at {document['published_at']!r} is not an ISO 8601 time "
            f"with an offset ({error})"
        ) from None
    symbols = document.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise ResearchFileError(f"{where}: symbols is required and must be a list of text")
    body = document.get("body")
    if body is not None and not isinstance(body, str):
        raise ResearchFileError(f"{where}: body must be text")
    score = document.get("score")
    if score is not None and (
        isinstance(score, bool)
        or not isinstance(score, int | float)
        or not math.isfinite(score)
        or not -1 <= score <= 1
    ):
        raise ResearchFileError(f"{where}: score must be a number in [-1, 1] (got {score!r})")
    votes = document.get("votes")
    if votes is not None and (isinstance(votes, bool) or not isinstance(votes, int)):
        raise ResearchFileError(f"{where}: votes must be a whole number (got {votes!r})")
    if not document["title"].strip():
        raise ResearchFileError(f"{where}: title must not be empty")
    if not document["source"].strip():
        raise ResearchFileError(f"{where}: source must not be empty")
    return ResearchItem(
        published_ms=published_ms,
        source=document["source"].strip(),
        title=document["title"],
        url=document["url"],
        symbols=normalise_symbols(symbols),
        body=body,
        score=None if score is None else float(score),
        votes=votes,
    )


def read_research_file(path: Path) -> tuple[ResearchItem, ...]:
    """Every item of a research file, in file order. Blank lines are skipped."""
    if not path.is_file():
        raise ResearchFileError(f"--research {path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ResearchFileError(
            f"--research {path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
        )
    items: list[ResearchItem] = []
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                document = json.loads(line)
            except ValueError:
                raise ResearchFileError(f"{where}: not a JSON object") from None
            items.append(item_from_json(document, where))
    return tuple(items)


def iter_keys(path: Path) -> Iterator[tuple[str, str, int, str]]:
    """The keys of the items already in ``path`` (none when it does not exist)."""
    if path.exists():
        for item in read_research_file(path):
            yield item.key


def append_items(path: Path, items: Iterable[ResearchItem]) -> int:
    """Append the items not yet in ``path`` (oldest first); returns how many were written."""
    seen = set(iter_keys(path))
    fresh = sorted(
        {i.key: i for i in items if i.key not in seen}.values(),
        key=lambda i: (i.published_ms, i.source, i.url),
    )
    if not fresh:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for item in fresh:
            handle.write(json.dumps(item.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        handle.flush()
    return len(fresh)


def items_json(items: Iterable[ResearchItem]) -> list[Mapping[str, Any]]:
    return [i.to_json() for i in items]
