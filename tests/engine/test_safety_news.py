"""The sentiment and privacy triggers through the engine, with news from a NewsAPI stand-in.

The candles are the bundled Binance data; the headlines are fixtures written for these tests
and served over NewsAPI's wire format by the loopback server (no news source is reachable
here). Each test checks the PAUSE line, the committed safety state and that no entry was sent
while paused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from api.api_harness import serving
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.runner import RunOptions, run_paper
from support.newsapi_server import NewsApiLoopback, fixture_article

from .account_runs import clean_home
from .test_safety_in_the_engine import QUIET, _record

START, UNTIL = datetime(2022, 11, 7, tzinfo=UTC), datetime(2022, 11, 10, tzinfo=UTC)


def _headlines(title: str, every: timedelta = timedelta(hours=2)) -> list[dict[str, object]]:
    moments = []
    moment = START - timedelta(days=1)
    while moment < UNTIL:
        moments.append(moment)
        moment += every
    return [
        fixture_article(f"{title} ({asset} {at:%d %H:%M})", at)
        for at in moments
        for asset in ("Bitcoin BTC", "Ethereum ETH")
    ]


async def _run(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: NewsApiLoopback,
    env: dict[str, str],
    speed: float | None,
) -> None:
    with clean_home(home):
        for name, value in {**QUIET, **env}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("NEWSAPI_KEY", server.api_key)
        monkeypatch.setenv("NEWSAPI_URL", server.base_url)
        await run_paper(
            RunOptions(
                profile="aggressive",
                symbols=["BTC/USDT", "ETH/USDT"],
                speed=speed,
                start_ms=datetime_to_ms(START),
                until_ms=datetime_to_ms(UNTIL),
                home=home,
                console_log=False,
            )
        )


async def test_a_sentiment_drop_pauses_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newsapi_loopback: NewsApiLoopback
) -> None:
    newsapi_loopback.articles = _headlines(
        "Crash: exchange collapse, fraud and bankruptcy fears, panic selling and huge losses"
    )
    await _run(tmp_path, monkeypatch, newsapi_loopback, {}, speed=None)
    recorded = _record(tmp_path)
    assert "PAUSE: Market sentiment dropped below threshold (-0.35)" in recorded.log
    assert "sentiment_drop" in json.dumps(recorded.state["holds"])
    assert recorded.state["sentiment"] is not None
    assert recorded.state["sentiment"] < -0.35
    paused_at = recorded.first_event("trigger", "sentiment_drop")
    assert [o for o in recorded.entries() if o[3] >= paused_at] == []


async def test_no_news_in_the_window_never_fires_the_sentiment_trigger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newsapi_loopback: NewsApiLoopback
) -> None:
    # The news source is configured but has nothing for the window: sentiment is unavailable,
    # not a neutral 0, and the trigger stays quiet.
    newsapi_loopback.articles = []
    await _run(tmp_path, monkeypatch, newsapi_loopback, {}, speed=None)
    recorded = _record(tmp_path)
    assert "Market sentiment dropped" not in recorded.log
    assert recorded.state["sentiment"] is None


async def test_personal_data_in_a_headline_is_redacted_and_pauses_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newsapi_loopback: NewsApiLoopback
) -> None:
    email = "desk.trader@example.com"
    newsapi_loopback.articles = _headlines(f"Rally continues, strong gains; write to {email}")
    # Paced: every decision is explained and published, so every text is screened.
    await _run(tmp_path, monkeypatch, newsapi_loopback, {}, speed=1000.0)
    recorded = _record(tmp_path)
    assert "PAUSE: Privacy breach detected (" in recorded.log
    assert "privacy_breach" in json.dumps(recorded.state["holds"])
    paused_at = recorded.first_event("trigger", "privacy_breach")
    assert [o for o in recorded.entries() if o[3] >= paused_at] == []
    engine = create_engine(f"sqlite:///{tmp_path / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            stored = " ".join(
                str(row[0]) for row in connection.execute(text("SELECT record FROM decisions"))
            )
            journal = " ".join(
                str(row) for row in connection.execute(text("SELECT * FROM safety_events"))
            )
    finally:
        engine.dispose()
    assert "Rally continues" in stored  # the headline was quoted
    assert email not in stored  # but never with the address
    assert email not in journal
    assert email not in recorded.log


# Made-up values in each provider's format; none is a live credential.
LEAKED = {
    "openai": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
}
IDN_EMAIL = "jöhn@exämple.com"
SPLIT_EMAIL = "ops\u200b@sigmax-desk.com"


async def test_secrets_in_a_headline_are_redacted_in_storage_and_the_api_and_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newsapi_loopback: NewsApiLoopback
) -> None:
    tokens = " ".join(LEAKED.values())
    newsapi_loopback.articles = _headlines(
        f"Exchange leak: keys {tokens} posted; contact {IDN_EMAIL} or {SPLIT_EMAIL}"
    )
    await _run(tmp_path, monkeypatch, newsapi_loopback, {}, speed=1000.0)
    recorded = _record(tmp_path)
    assert "PAUSE: Privacy breach detected (" in recorded.log
    assert "privacy_breach" in json.dumps(recorded.state["holds"])
    paused_at = recorded.first_event("trigger", "privacy_breach")
    assert [o for o in recorded.entries() if o[3] >= paused_at] == []

    engine = create_engine(f"sqlite:///{tmp_path / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT record FROM decisions")).all()
    finally:
        engine.dispose()
    # Decoded, so that an escaped non-ASCII character cannot hide a leak from the check.
    stored = " ".join(json.dumps(json.loads(row[0]), ensure_ascii=False) for row in rows)
    with serving(tmp_path) as api:
        response = api.client.get("/api/history", params={"limit": 500})
    assert response.status_code == 200
    served = json.dumps(response.json(), ensure_ascii=False)
    assert response.json()["decisions"], "the API serves the stored decisions"
    for where, body in (("stored decisions", stored), ("/api/history", served)):
        assert "Exchange leak" in body, f"the headline is quoted in the {where}"
        assert "[REDACTED:token]" in body
        assert "[REDACTED:email]" in body
        for secret in (*LEAKED.values(), IDN_EMAIL, "exämple", "sigmax-desk.com"):
            assert secret not in body, f"{secret!r} leaked into the {where}"
    for secret in (*LEAKED.values(), IDN_EMAIL):
        assert secret not in recorded.log
