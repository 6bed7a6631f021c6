"""`sigmax research record` against the stand-in, and a backtest that replays what it wrote."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.cli import app
from sigmax.domain.candles import datetime_to_ms
from sigmax.research.items import read_research_file
from support.research_servers import Post, ResearchLoopback

runner = CliRunner()


async def test_record_appends_what_the_feeds_return_once(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch, research_server: ResearchLoopback
) -> None:
    now = datetime.now(UTC)
    research_server.rss["coindesk"] = [
        Post("Bitcoin rallies on ETF inflows", now - timedelta(hours=1), "https://x/1"),
        Post("Ethereum slides after exploit", now - timedelta(hours=2), "https://x/2"),
    ]
    research_server.fear_greed = [(30, now - timedelta(hours=3))]
    monkeypatch.setenv("RSS_FEEDS", f"{research_server.base_url}/rss/coindesk.xml")
    monkeypatch.setenv("FEAR_GREED_URL", research_server.base_url)
    config = sigmax_home / "config"
    config.mkdir()
    for name in ("safety.yaml", "agents.yaml"):
        (config / name).write_text(
            (Path(__file__).parents[2] / "config" / name).read_text(), encoding="utf-8"
        )
    (config / "profiles").mkdir()
    for profile in (Path(__file__).parents[2] / "config" / "profiles").iterdir():
        (config / "profiles" / profile.name).write_text(profile.read_text(), encoding="utf-8")
    (config / "config.yaml").write_text("research:\n  fear_greed_enabled: true\n")
    out = sigmax_home / "week.jsonl"
    for expected in (3, 0):  # the second round finds nothing new
        result = await asyncio.to_thread(
            runner.invoke, app, ["research", "record", "--out", str(out), "--count", "1"]
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["written"] == expected
        assert summary["feeds"]["rss"] == "ok"
        assert summary["feeds"]["reddit"].startswith("no subreddit")
    items = read_research_file(out)
    assert [i.kind for i in items] == ["fear_greed", "rss", "rss"]  # oldest first


async def test_a_backtest_replays_a_research_file_and_it_changes_the_result(
    sigmax_home: Path,
) -> None:
    start, until = datetime(2022, 11, 7, tzinfo=UTC), datetime(2022, 11, 10, tzinfo=UTC)
    path = sigmax_home / "research.jsonl"
    rows = []
    moment = start - timedelta(days=1)
    while moment < until:
        rows.append(
            {
                "published_at": moment.isoformat(),
                "source": "rss:coindesk",
                "title": "Bitcoin crashes as exchange collapses, funds stolen",
                "url": f"https://example.com/{len(rows)}",
                "symbols": ["BTC"],
            }
        )
        moment += timedelta(hours=2)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs = {}
    for name, research in (("plain", None), ("research", path)):
        runs[name] = await simulate(
            BacktestOptions(
                profile="aggressive",
                symbols=["BTC/USDT"],
                start_ms=datetime_to_ms(start),
                until_ms=datetime_to_ms(until),
                home=sigmax_home,
                research=research,
            )
        )
    assert runs["plain"].id != runs["research"].id  # the file is part of the identity
    assert runs["research"].config["research"]

    # The headlines are all negative: the sentiment-drop trigger fires on them, never without.
    def triggers(name: str) -> set[str]:
        return {repr(e) for e in runs[name].sink.safety_events if "sentiment" in repr(e)}

    assert triggers("research")
    assert not triggers("plain")
