"""Retries with capped, jittered exponential backoff for calls to remote services.

The policy is a small value; the loop knows nothing about any exchange library: the caller says
which failures are transient and how long the server asked us to wait (``Retry-After``).

Backoff after the n-th failed attempt (n = 1, 2, ...) is drawn uniformly from ``[d/2, d]`` with
``d = min(max_delay_s, base_delay_s * 2**(n-1))`` ("equal jitter"): the lower bound keeps a
guaranteed pause, the randomness keeps many clients from retrying in lock-step. When the server
sends ``Retry-After`` we wait at least that long; if it asks for more than ``max_delay_s`` we stop
at once rather than block a trading loop for minutes or hammer a server that is banning us.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from sigmax.errors import ConfigError, ConfigProblem

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    #: Total attempts including the first one; 1 means "never retry".
    max_attempts: int = 4
    #: Backoff ceiling after the first failure, in seconds; doubles with each further failure.
    base_delay_s: float = 0.5
    #: No single pause is longer than this, and a ``Retry-After`` above it ends the retries.
    max_delay_s: float = 10.0

    def __post_init__(self) -> None:
        problems: list[ConfigProblem] = []
        if self.max_attempts < 1:
            problems.append(
                ConfigProblem("retry.max_attempts", "must be >= 1", str(self.max_attempts))
            )
        if not self.base_delay_s >= 0:
            problems.append(
                ConfigProblem("retry.base_delay_s", "must be >= 0", str(self.base_delay_s))
            )
        if not self.max_delay_s >= self.base_delay_s:
            problems.append(
                ConfigProblem(
                    "retry.max_delay_s", "must be >= retry.base_delay_s", str(self.max_delay_s)
                )
            )
        if problems:
            raise ConfigError(problems)

    def ceiling_s(self, failed_attempts: int) -> float:
        """Upper bound of the pause after ``failed_attempts`` failures (>= 1)."""
        exponent = max(failed_attempts - 1, 0)
        # Cap the exponent so a long-running policy cannot overflow float arithmetic.
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** min(exponent, 60)))

    def backoff_s(self, failed_attempts: int, rng: random.Random) -> float:
        """A jittered pause in ``[ceiling/2, ceiling]`` after ``failed_attempts`` failures."""
        ceiling = self.ceiling_s(failed_attempts)
        return rng.uniform(ceiling / 2, ceiling)


class RetriesExhaustedError(Exception):
    """Every attempt failed with a transient error, or the server asked us to wait too long."""

    def __init__(self, attempts: int, last_error: BaseException, reason: str) -> None:
        self.attempts = attempts
        self.last_error = last_error
        self.reason = reason
        super().__init__(f"{reason} after {attempts} attempt(s); last error: {last_error}")


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date form).

    Returns ``None`` when the value is neither, so a malformed header means plain backoff.
    """
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is not a delay
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(tz=UTC)
    return max((moment - reference).total_seconds(), 0.0)


async def retry_async(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    retry_after_s: Callable[[BaseException], float | None],
    describe: str,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_failure: Callable[[BaseException], None] | None = None,
    shown: Callable[[BaseException], str] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, retrying transient failures per ``policy``.

    Non-transient errors propagate unchanged on the first occurrence. When the attempts are
    used up (or a ``Retry-After`` exceeds ``policy.max_delay_s``) :class:`RetriesExhaustedError`
    is raised with the last error as its ``__cause__``. ``describe`` names the call in logs.
    ``on_failure`` hears of every failed attempt, retried or not (the safety enforcer counts
    them: a burst of errors pauses trading even when the retries succeed in the end).
    ``shown``: how an error reads in the log (a signed request's URL masked), else as
    ``ClassName: message``.
    """
    jitter = rng if rng is not None else random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except Exception as error:
            if on_failure is not None:
                on_failure(error)
            if not is_transient(error):
                raise
            requested = retry_after_s(error)
            if requested is not None and requested > policy.max_delay_s:
                raise RetriesExhaustedError(
                    attempt,
                    error,
                    f"server asked to wait {requested:g} s, more than max_delay_s="
                    f"{policy.max_delay_s:g} s",
                ) from error
            if attempt >= policy.max_attempts:
                raise RetriesExhaustedError(attempt, error, "all attempts failed") from error
            delay = policy.backoff_s(attempt, jitter)
            if requested is not None:
                delay = max(delay, requested)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                describe,
                attempt,
                policy.max_attempts,
                shown(error) if shown is not None else f"{type(error).__name__}: {error}",
                delay,
            )
            await sleep(delay)
