"""What the API's routes share: the home, the candle catalog, the services, the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigmax.api.services import ApiServices
from sigmax.config import load_settings_with_sources
from sigmax.config.settings import Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.account import AccountHome
from sigmax.logging_setup import SecretMasker

ConfigView = Callable[[], dict[str, Any]]


def stored_config_view(settings: Settings) -> ConfigView:
    """``sigmax config show --json`` for ``settings``' home and profile (secrets masked)."""

    def view() -> dict[str, Any]:
        return load_settings_with_sources(
            home=settings.home, profile=settings.profile_name
        ).as_json()

    return view


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Everything a route reads or calls. ``started_at`` is on ``clock`` (monotonic seconds)."""

    home: AccountHome
    catalog: DatasetCatalog
    services: ApiServices
    config_view: ConfigView
    masker: SecretMasker
    clock: Callable[[], float] = time.monotonic
    started_at: float = field(default_factory=time.monotonic)

    @property
    def settings(self) -> Settings:
        return self.home.settings

    def mask(self, text: str) -> str:
        """``text`` with every configured secret and the API token masked."""
        return self.masker.mask(text)
