"""Bitcoin on-chain readings from mempool.space's REST API.

``GET /api/v1/difficulty-adjustment`` estimates, from the blocks of the epoch under way, how the
mining difficulty will change at the next retarget (``difficultyChange``, %), how far the epoch
is (``progressPercent``) and how it changed last time (``previousRetarget``). The estimate
follows the hash rate: miners adding machines (a rising estimate) is read as confidence in
Bitcoin, miners switching off as stress. The reading becomes one BTC item dated at the fetch
(the chain as it stood when SIGMAX asked, never later):

    score = clip(difficultyChange / 10)      (a 10 % estimated rise is a full-strength reading)

Only Bitcoin's chain is read, so the item is about BTC alone; other symbols find the on-chain
source without items and say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from sigmax.research.feeds.base import HttpFeed
from sigmax.research.items import ResearchItem

#: The estimated difficulty change, %, that makes a full-strength reading.
DIFFICULTY_FULL_PCT: Final = 10.0
PATH: Final = "/api/v1/difficulty-adjustment"


class MempoolFeed(HttpFeed):
    kind = "mempool"

    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        document = self.json_object(
            await self.get(PATH, now_ms=now_ms), "the difficulty-adjustment answer"
        )
        return self.reading(document, now_ms)

    def reading(self, document: Mapping[str, object], now_ms: int) -> tuple[ResearchItem, ...]:
        """The item of one difficulty-adjustment answer; :class:`FeedError` names the field."""
        values: dict[str, float] = {}
        for name in ("difficultyChange", "progressPercent", "previousRetarget"):
            value = document.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.malformed(f"difficulty-adjustment: {name} is missing or not a number")
            if not math.isfinite(value):
                raise self.malformed(f"difficulty-adjustment: {name} is not finite")
            values[name] = float(value)
        if not 0 <= values["progressPercent"] <= 100:
            raise self.malformed(
                f"difficulty-adjustment: progressPercent {values['progressPercent']} is "
                "outside 0..100"
            )
        change = values["difficultyChange"]
        return (
            ResearchItem(
                published_ms=now_ms,
                source="mempool:difficulty",
                title=(
                    f"Bitcoin difficulty adjustment estimate {change:+.2f}% "
                    f"({values['progressPercent']:.1f}% of the epoch mined, previous "
                    f"{values['previousRetarget']:+.2f}%)"
                ),
                url="https://mempool.space/mining",
                symbols=("BTC",),
                score=max(-1.0, min(1.0, change / DIFFICULTY_FULL_PCT)),
            ),
        )
