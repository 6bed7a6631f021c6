"""The log file: location, line format with tags, JSON lines, secret masking, rotation."""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from sigmax.config import Credentials, LoggingSettings, Services, Settings
from sigmax.logging_setup import (
    LogTag,
    configure_logging,
    log_pause,
    log_trade,
    shutdown_logging,
    sigmax_handlers,
    tagged,
)

API_SECRET = "S3cr3t-Api-Value-0001"
DB_PASSWORD = "pg-Pass-0002"
DB_URL = f"postgresql://trader:{DB_PASSWORD}@db:5432/sigmax"

LINE_RE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<tag>[A-Z]+) +"
    r"(?P<logger>[\w.]+): (?P<message>.*)$"
)


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    shutdown_logging()
    root.setLevel(level)


@pytest.fixture
def settings(sigmax_home: Path) -> Settings:
    return Settings(
        home=sigmax_home,
        credentials=Credentials(api_key=SecretStr("abc"), api_secret=SecretStr(API_SECRET)),
        services=Services(database_url=SecretStr(DB_URL)),
    )


def read_lines(path: Path) -> list[str]:
    for handler in sigmax_handlers():
        handler.flush()
    return path.read_text(encoding="utf-8").splitlines()


def test_log_file_lives_under_sigmax_home(settings: Settings, sigmax_home: Path) -> None:
    path = configure_logging(settings, console=False)
    assert path == sigmax_home.resolve() / "logs" / "sigmax.log"
    logging.getLogger("sigmax.engine").info("started")
    assert path.is_file()


def test_line_format_and_tags(settings: Settings) -> None:
    path = configure_logging(settings, console=False)
    log = logging.getLogger("sigmax.engine")
    log.info("BUY %s BTC/USDT @ %s", "0.0002", 43000, extra=tagged(LogTag.TRADE))
    log_trade(log, "SELL %s ETH/USDT", "0.01")
    log_pause(log, "trading paused: %s", "3 consecutive losses")
    log.warning("feed is %d s late", 12)
    log.error("order rejected")
    log.error("tagged error stays", extra=tagged("TRADE"))
    log.critical("ALERT panic")
    log.info("plain")

    lines = read_lines(path)
    parsed = [LINE_RE.match(line) for line in lines]
    assert all(parsed), lines
    fields = [(m["tag"], m["logger"], m["message"]) for m in parsed if m]
    # One tag per line: the record's tag, or its level name when it has none.
    assert fields == [
        ("TRADE", "sigmax.engine", "BUY 0.0002 BTC/USDT @ 43000"),
        ("TRADE", "sigmax.engine", "SELL 0.01 ETH/USDT"),
        ("PAUSE", "sigmax.engine", "trading paused: 3 consecutive losses"),
        ("WARNING", "sigmax.engine", "feed is 12 s late"),
        ("ERROR", "sigmax.engine", "order rejected"),
        ("TRADE", "sigmax.engine", "tagged error stays"),
        ("CRITICAL", "sigmax.engine", "ALERT panic"),
        ("INFO", "sigmax.engine", "plain"),
    ]
    tags = {"TRADE", "PAUSE", "WARNING", "ERROR", "CRITICAL", "INFO", "DEBUG"}
    for line in lines:
        assert len(tags & set(line.split())) == 1, line
    # The exact column layout of the runbook example.
    assert lines[0][25:] == "TRADE    sigmax.engine: BUY 0.0002 BTC/USDT @ 43000"
    assert lines[0].endswith("Z TRADE    sigmax.engine: BUY 0.0002 BTC/USDT @ 43000")
    # `grep "TRADE" logs/sigmax.log` finds exactly the trade lines.
    assert len([line for line in lines if "TRADE" in line]) == 3


def test_timestamps_are_utc(settings: Settings) -> None:
    path = configure_logging(settings, console=False)
    record_time = logging.makeLogRecord({}).created
    logging.getLogger("sigmax").info("tick")
    stamp = LINE_RE.match(read_lines(path)[0])
    assert stamp is not None
    written = datetime.strptime(stamp["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(written.timestamp() - record_time) < 5


def test_json_lines(settings: Settings) -> None:
    path = configure_logging(settings, json_lines=True, console=False)
    log = logging.getLogger("sigmax.engine")
    log_trade(log, "BUY %s", "BTC/USDT", order_id="c-42", quantity=0.5)
    log.warning("slow")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    entries = [json.loads(line) for line in read_lines(path)]
    assert len(entries) == 3
    trade = entries[0]
    assert trade["level"] == "INFO"
    assert trade["tag"] == "TRADE"
    assert trade["logger"] == "sigmax.engine"
    assert trade["message"] == "BUY BTC/USDT"
    assert trade["order_id"] == "c-42"
    assert trade["quantity"] == 0.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", trade["time"])
    assert entries[1]["tag"] == "WARNING"
    assert entries[2]["tag"] == "ERROR"
    assert "RuntimeError: boom" in entries[2]["exception"]


def test_secrets_are_masked_in_messages_args_extras_and_exceptions(settings: Settings) -> None:
    path = configure_logging(settings, console=False)
    log = logging.getLogger("sigmax.exchange")
    log.info(f"signing with {API_SECRET}")
    log.info("connecting to %s", DB_URL.replace("postgresql://", "postgresql+psycopg://"))
    log.info("password is %s", DB_PASSWORD, extra={"detail": f"secret={API_SECRET}"})
    try:
        raise ConnectionError(f"auth failed for {API_SECRET}")
    except ConnectionError:
        log.exception("request failed")
    logging.getLogger("ccxt.base").warning("header X-MBX-APIKEY: %s", API_SECRET)

    text = "\n".join(read_lines(path))
    assert API_SECRET not in text
    assert DB_PASSWORD not in text
    assert "signing with **********" in text
    assert "connecting to **********" in text
    assert "password is **********" in text
    assert "ConnectionError: auth failed for **********" in text
    assert "header X-MBX-APIKEY: **********" in text
    # "abc" is configured as the API key but is too short to mask without blanking other text.
    log.info("abcdef")
    assert read_lines(path)[-1].endswith("abcdef")


def test_a_signed_requests_signature_is_masked_in_an_exchange_errors_text(
    settings: Settings,
) -> None:
    """ccxt quotes the request in its errors; the signature would authorise it again until its
    recvWindow expires."""
    path = configure_logging(settings, console=False)
    signature = "9d1c4f0b6a7e2c3d8f5a1b0e4c7d2a9f6b3e8c1d0a5f7b2e9c4d6a8f1b3e5c7d"
    log = logging.getLogger("sigmax.execution")
    log.warning(
        "create order: attempt 1/3 failed (ExchangeNotAvailable: binance POST "
        "https://api.binance.com/api/v3/order 503 Service Unavailable symbol=BTCUSDT&side=BUY"
        "&timestamp=1696338000000&recvWindow=5000&signature=%s)",
        signature,
    )
    log.warning('echoed body {"symbol": "BTCUSDT", "signature": "%s"}', signature)
    text = "\n".join(read_lines(path))
    assert signature not in text
    assert "recvWindow=5000&signature=**********)" in text
    assert '"signature": "**********"' in text
    # Ordinary words around it are untouched.
    log.info("signature checks passed for 3 requests")
    assert read_lines(path)[-1].endswith("signature checks passed for 3 requests")


def test_secrets_are_masked_in_json_extras(settings: Settings) -> None:
    path = configure_logging(settings, json_lines=True, console=False)
    logging.getLogger("sigmax").info("call", extra={"headers": {"key": API_SECRET}})
    (line,) = read_lines(path)
    assert API_SECRET not in line
    assert json.loads(line)["headers"] == {"key": "**********"}


def test_secrets_are_masked_on_the_console(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings, console=True)
    logging.getLogger("sigmax").warning("leaking %s", API_SECRET)
    err = capsys.readouterr().err
    assert "Z WARNING  sigmax: leaking **********" in err
    assert "WARNING WARNING" not in err
    assert API_SECRET not in err


def test_stack_info_is_masked(settings: Settings) -> None:
    path = configure_logging(settings, console=False)

    def leaky(secret: str) -> None:
        logging.getLogger("sigmax").info("where am I (%d chars)", len(secret), stack_info=True)

    leaky("S3cr3t-Api-Value-0001")  # the stack shows this source line, secret included
    text = path.read_text(encoding="utf-8")
    assert "Stack (most recent call last)" in text
    assert 'leaky("**********")' in text
    assert API_SECRET not in text


def test_configuring_twice_does_not_duplicate_output(settings: Settings) -> None:
    configure_logging(settings, console=True)
    path = configure_logging(settings, console=True)
    assert len(sigmax_handlers()) == 2
    logging.getLogger("sigmax").info("once")
    assert [line for line in read_lines(path) if line.endswith("once")] != []
    assert len([line for line in read_lines(path) if line.endswith("once")]) == 1


def test_level_option_wins_over_settings(settings: Settings) -> None:
    path = configure_logging(settings, console=False, level="warning")
    logging.getLogger("sigmax").info("hidden")
    logging.getLogger("sigmax").warning("shown")
    assert [line.rsplit(": ", 1)[1] for line in read_lines(path)] == ["shown"]


def test_invalid_level_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="log level must be one of"):
        configure_logging(settings, console=False, level="loud")


def test_rotation_is_configured_from_settings(sigmax_home: Path) -> None:
    settings = Settings(home=sigmax_home, logging=LoggingSettings(max_bytes=65536, backup_count=2))
    path = configure_logging(settings, console=False)
    (file_handler,) = [
        h for h in sigmax_handlers() if isinstance(h, logging.handlers.RotatingFileHandler)
    ]
    assert file_handler.maxBytes == 65536
    assert file_handler.backupCount == 2
    log = logging.getLogger("sigmax")
    for i in range(1200):
        log.info("line %04d %s", i, "x" * 100)
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == ["sigmax.log", "sigmax.log.1", "sigmax.log.2"]
    assert path.stat().st_size <= 65536


def test_default_rotation_is_10_mb_times_5(sigmax_home: Path) -> None:
    configure_logging(Settings(home=sigmax_home), console=False)
    (file_handler,) = [
        h for h in sigmax_handlers() if isinstance(h, logging.handlers.RotatingFileHandler)
    ]
    assert (file_handler.maxBytes, file_handler.backupCount) == (10 * 1024 * 1024, 5)


def test_bad_format_arguments_do_not_raise(settings: Settings) -> None:
    path = configure_logging(settings, console=False)
    record = logging.getLogger("sigmax").makeRecord(
        "sigmax", logging.INFO, __file__, 1, "%d items", ("not a number",), None
    )
    # Straight to SIGMAX's handlers: pytest's own capture handler would raise on this record.
    for handler in sigmax_handlers():
        handler.handle(record)
    assert read_lines(path)[-1].endswith(
        "sigmax: '%d items' (could not be formatted with arguments ('not a number',))"
    )


def test_uvicorn_access_lines_are_debug_records(settings: Settings) -> None:
    """The dashboard's polling must not fill the log: one access line per request is DEBUG."""
    access = logging.getLogger("uvicorn.access")
    path = configure_logging(settings, console=False)
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/status", "1.1", 200)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    lines = read_lines(path)
    assert not any("/api/status" in line for line in lines), lines
    assert any("Application startup complete." in line for line in lines), lines

    path = configure_logging(settings, console=False, level="DEBUG")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/portfolio", "1.1", 200)
    (line,) = [line for line in read_lines(path) if "/api/portfolio" in line]
    assert "Z DEBUG    uvicorn.access: " in line
