"""Logging for SIGMAX: a rotating file under ``SIGMAX_HOME/logs``, tags, and secret masking.

Each record is one line (tracebacks follow on the next lines) with ONE tag after the time::

    2026-11-27T20:41:03.123Z TRADE    sigmax.engine: BUY 0.0002 BTC/USDT @ 43000 ... action: buy
    2026-11-27T20:41:04.001Z WARNING  sigmax.engine: BUY BTC/USDT not sent: ...
    2026-11-27T20:41:05.002Z INFO     sigmax.engine: ✓ Researcher agent initialized

The tag makes the runbook's ``grep "TRADE" logs/sigmax.log`` work. Code tags a record with
``extra={"tag": "TRADE"}`` (or :func:`log_trade`, :func:`log_pause`, :func:`tagged`); records at
ERROR or WARNING level get the ``ERROR`` / ``WARNING`` tag unless tagged otherwise. The text
line shows the tag in place of the level (a TRADE is logged at INFO, a PAUSE at WARNING), and
the level name when there is no tag, so no line carries two (``WARNING WARNING``); a CRITICAL
record keeps its level name. JSON lines keep both fields.

uvicorn's per-request access lines are DEBUG records here (:class:`AccessLogToDebug`): the
dashboard polls every second, and at INFO they would fill the log.

Every configured secret (API keys, passwords and whole service URLs) is replaced by
``**********`` in the message, its arguments, exception text and stack traces, on every handler
SIGMAX installs, before anything is written.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sigmax.config.settings import MASK, Settings

#: Secrets shorter than this are not masked: they would blank out ordinary words and numbers.
MIN_MASKED_LENGTH = 4
#: A signed request's signature, as an exchange client's error text quotes the request (query
#: string, form body or JSON). It is not the key, but it authorises that request again until
#: its ``recvWindow`` expires, so it is masked like a secret.
_REQUEST_SIGNATURE = re.compile(r"(\bsignature[\"']?\s*[=:]\s*[\"']?)[0-9A-Za-z+/=_-]{16,}", re.I)

_HANDLER_MARK = "_sigmax_handler"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "tag"}


class LogTag(StrEnum):
    """Tags the runbook greps for."""

    TRADE = "TRADE"
    PAUSE = "PAUSE"
    ERROR = "ERROR"
    WARNING = "WARNING"


def tagged(tag: LogTag | str, **fields: Any) -> dict[str, Any]:
    """The ``extra=`` mapping that tags a record: ``log.info("...", extra=tagged("TRADE"))``."""
    return {"tag": str(tag), **fields}


def log_trade(logger: logging.Logger, msg: str, *args: object, **fields: Any) -> None:
    """Log a trade event at INFO with the ``TRADE`` tag."""
    logger.info(msg, *args, extra=tagged(LogTag.TRADE, **fields), stacklevel=2)


def log_pause(logger: logging.Logger, msg: str, *args: object, **fields: Any) -> None:
    """Log a pause or resume of trading at WARNING with the ``PAUSE`` tag."""
    logger.warning(msg, *args, extra=tagged(LogTag.PAUSE, **fields), stacklevel=2)


class SecretMasker:
    """Replaces known secret values in text, longest first (so a URL hides before its password)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if len(s) >= MIN_MASKED_LENGTH}
        self._secrets = sorted(unique, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "ignature" in text:
            text = _REQUEST_SIGNATURE.sub(lambda found: found.group(1) + MASK, text)
        return text

    def mask_value(self, value: object) -> object:
        """Mask strings (also inside lists, tuples and dicts); leave other values alone."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.mask_value(v) for v in value]
        if type(value) is tuple:
            return tuple(self.mask_value(v) for v in value)
        if isinstance(value, dict):
            return {k: self.mask_value(v) for k, v in value.items()}
        return value


def _message_of(record: logging.LogRecord) -> str:
    """The formatted message; a bad format string must not crash the code that logged it."""
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!r} (could not be formatted with arguments {record.args!r})"


class TagAndMaskFilter(logging.Filter):
    """Give each record its tag and scrub secrets from everything that will be written.

    The message is formatted here (``msg % args``) and the arguments dropped, so a secret passed
    as an argument is masked too; the exception and stack text are rendered and masked here so
    that every formatter after this filter only sees scrubbed text.
    """

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self._masker = masker
        self._exception_renderer = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "tag", None):
            if record.levelno >= logging.CRITICAL:
                # Its level name is its one tag; "CRITICAL ERROR" would be two.
                record.tag = ""
            elif record.levelno >= logging.ERROR:
                record.tag = LogTag.ERROR.value
            elif record.levelno >= logging.WARNING:
                record.tag = LogTag.WARNING.value
            else:
                record.tag = ""
        if not self._masker:
            return True
        record.msg = self._masker.mask(_message_of(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_renderer.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._masker.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._masker.mask(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS:
                setattr(record, name, self._masker.mask_value(value))
        return True


def _utc_timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """``<UTC time> <TAG> <logger>: <message>``, secrets masked once more at the end.

    ``TAG`` is the record's tag, or its level name when it has none: one word per line.
    """

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self._masker = masker

    def format(self, record: logging.LogRecord) -> str:
        tag = getattr(record, "tag", "") or record.levelname
        line = f"{_utc_timestamp(record)} {tag:<8} {record.name}: {_message_of(record)}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return self._masker.mask(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, tag, logger, message, exception and extras."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self._masker = masker

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_timestamp(record),
            "level": record.levelname,
            "tag": getattr(record, "tag", "") or "",
            "logger": record.name,
            "message": _message_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and name not in entry:
                entry[name] = value
        return self._masker.mask(json.dumps(entry, default=str, ensure_ascii=False))


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the moment of each record.

    A plain StreamHandler keeps the stream it was created with; test runners and the CLI's
    output capture swap ``sys.stderr``, and writing to the old, closed stream would fail.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


#: uvicorn's logger for one line per HTTP request.
ACCESS_LOGGER = "uvicorn.access"


class AccessLogToDebug(logging.Filter):
    """Turns uvicorn's per-request access records into DEBUG records.

    uvicorn logs each request at INFO; the dashboard's polling would fill the log with them.
    As DEBUG records they are written only when the log level is DEBUG (``--log-level``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _demote_access_log() -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, AccessLogToDebug) for f in access.filters):
        access.addFilter(AccessLogToDebug())


def _remove_previous_handlers(root: logging.Logger) -> None:
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()


def _install(root: logging.Logger, handler: logging.Handler, masker: SecretMasker) -> None:
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(TagAndMaskFilter(masker))
    root.addHandler(handler)


def configure_logging(
    settings: Settings,
    *,
    json_lines: bool = False,
    console: bool = True,
    level: str | None = None,
) -> Path:
    """Send all logging to ``SIGMAX_HOME/logs/sigmax.log`` (rotating) and optionally stderr.

    Installs on the root logger so that library records (ccxt, aiohttp, SQLAlchemy) are masked
    and written too. Calling it again replaces SIGMAX's handlers instead of adding more.
    ``level`` (e.g. ``"DEBUG"``) wins over ``settings.logging.level``. Returns the log file path.
    """
    chosen_level = (level or settings.logging.level).strip().upper()
    numeric_level = logging.getLevelName(chosen_level)
    if not isinstance(numeric_level, int):
        raise ValueError(
            f"log level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got {level!r})"
        )
    log_file = settings.log_file
    log_file.parent.mkdir(parents=True, exist_ok=True)
    masker = SecretMasker(settings.secret_values())

    root = logging.getLogger()
    _remove_previous_handlers(root)
    root.setLevel(numeric_level)
    _demote_access_log()

    file_handler = logging.handlers.RotatingFileHandler(
        log_file,
        maxBytes=settings.logging.max_bytes,
        backupCount=settings.logging.backup_count,
        encoding="utf-8",
    )
    file_handler.setFormatter(JsonFormatter(masker) if json_lines else TextFormatter(masker))
    _install(root, file_handler, masker)

    if console:
        console_handler = StderrHandler()
        console_handler.setFormatter(TextFormatter(masker))
        _install(root, console_handler, masker)
    return log_file


def sigmax_handlers() -> list[logging.Handler]:
    """The handlers :func:`configure_logging` installed (for tests and shutdown)."""
    return [h for h in logging.getLogger().handlers if getattr(h, _HANDLER_MARK, False)]


@contextmanager
def file_logging(settings: Settings) -> Iterator[Path]:
    """Log to ``logs/sigmax.log`` only, for the span of one operator command run from the
    CLI: what it does with no engine running (a pause, a panic's close-out and its TRADE
    lines) must reach the log the runbook greps, while the terminal shows the command's own
    answer once."""
    path = configure_logging(settings, console=False)
    try:
        yield path
    finally:
        shutdown_logging()


def shutdown_logging() -> None:
    """Flush, close and remove SIGMAX's handlers."""
    _remove_previous_handlers(logging.getLogger())
