"""The dated research file: its format, and no look-ahead in decisions that read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sigmax.agents.base import PortfolioView
from sigmax.agents.orchestrator import Orchestrator
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.facade import HistoryCache
from sigmax.research.hub import research_from_settings
from sigmax.research.items import (
    ResearchFileError,
    ResearchItem,
    append_items,
    read_research_file,
)

HOUR = 3_600_000


def _line(**fields: Any) -> str:
    base = {
        "published_at": "2022-11-08T10:00:00Z",
        "source": "rss:coindesk",
        "title": "Bitcoin falls",
        "url": "https://example.com/a",
        "symbols": ["BTC"],
    }
    return json.dumps({**base, **fields})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_line(published_at="2022-11-08T10:00:00"), "published_at '2022-11-08T10:00:00'"),
        (_line(title=""), "title must not be empty"),
        (_line(symbols="BTC"), "symbols is required and must be a list of text"),
        (_line(score=1.5), "score must be a number in [-1, 1]"),
        (_line(votes="many"), "votes must be a whole number"),
        (_line(colour="red"), "unknown field 'colour'"),
        ("not json", "not a JSON object"),
    ],
)
def test_a_bad_line_is_refused_naming_line_and_field(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "research.jsonl"
    path.write_text(_line() + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ResearchFileError) as caught:
        read_research_file(path)
    assert str(caught.value).startswith("research.jsonl line 3: ")
    assert message in str(caught.value)


def test_append_writes_each_item_once_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    late = ResearchItem(2 * HOUR, "reddit:r/Bitcoin", "Later", "u2", ("BTC",), votes=3)
    early = ResearchItem(HOUR, "fear_greed", "Fear & Greed Index 20", "u1", (), score=-0.6)
    assert append_items(path, [late, early]) == 2
    assert append_items(path, [early, late]) == 0  # a re-fetch returns the same items
    assert read_research_file(path) == (early, late)


def _moments(settings: Any) -> tuple[HistoryCache, list[int]]:
    histories = HistoryCache(DatasetCatalog.from_path(None), settings)
    moments = [int(m) for m in histories("BTC/USDT").decision_moments()]
    return histories, moments


def _items(t: int, *, after_t: str) -> list[dict[str, Any]]:
    """Items every two hours from two days before t to two days after; after t, ``after_t``
    decides what they say (the truth, or a corruption)."""
    rows = []
    for k in range(-48, 49, 2):
        at = t + k * HOUR
        later = at > t
        title = (
            "Bitcoin crashes as exchange hacked, funds stolen"
            if later and after_t == "corrupt"
            else "Bitcoin rallies, bullish inflows"
            if k % 4
            else "Bitcoin slides as liquidations mount"
        )
        rows.append(
            {
                "published_at": ms_to_iso(at),
                "source": ["rss:coindesk", "reddit:r/Bitcoin", "cryptopanic"][k % 3],
                "title": title,
                "url": f"https://example.com/{k}",
                "symbols": ["BTC"],
                **({"score": -1.0} if later and after_t == "corrupt" else {}),
            }
        )
    rows.append(  # exactly at t: visible (published by t)
        {
            "published_at": ms_to_iso(t),
            "source": "fear_greed",
            "title": "Fear & Greed Index 70 (Greed)",
            "url": "",
            "symbols": [],
            "score": 0.4,
        }
    )
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


async def test_corrupting_every_item_after_t_leaves_the_decision_at_t_unchanged(
    sigmax_home: Path,
) -> None:
    settings = load_settings()
    histories, moments = _moments(settings)
    t = moments[len(moments) // 2]
    records = []
    for variant in ("truth", "corrupt"):
        path = _write(sigmax_home / f"{variant}.jsonl", _items(t, after_t=variant))
        hub = research_from_settings(settings, research_file=path)
        orchestrator = Orchestrator(settings, histories, sources=hub.researcher_sources())
        snapshot = histories("BTC/USDT").snapshot(t)
        portfolio = PortfolioView.starting(settings.profile.starting_capital_usd)
        record = (await orchestrator.decide(snapshot, portfolio)).to_dict()
        assessment = orchestrator.assess(snapshot, portfolio)
        records.append((record, assessment))
    (truth, truth_numbers), (corrupt, corrupt_numbers) = records
    for document in (truth, corrupt):
        document.pop("latency_ms")
        for agent in document["agents"]:
            agent.pop("latency_ms")
    assert truth == corrupt
    assert truth_numbers == corrupt_numbers
    researcher = truth["agents"][0]
    assert researcher["name"] == "researcher"
    items = researcher["details"]["items"]
    assert items, "the items used are kept as evidence"
    assert all(i["published_at"] <= ms_to_iso(t) for i in items)
    assert any(i["published_at"] == ms_to_iso(t) for i in items)  # published at t is seen
    assert {"title", "source", "published_at", "url", "score", "weight"} <= set(items[0])
    assert researcher["details"]["sentiment"] == truth_numbers.sentiment
    assert truth["reasoning"]["sentiment"].startswith("Sentiment: score = ")
    assert "items (recency- and source-weighted)" in truth["reasoning"]["sentiment"]
    # The proof the test can fail: six hours later the corrupted items are in the window, and
    # the two files give different numbers.
    later = moments[moments.index(t) + 6]
    portfolio = PortfolioView.starting(settings.profile.starting_capital_usd)
    sentiments = []
    for variant in ("truth", "corrupt"):
        hub = research_from_settings(settings, research_file=sigmax_home / f"{variant}.jsonl")
        orchestrator = Orchestrator(settings, histories, sources=hub.researcher_sources())
        sentiments.append(
            orchestrator.assess(histories("BTC/USDT").snapshot(later), portfolio).sentiment
        )
    assert sentiments[0] != sentiments[1]


async def test_sources_report_why_they_are_unavailable(sigmax_home: Path) -> None:
    settings = load_settings()
    histories, moments = _moments(settings)
    hub = research_from_settings(settings)
    assert not hub.active
    orchestrator = Orchestrator(settings, histories, sources=hub.researcher_sources())
    snapshot = histories("BTC/USDT").snapshot(moments[-1])
    record = await orchestrator.decide(
        snapshot, PortfolioView.starting(settings.profile.starting_capital_usd)
    )
    details = record.agents[0].details
    assert details["feeds"] == {
        "rss": "unavailable: no RSS feed is configured (RSS_FEEDS)",
        "cryptopanic": "unavailable: CRYPTOPANIC_TOKEN is not set",
        "newsapi": "unavailable: NEWSAPI_KEY is not set",
        "reddit": "unavailable: no subreddit is configured (REDDIT_SUBREDDITS)",
        "coingecko": "unavailable: research.coingecko_enabled is false",
        "fear_greed": "unavailable: research.fear_greed_enabled is false",
        "mempool": "unavailable: research.onchain_enabled is false",
    }
    assert details["sentiment"] is None
    assert details["sources"]["news"].startswith("unavailable: rss: no RSS feed")
    assert details["sources"]["onchain"] == (
        "unavailable: mempool: research.onchain_enabled is false"
    )


async def test_item_texts_are_screened_once_and_reported_by_the_privacy_agent(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item is screened when it arrives: the record shows it redacted, and the privacy
    agent reports what was found at the place the record shows it, as for any other text."""
    secret = "cp-secret-token-8a7f3e2d"
    monkeypatch.setenv("CRYPTOPANIC_TOKEN", secret)
    settings = load_settings()
    histories, moments = _moments(settings)
    t = moments[len(moments) // 2]
    rows = _items(t, after_t="truth")
    rows.append(
        {
            "published_at": ms_to_iso(t - HOUR),
            "source": "rss:coindesk",
            "title": "Bitcoin rallies, write to trader.joe@example.com for the report",
            "url": f"https://example.com/feed?auth_token={secret}",
            "symbols": ["BTC"],
        }
    )
    hub = research_from_settings(settings, research_file=_write(sigmax_home / "r.jsonl", rows))
    orchestrator = Orchestrator(settings, histories, sources=hub.researcher_sources())
    record = (
        await orchestrator.decide(
            histories("BTC/USDT").snapshot(t),
            PortfolioView.starting(settings.profile.starting_capital_usd),
        )
    ).to_dict()
    researcher, privacy = record["agents"][0], record["agents"][5]
    items = researcher["details"]["items"]
    n = next(i for i, item in enumerate(items) if "the report" in item["title"])
    assert items[n]["title"] == "Bitcoin rallies, write to [REDACTED:email] for the report"
    assert secret not in json.dumps(record)
    assert privacy["status"] == "violation"
    places = {(v["where"], v["kind"]) for v in privacy["details"]["violations"]}
    assert (f"researcher.items.{n}.title", "email") in places
    assert (f"researcher.items.{n}.url", "secret") in places
    checked = next(e for e in privacy["evidence"] if e["key"] == "texts_checked")
    assert checked["value"] >= 3 * len(items)  # every item's title, link and source counted
