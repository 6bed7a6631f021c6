"""SIGMAX configuration: one typed :class:`Settings` from env, ``.env``, YAML and defaults.

Typical use::

    from sigmax.config import load_settings

    settings = load_settings()  # raises ConfigError listing every problem
    settings.profile.max_position_size  # Decimal, USD
"""

from sigmax.config.loader import (
    ConfigLoadError,
    EffectiveValue,
    LoadedSettings,
    load_settings,
    load_settings_with_sources,
)
from sigmax.config.settings import (
    MASK,
    AgentsSettings,
    ApiSettings,
    Credentials,
    LoggingSettings,
    ProfileSettings,
    SafetySettings,
    Services,
    Settings,
    TradingSettings,
)
from sigmax.config.sources import ALL_ENV_VARS, ENV_VARS

__all__ = [
    "ALL_ENV_VARS",
    "ENV_VARS",
    "MASK",
    "AgentsSettings",
    "ApiSettings",
    "ConfigLoadError",
    "Credentials",
    "EffectiveValue",
    "LoadedSettings",
    "LoggingSettings",
    "ProfileSettings",
    "SafetySettings",
    "Services",
    "Settings",
    "TradingSettings",
    "load_settings",
    "load_settings_with_sources",
]
