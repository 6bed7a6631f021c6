"""Builds the reasoner from the settings, and attaches its text to recorded decisions.

In a run, :class:`LlmAttacher` follows the bus's decision events (published after each commit,
so the deterministic record is already stored), reads each explained record back, asks the
reasoner and writes the answer into the record's ``llm`` entry. It runs beside the engine in
its own task: a slow, failing or budget-stopped LLM never delays or changes a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from sigmax.agents.privacy_agent import PrivacyAgent
from sigmax.bus.events import EventType
from sigmax.bus.protocol import EventBus
from sigmax.config.settings import Settings
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.errors import ConfigError, ConfigProblem
from sigmax.research.cache import RedisCache, ResearchCache
from sigmax.research.llm.providers import (
    AnthropicProvider,
    LlmProvider,
    OllamaProvider,
    OpenAIProvider,
)
from sigmax.research.llm.reasoner import CACHE_TTL_S, LlmBudget, LlmReasoner, Prices
from sigmax.research.llm.stance import LlmStances
from sigmax.research.sqlite_cache import SqliteCache
from sigmax.safety.privacy import PrivacyScanner

log = logging.getLogger(__name__)

LLM_CACHE_FILE: Final = "llm/cache.sqlite"


def llm_cache_path(settings: Settings) -> Path:
    """The SQLite file of LLM replies and the LLM budget when no REDIS_URL is set."""
    return settings.home / LLM_CACHE_FILE


def reasoner_from_settings(
    settings: Settings,
    cache: ResearchCache | None = None,
    *,
    reply_ttl_s: float | None = CACHE_TTL_S,
) -> LlmReasoner | None:
    """The reasoner LLM_PROVIDER asks for, or None when none is set.

    Replies and the budget are kept in Redis when REDIS_URL is set (``cache``, the research
    cache, when it is that Redis), else in the SQLite file :func:`llm_cache_path`: never only
    in memory, so a rerun in another process is answered from the cache, free and identical.
    """
    llm = settings.research.llm
    if llm.provider is None or llm.model is None:
        return None
    provider: LlmProvider
    credentials, services = settings.credentials, settings.services
    if llm.provider == "openai":
        if credentials.openai_api_key is None:
            raise ConfigError(
                [ConfigProblem("OPENAI_API_KEY", "is required when LLM_PROVIDER=openai")]
            )
        provider = OpenAIProvider(
            services.openai_url, credentials.openai_api_key, llm.model, llm.timeout_s
        )
    elif llm.provider == "anthropic":
        if credentials.anthropic_api_key is None:
            raise ConfigError(
                [ConfigProblem("ANTHROPIC_API_KEY", "is required when LLM_PROVIDER=anthropic")]
            )
        provider = AnthropicProvider(
            services.anthropic_url, credentials.anthropic_api_key, llm.model, llm.timeout_s
        )
    else:
        if services.ollama_url is None:
            raise ConfigError([ConfigProblem("OLLAMA_URL", "is required when LLM_PROVIDER=ollama")])
        provider = OllamaProvider(services.ollama_url, llm.model, llm.timeout_s)
    store: ResearchCache
    if cache is not None and cache.name == "redis":
        store = cache
    elif services.redis_url is not None:
        store = RedisCache(services.redis_url.get_secret_value())
    else:
        store = SqliteCache(llm_cache_path(settings))
    price_in, price_out = llm.prices[llm.model]
    return LlmReasoner(
        provider,
        Prices(price_in, price_out),
        LlmBudget(store, daily_usd=llm.daily_budget_usd, daily_tokens=llm.daily_token_budget),
        store,
        PrivacyAgent(PrivacyScanner(settings.secret_values())),
        max_output_tokens=llm.max_output_tokens,
        reply_ttl_s=reply_ttl_s,
    )


def require_reasoner(settings: Settings, option: str, **options: Any) -> LlmReasoner:
    """The configured reasoner, or a ConfigError naming what ``option`` needs."""
    reasoner = reasoner_from_settings(settings, **options)
    if reasoner is None:
        missing = "LLM_PROVIDER" if settings.research.llm.provider is None else "LLM_MODEL"
        raise ConfigError(
            [
                ConfigProblem(
                    missing,
                    f"is required by {option}: set LLM_PROVIDER (openai, anthropic or ollama) "
                    "and LLM_MODEL",
                )
            ]
        )
    return reasoner


async def annotate_and_attach(
    reasoner: LlmReasoner,
    decisions: StoredDecisionLog,
    record: Mapping[str, Any],
    stances: LlmStances | None = None,
) -> dict[str, Any]:
    """Ask the reasoner about a stored record and attach the answer (whatever its status);
    an accepted answer's stance goes to ``stances`` for later decisions to read."""
    annotation = await reasoner.annotate(record)
    if stances is not None:
        stances.remember(record, annotation)
    if annotation["status"] not in ("ok", "cached"):
        log.warning(
            "LLM reasoning for decision %s: %s (%s)",
            record.get("id"),
            annotation["status"],
            annotation.get("reason", ""),
        )
    await asyncio.to_thread(decisions.attach_llm, str(record["id"]), annotation)
    return annotation


class LlmAttacher:
    """Follows a run's decision events and attaches the LLM's text to explained records."""

    def __init__(
        self,
        reasoner: LlmReasoner,
        decisions: StoredDecisionLog,
        stances: LlmStances | None = None,
    ) -> None:
        """``stances``: where accepted stances go when the LLM votes (a live run's)."""
        self.reasoner = reasoner
        self.decisions = decisions
        self.stances = stances
        self.attached = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, bus: EventBus) -> None:
        subscription = bus.subscribe([EventType.DECISION], name="llm-reasoning")

        async def follow() -> None:
            async for event in subscription:
                decision_id = event.payload.get("id")
                record = await asyncio.to_thread(self.decisions.get, str(decision_id))
                if record is None or not record.get("reasoning"):
                    continue  # stored as its numbers only: nothing to rewrite
                await annotate_and_attach(self.reasoner, self.decisions, record, self.stances)
                self.attached += 1

        self._task = asyncio.create_task(follow(), name="llm-reasoning")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
