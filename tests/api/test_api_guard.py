"""The API against hostile traffic: floods, guessers, rebinding pages and odd bodies.

Everything through a real uvicorn server on 127.0.0.1 over a real completed paper run.
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from api.api_harness import TOKEN, LiveApi, copy_home, serving
from sigmax.api import AccessLimits, RateLimit
from sigmax.config.paths import source_config_dir

#: Budgets no test here reaches unless it means to.
OPEN = AccessLimits(*(RateLimit(rate=1000, burst=1000),) * 5)


@pytest.fixture(scope="module")
def api(completed_home: Path) -> Iterator[LiveApi]:
    with serving(completed_home, limits=OPEN) as live:
        yield live


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


# --- controls always reach the engine -----------------------------------------------------------


def _flood(base_url: str, ws_url: str, stop: threading.Event, seen: Counter[str]) -> None:
    """Tokenless actions and WebSocket handshakes, as fast as one thread can send them."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not stop.is_set():
            for path in ("/api/control/resume", "/api/control/panic", "/api/status"):
                seen[str(client.post(path, json={}).status_code)] += 1
            try:
                with connect(ws_url, open_timeout=5) as ws:
                    ws.recv(timeout=5)
            except InvalidStatus as refused:
                seen[f"ws {refused.response.status_code}"] += 1
            except ConnectionClosed as closed:
                seen[f"ws {closed.rcvd.code if closed.rcvd else None}"] += 1


def test_a_flood_of_strangers_never_stops_the_operator(
    completed_home: Path, tmp_path: Path
) -> None:
    # The default budgets: what a page the operator visits could do to a real install.
    with serving(copy_home(completed_home, tmp_path / "home")) as live:
        base = f"http://127.0.0.1:{live.port}"
        stop = threading.Event()
        seen: Counter[str] = Counter()
        floods = [
            threading.Thread(
                target=_flood, args=(base, f"ws://127.0.0.1:{live.port}/api/ws", stop, seen)
            )
            for _ in range(2)
        ]
        for flood in floods:
            flood.start()
        try:
            deadline = time.monotonic() + 20
            while seen["429"] == 0 or seen["ws 1013"] == 0:
                assert time.monotonic() < deadline, f"the flood never ran dry: {seen}"
                time.sleep(0.01)
            # The strangers' budget is spent and they keep knocking: the operator is not slowed.
            answers = [live.post("/api/control/resume", {"force": True}) for _ in range(10)]
            assert [a.status_code for a in answers] == [200] * 10, answers[-1].text
            paused = [live.post("/api/control/pause", {"duration": 60}) for _ in range(30)]
            assert {p.status_code for p in paused} == {200}, paused[-1].text
            started = time.monotonic()
            panic = live.post("/api/control/panic", {"confirm": True})
            took = time.monotonic() - started
        finally:
            stop.set()
            for flood in floods:
                flood.join(timeout=30)
    assert panic.status_code == 200, panic.text
    assert panic.json()["command"] == "panic"
    assert took < 5, took
    assert seen["401"] > 0, seen  # the flood was answered too, within its own budget


def test_the_operators_changes_have_a_budget_of_their_own(completed_home: Path) -> None:
    limits = AccessLimits(token=RateLimit(rate=0.5, burst=3))
    with serving(completed_home, limits=limits) as live:
        for _ in range(3):
            _error(live.post("/api/analyze", {"symbol": "NOPE"}), 422)
        limited = live.post("/api/analyze", {"symbol": "NOPE"})
        assert _error(limited, 429)["rule"] == "rate_limit"
        assert limited.headers["Retry-After"] == "2"
        # Pause and panic are never refused by a limit; reads with the token are not limited.
        assert live.post("/api/control/pause", {"duration": 60}).status_code == 200
        assert live.post("/api/control/panic", {"confirm": False}).status_code == 422
        assert live.client.get("/api/status", headers=live.auth).status_code == 200


def test_failed_tokens_are_limited_across_addresses(completed_home: Path) -> None:
    limits = AccessLimits(
        failed_per_address=RateLimit(rate=0.01, burst=3),
        failed_overall=RateLimit(rate=0.01, burst=10),
    )
    wrong = {"Authorization": "Bearer " + "g" * len(TOKEN)}
    with serving(completed_home, limits=limits) as live:
        statuses = []
        # One guess from each of 40 loopback addresses: no address is over its own limit.
        for last in range(2, 42):
            transport = httpx.HTTPTransport(local_address=f"127.0.0.{last}")
            with httpx.Client(transport=transport, timeout=10) as client:
                url = f"http://127.0.0.1:{live.port}/api/control/resume"
                statuses.append(client.post(url, json={}, headers=wrong).status_code)
        assert statuses[:10] == [401] * 10
        assert set(statuses[10:]) == {429}, statuses
        # The right token is still let through, from anywhere.
        transport = httpx.HTTPTransport(local_address="127.0.0.99")
        with httpx.Client(transport=transport, timeout=10) as client:
            url = f"http://127.0.0.1:{live.port}/api/control/pause"
            assert client.post(url, json={}, headers=live.auth).status_code == 200


# --- hosts and oracles --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/config", "/api/portfolio", "/api/control/pause"])
def test_a_rebound_name_is_refused(api: LiveApi, path: str) -> None:
    headers = {**api.auth, "Host": "attacker.rebind.example"}
    response = api.client.request("GET" if "control" not in path else "POST", path, headers=headers)
    error = _error(response, 421)
    assert (error["field"], error["rule"]) == ("Host", "allowed_hosts")


def test_a_rebound_name_cannot_open_the_stream(api: LiveApi) -> None:
    # The page's name in the Host header, the connection to the API's loopback address.
    sock = socket.create_connection(("127.0.0.1", api.port))
    with (
        pytest.raises(InvalidStatus) as refused,
        connect("ws://attacker.rebind.example/api/ws", sock=sock, additional_headers=api.auth),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_loopback_names_and_configured_ones_are_answered(
    completed_home: Path, tmp_path: Path
) -> None:
    home = copy_home(completed_home, tmp_path / "home")
    shutil.copytree(source_config_dir(), home / "config")
    config = home / "config" / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert "  allowed_hosts: []\n" in text
    config.write_text(text.replace("  allowed_hosts: []\n", "  allowed_hosts: [SIGMAX.lan]\n"))
    with serving(home, limits=OPEN) as live:
        for host in ("localhost", "LOCALHOST:8000", "127.0.0.1", "[::1]:80", "sigmax.lan:8000"):
            response = live.client.get("/api/status", headers={"Host": host})
            assert response.status_code == 200, (host, response.text)
        assert (
            live.client.get("/api/status", headers={"Host": "sigmax.lan.evil"}).status_code == 421
        )
        assert live.client.get("/api/status", headers={"Host": "127.0.0.2"}).status_code == 421


def test_reads_do_not_tell_a_secret_from_a_guess(api: LiveApi) -> None:
    right = api.client.get("/api/candles", params={"symbol": TOKEN})
    guess = api.client.get("/api/candles", params={"symbol": "g" * len(TOKEN)})
    assert right.status_code == guess.status_code == 422
    assert right.text == guess.text, (right.text, guess.text)
    assert TOKEN not in right.text
    assert "g" * len(TOKEN) not in guess.text
    assert "**" not in right.text
    # The operator, who sent the value, sees it quoted back (secrets masked).
    own = api.client.get("/api/candles", params={"symbol": "btc_usdt"}, headers=api.auth)
    assert "btc_usdt" in _error(own, 422)["message"]


def test_read_errors_are_throttled(completed_home: Path) -> None:
    limits = AccessLimits(anonymous_per_address=RateLimit(rate=0.01, burst=5))
    with serving(completed_home, limits=limits) as live:
        statuses = [
            live.client.get("/api/candles", params={"symbol": f"guess{n}"}).status_code
            for n in range(8)
        ]
        assert statuses == [422] * 5 + [429] * 3
        # The operator's reads are not charged to the strangers' budget.
        own = live.client.get("/api/status", headers=live.auth)
        assert own.status_code == 200, own.text


# --- strict bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/control/pause", {"duration": True}, "duration"),
        ("/api/control/pause", {"duration": "60"}, "duration"),
        ("/api/control/pause", {"duration": 60.0}, "duration"),
        ("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": "1_0"}, "size"),
        ("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": " 1 "}, "size"),
        ("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": "١"}, "size"),
        ("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": True}, "size"),
    ],
)  # fmt: skip
def test_loose_numbers_are_refused(
    api: LiveApi, path: str, body: dict[str, Any], field: str
) -> None:
    error = _error(api.post(path, body), 422)
    assert error["field"] == field, error


@pytest.mark.parametrize("value", ["1_0", " 1 ", "١", "+5", "0x10"])
@pytest.mark.parametrize(
    "path",
    ["/api/history?limit={}", "/api/trades?limit={}", "/api/candles?symbol=BTC/USDT&limit={}"],
)
def test_loose_query_numbers_are_refused(api: LiveApi, path: str, value: str) -> None:
    response = api.client.get(path.format(quote(value)), headers=api.auth)
    error = _error(response, 422)
    assert (error["field"], error["rule"]) == ("limit", "integer_text"), error


def test_an_over_long_number_is_named_as_such(api: LiveApi) -> None:
    digits = "1" * 16_000
    body = '{"symbol": "BTC/USDT", "action": "buy", "size": ' + digits + "}"
    response = api.client.post("/api/trade", content=body, headers=api.auth)
    error = _error(response, 422)
    assert (error["field"], error["rule"]) == ("body", "json_number_too_long")
    assert f"more than {sys.get_int_max_str_digits()} digits" in error["message"]
    latin = api.client.post("/api/trade", content=b'{"size": "\xff"}', headers=api.auth)
    assert _error(latin, 422)["message"] == "the body is not valid UTF-8 JSON"


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_a_json_body_is_read_whatever_its_content_type(
    api: LiveApi, content_type: str | None
) -> None:
    # What curl -X POST ... -d '{"duration": 3600}' sends.
    headers = dict(api.auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = api.client.post("/api/control/pause", content='{"duration": 3600}', headers=headers)
    assert response.status_code == 200, response.text
    # A form body is not JSON: the documented 422 naming the body.
    form = api.client.post("/api/control/pause", content="duration=3600", headers=headers)
    assert (_error(form, 422)["field"], _error(form, 422)["rule"]) == ("body", "json_invalid")
