"""Access control, rate limits, body limits, the OpenAPI document and ``sigmax serve``.

All through a real uvicorn server on 127.0.0.1 over a real completed paper run.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.api_harness import TOKEN, LiveApi, copy_home, serving
from engine.account_runs import clean_home
from sigmax.api import AccessLimits, ApiTokenError, RateLimit, mask_in_logs, resolve_api_token
from sigmax.api.auth import TOKEN_FILE_NAME, is_loopback
from sigmax.bench.run_process import free_port
from sigmax.config import load_settings
from sigmax.config.settings import MASK
from sigmax.logging_setup import configure_logging, shutdown_logging

ACTIONS: list[tuple[str, dict[str, Any] | None]] = [
    ("/api/analyze", {"symbol": "BTC/USDT"}),
    ("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": "0.001"}),
    ("/api/control/pause", {"duration": 60}),
    ("/api/control/resume", {"force": True}),
    ("/api/control/panic", {"confirm": True}),
]
READS = [
    "/api/status", "/api/health", "/api/portfolio", "/api/trades", "/api/equity",
    "/api/history", "/api/candles?symbol=BTC/USDT&limit=2", "/api/safety", "/api/config",
    "/openapi.json", "/metrics",
]  # fmt: skip


@pytest.fixture(scope="module")
def api(completed_home: Path) -> Iterator[LiveApi]:
    # No rate limit to speak of: these tests send many refused requests on purpose.
    with serving(completed_home, limits=AccessLimits(*(RateLimit(1000, 1000),) * 5)) as live:
        yield live


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


# --- the token ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), ACTIONS)
def test_every_action_needs_the_token(api: LiveApi, path: str, body: dict[str, Any]) -> None:
    wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
    basic = {"Authorization": f"Basic {TOKEN}"}
    for headers in ({}, wrong, basic, {"Authorization": f"Bearer {TOKEN}x"}):
        response = api.client.post(path, json=body, headers=headers)
        error = _error(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (error["field"], error["rule"]) == ("Authorization", "bearer_token")
    # Nothing happened: the run is still paused by its loss streak, no command was queued.
    assert api.client.get("/api/status").json()["paused"] is True


def test_reads_are_open_on_loopback(api: LiveApi) -> None:
    for path in READS:
        assert api.client.get(path).status_code == 200, path


def test_reads_need_the_token_when_listening_beyond_loopback(completed_home: Path) -> None:
    # Configured for 0.0.0.0 (the test server itself still listens on 127.0.0.1).
    with serving(completed_home, host="0.0.0.0") as live:
        for path in READS:
            response = live.client.get(path)
            assert _error(response, 401)["rule"] == "bearer_token", path
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert live.client.get(path, headers=live.auth).status_code == 200, path


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
        ("localhost", True), ("LOCALHOST", True), ("0.0.0.0", False), ("::", False),
        ("192.168.1.10", False), ("sigmax.example.com", False),
    ],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_token_is_never_logged_or_returned(
    api: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    for path in READS:
        bodies.append(api.client.get(path, headers=api.auth).text)
    for path, body in ACTIONS[1:]:
        bodies.append(api.post(path, body).text)
        bodies.append(api.client.post(path, json=body, headers={"Authorization": "Bearer no"}).text)
    bodies.append(api.post("/api/trade", {"symbol": TOKEN, "action": "buy", "size": 1}).text)
    assert caplog.records, "the requests must have been logged for this to mean anything"
    assert all(TOKEN not in body for body in bodies)
    assert TOKEN not in caplog.text


def test_the_token_is_masked_in_the_log_file(tmp_path: Path) -> None:
    with clean_home(tmp_path):
        settings = load_settings()
        log_file = configure_logging(settings, console=False)
        try:
            mask_in_logs(TOKEN)
            logging.getLogger("sigmax.api").warning("header was Bearer %s", TOKEN)
            try:
                raise ValueError(f"bad token {TOKEN}")
            except ValueError:
                logging.getLogger("sigmax.api").exception("failed")
        finally:
            shutdown_logging()
        text = log_file.read_text(encoding="utf-8")
    assert f"header was Bearer {MASK}" in text
    assert f"ValueError: bad token {MASK}" in text
    assert TOKEN not in text


def test_a_token_is_created_once_with_mode_600_and_reused(tmp_path: Path) -> None:
    created = resolve_api_token(tmp_path, environ={})
    path = tmp_path / TOKEN_FILE_NAME
    assert created.origin == "created"
    assert created.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(created.value) >= 40
    again = resolve_api_token(tmp_path, environ={})
    assert again.origin == "file"
    assert again.value == created.value
    assert created.value not in repr(created)


def test_the_environment_and_dotenv_win_over_the_file(tmp_path: Path) -> None:
    resolve_api_token(tmp_path, environ={})
    from_env = resolve_api_token(tmp_path, environ={"SIGMAX_API_TOKEN": "e" * 24})
    assert (from_env.origin, from_env.value) == ("environment", "e" * 24)
    (tmp_path / ".env").write_text("SIGMAX_API_TOKEN='" + "d" * 24 + "'\n", encoding="utf-8")
    from_dotenv = resolve_api_token(tmp_path, environ={})
    assert (from_dotenv.origin, from_dotenv.value) == ("dotenv", "d" * 24)


def test_unsafe_tokens_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ApiTokenError, match="at least 16 printable characters"):
        resolve_api_token(tmp_path, environ={"SIGMAX_API_TOKEN": "short"})
    path = tmp_path / TOKEN_FILE_NAME
    path.write_text("f" * 32, encoding="utf-8")
    path.chmod(0o644)
    with pytest.raises(ApiTokenError, match="may be read by other users"):
        resolve_api_token(tmp_path, environ={})
    path.chmod(0o600)
    assert resolve_api_token(tmp_path, environ={}).value == "f" * 32


# --- limits -------------------------------------------------------------------------------------


def test_an_oversized_body_is_413(api: LiveApi) -> None:
    padding = "x" * (16 * 1024)
    response = api.post("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": padding})
    error = _error(response, 413)
    assert (error["field"], error["rule"]) == ("body", "max_body_bytes")

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the body is counted as it arrives.
        for _ in range(40):
            yield b" " * 1024

    streamed = api.client.post("/api/control/pause", content=chunks(), headers=api.auth)
    assert _error(streamed, 413)["rule"] == "max_body_bytes"
    assert api.post("/api/control/pause", {"duration": 60}).status_code == 200


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_trade_like = st.fixed_dictionaries(
    {},
    optional={
        "symbol": st.sampled_from(["BTC/USDT", "DOGE/USDT", "btc-usdt", "x/y", ""]) | _json,
        "action": st.sampled_from(["buy", "sell", "BUY", "hold"]) | _json,
        "size": st.sampled_from(["0.001", "-1", "1e9", "1E-8", "Infinity", "0x10"]) | _json,
        "confirm": _json,
        "duration": _json,
        "force": _json,
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/api/trade", "/api/analyze", "/api/control/panic"]),
    body=_trade_like | _json,
)
def test_no_input_gives_a_server_error(api: LiveApi, path: str, body: Any) -> None:
    response = api.post(path, body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"field", "rule", "message"}


@pytest.mark.parametrize(
    "query",
    [
        "/api/history?limit=-1", "/api/history?limit=abc", "/api/history?symbol=%00",
        "/api/trades?limit=999999999999999999999", "/api/trades?symbol=" + "A" * 100,
        "/api/candles", "/api/candles?symbol=BTC/USDT&timeframe=0m",
        "/api/candles?symbol=BTC/USDT&limit=0", "/api/equity?limit=nan",
    ],
)  # fmt: skip
def test_bad_queries_are_4xx(api: LiveApi, query: str) -> None:
    response = api.client.get(query)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


# --- the OpenAPI document -----------------------------------------------------------------------


def test_openapi_documents_every_route_with_its_models(api: LiveApi) -> None:
    document = api.client.get("/openapi.json").json()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == {
        ("GET", "/api/status"), ("GET", "/api/health"), ("GET", "/api/portfolio"),
        ("GET", "/api/trades"), ("GET", "/api/equity"), ("GET", "/api/history"),
        ("GET", "/api/candles"), ("GET", "/api/safety"), ("GET", "/api/config"),
        ("POST", "/api/analyze"), ("POST", "/api/trade"), ("POST", "/api/control/pause"),
        ("POST", "/api/control/resume"), ("POST", "/api/control/panic"), ("GET", "/metrics"),
    }  # fmt: skip
    for key, operation in operations.items():
        responses = operation["responses"]
        success = responses.get("200") or responses["202"]
        if key == ("GET", "/metrics"):  # Prometheus text, not JSON
            assert success["content"] == {"text/plain": {"schema": {"type": "string"}}}, key
            continue
        schema = success["content"]["application/json"]["schema"]
        # A named model, or (a trade: queued on the stored run, or the engine's outcome) several.
        assert "$ref" in schema or all("$ref" in one for one in schema["anyOf"]), key
        for status in ("401", "500"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }, key
        assert {"421", "429"} <= set(responses), key
        if key[0] == "POST":
            assert {"413", "422"} <= set(responses), key
        assert operation["security"] == [{"SIGMAX API token": []}], key
    assert "HTTPValidationError" not in str(document)
    assert document["components"]["securitySchemes"] == {
        "SIGMAX API token": {"type": "http", "scheme": "bearer"}
    }


# --- sigmax serve -------------------------------------------------------------------------------


#: A tiny Typer app with the command, as ``sigmax`` will register it.
_SERVE = (
    "import typer\n"
    "from sigmax.cli.serve_cmd import serve_command\n"
    "app = typer.Typer()\n"
    "@app.callback()\n"
    "def root() -> None:\n"
    "    pass\n"
    "app.command('serve')(serve_command)\n"
    "app()\n"
)


def _serve(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SIGMAX_") and key not in ("API_KEY", "DATABASE_URL")
    }
    env["SIGMAX_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-c", _SERVE, "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_healthy(port: int, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, "sigmax serve did not start"
            time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    return process.returncode, stderr


def test_serve_prints_a_new_token_once_and_serves_the_home(
    completed_home: Path, tmp_path: Path
) -> None:
    home = copy_home(completed_home, tmp_path / "home")
    port = free_port()
    first = _serve(home, "--port", str(port))
    try:
        health = _wait_healthy(port, first)
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        token = (home / TOKEN_FILE_NAME).read_text(encoding="utf-8").strip()
        headers = {"Authorization": f"Bearer {token}"}
        paused = httpx.post(
            f"http://127.0.0.1:{port}/api/control/pause", json={}, headers=headers, timeout=10
        )
        assert paused.status_code == 200, paused.text
    finally:
        code, stderr = _stop(first)
    assert code == 0, stderr
    assert stderr.count(token) == 1
    assert "shown only now" in stderr
    log_text = (home / "logs" / "sigmax.log").read_text(encoding="utf-8")
    # uvicorn's per-request access lines are DEBUG records, off at the default level.
    assert "POST /api/control/pause" not in log_text
    assert token not in log_text

    second = _serve(home, "--port", str(port))
    try:
        _wait_healthy(port, second)
    finally:
        code, stderr = _stop(second)
    assert code == 0, stderr
    assert token not in stderr
    assert "token from file" in stderr


def test_serve_on_a_port_in_use_fails_with_the_address(completed_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        process = _serve(completed_home, "--port", str(port), "--host", "127.0.0.1")
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1, stderr
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
