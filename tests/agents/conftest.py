"""Fixtures for the agents: real settings, the bundled candles, an orchestrator over them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sigmax.agents.market_view import SymbolHistory
from sigmax.agents.orchestrator import Orchestrator, build_history
from sigmax.config import Settings, load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import CandleSeries

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(config_dir=REPO_CONFIG, env={})


@pytest.fixture(scope="session")
def bundled_series() -> Callable[[str], CandleSeries]:
    catalog = DatasetCatalog.from_path(None)
    return lambda symbol: catalog.load(symbol, "1h").series


def orchestrator_over(
    settings: Settings, series_for: Callable[[str], CandleSeries]
) -> Orchestrator:
    """An orchestrator whose histories come from ``series_for`` (cached per symbol)."""
    cache: dict[str, SymbolHistory] = {}

    def history(symbol: str) -> SymbolHistory:
        if symbol not in cache:
            cache[symbol] = build_history(series_for(symbol), settings)
        return cache[symbol]

    return Orchestrator(settings, history)


@pytest.fixture(scope="session")
def orchestrator(settings: Settings, bundled_series: Callable[[str], CandleSeries]) -> Orchestrator:
    return orchestrator_over(settings, bundled_series)
