"""``sigmax research record``: append what the live research feeds return to a research file.

The file is the dated format ``--research`` reads (one JSON item per line), so a live week can
be replayed later with the research it really had and nothing published after each decision.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from sigmax.cli.analyze_cmd import exit_on_error
from sigmax.errors import InputError

if TYPE_CHECKING:
    from sigmax.config import Settings

research_app = typer.Typer(help="Research feeds: record what they return for later replays.")

OutOption = Annotated[
    Path, typer.Option("--out", help="The research file to append to (created if missing).")
]
IntervalOption = Annotated[
    float,
    typer.Option("--interval", help="Seconds between two fetches of every feed."),
]
CountOption = Annotated[
    int, typer.Option("--count", help="How many fetch rounds (0: until interrupted).")
]
SymbolsOption = Annotated[
    str | None,
    typer.Option("--symbols", help="Comma-separated markets (default: trading.symbols)."),
]


@research_app.command("record")
def record_command(
    out: OutOption,
    interval: IntervalOption = 300.0,
    count: CountOption = 1,
    symbols: SymbolsOption = None,
) -> None:
    """Fetch every configured research feed and append the new items to --out."""
    from sigmax.config import load_settings
    from sigmax.logging_setup import configure_logging

    with exit_on_error():
        if count < 0:
            raise InputError(f"--count must be >= 0 (got {count})")
        if not interval > 0:
            raise InputError(f"--interval must be > 0 seconds (got {interval})")
        if not out.parent.is_dir():
            raise InputError(f"--out: the folder {out.parent} does not exist")
        settings = load_settings()
        configure_logging(settings, console=False)
        chosen = (
            [s.strip() for s in symbols.split(",") if s.strip()]
            if symbols
            else list(settings.trading.symbols)
        )
        summary = asyncio.run(_record(settings, out, chosen, interval, count))
    typer.echo(json.dumps(summary))


async def _record(
    settings: Settings, out: Path, symbols: list[str], interval: float, count: int
) -> dict[str, object]:
    from sigmax.research.hub import research_from_settings
    from sigmax.research.items import append_items

    console = Console(stderr=True)
    failures: list[str] = []
    hub = research_from_settings(
        settings, on_error=lambda f: failures.append(f"{f.source}: {f.message}")
    )
    if not hub.live:
        raise InputError(
            "no research feed is configured: set RSS_FEEDS, CRYPTOPANIC_TOKEN, "
            "REDDIT_SUBREDDITS, NEWSAPI_KEY or research.coingecko_enabled / fear_greed_enabled / "
            "onchain_enabled"
        )
    written = rounds = 0
    try:
        while True:
            now_ms = int(time.time() * 1000)
            await hub.refresh(symbols, now_ms)
            added = append_items(out, hub.book.items())
            written += added
            rounds += 1
            console.print(f"round {rounds}: {added} new items written to {out}")
            if count and rounds >= count:
                break
            await asyncio.sleep(interval)
    finally:
        await hub.close()
    statuses = {
        kind: (
            "ok"
            if (problem := feed.problem(symbols[0], int(time.time() * 1000))) is None
            else problem
        )
        for kind, feed in hub.feeds.items()
    }
    return {
        "out": str(out),
        "rounds": rounds,
        "written": written,
        "feeds": statuses,
        "failures": failures,
    }
