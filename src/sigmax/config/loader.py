"""Build :class:`Settings` from every source, and explain failures key by key.

Precedence, highest first: explicit overrides > environment variables > ``SIGMAX_HOME/.env`` >
the YAML files in the configuration folder > the defaults in :mod:`sigmax.config.settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel as _BaseModel
from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails

from sigmax.config.paths import (
    AGENTS_FILE_NAME,
    CONFIG_FILE_NAME,
    DOTENV_FILE_NAME,
    PROFILES_DIR_NAME,
    SAFETY_FILE_NAME,
    available_profiles,
    discover_config_dir,
    profile_file,
)
from sigmax.config.runbook_files import read_runbook_files
from sigmax.config.settings import (
    DEFAULT_PROFILE,
    MASK,
    RuleViolationsError,
    Settings,
    normalise_profile_name,
)
from sigmax.config.sources import (
    CONFIG_DIR_VAR,
    DEFAULT_ORIGIN,
    ENV_VAR_FOR_PATH,
    ENV_VARS,
    HOME_VAR,
    SOURCE_DEFAULT,
    SOURCE_DOTENV,
    SOURCE_ENV,
    SOURCE_OVERRIDE,
    KeyPath,
    Layer,
    Loc,
    MergedConfig,
    Origin,
    dotted,
    env_layer,
    is_secret_path,
    merge_layers,
    override_layer,
    read_dotenv,
    read_yaml_mapping,
    yaml_layer,
)
from sigmax.errors import ConfigError, ConfigProblem
from sigmax.url_secrets import mask_urls_in

#: Sections ``config.yaml`` may set; the others have their own files.
CONFIG_YAML_SECTIONS = (
    "trading",
    "api",
    "telegram",
    "logging",
    "decision_history",
    "arbitrage",
    "research",
    "allocation",
    "quantum",
)


class ConfigLoadError(ConfigError):
    """The configuration is invalid; also says which folder and home were read."""

    def __init__(
        self, problems: list[ConfigProblem], *, config_dir: Path | None, home: Path | None
    ) -> None:
        super().__init__(problems)
        self.config_dir = config_dir
        self.home = home


@dataclass(frozen=True, slots=True)
class EffectiveValue:
    """One effective setting for display: secrets already masked."""

    key: str
    value: Any
    source: str
    env_var: str | None


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """Valid settings together with the origin of every value."""

    settings: Settings
    merged: MergedConfig
    config_dir_reason: str

    def source_of(self, key: str) -> str:
        """The source of a dotted key such as ``profile.max_position_size``."""
        return self.merged.origin_of(tuple(key.split("."))).source

    def effective_values(self) -> list[EffectiveValue]:
        """Every leaf setting with its value (secrets masked) and source, in model order."""
        secrets = self.settings.secret_values()
        rows: list[EffectiveValue] = []
        for path, value in _leaves(self.settings, ()):
            shown = _display_value(path, value, secrets)
            origin = self.merged.origin_of(path)
            env_var = ENV_VAR_FOR_PATH.get(path)
            rows.append(EffectiveValue(dotted(path), shown, origin.source, env_var))
        return rows

    def as_json(self) -> dict[str, Any]:
        """What ``sigmax config show --json`` and ``GET /api/config`` answer (secrets masked)."""
        settings = self.settings
        return {
            "config_dir": str(settings.config_dir),
            "config_dir_reason": self.config_dir_reason,
            "home": str(settings.home),
            "profile": settings.profile_name,
            "database": settings.database_summary(),
            "values": {
                row.key: {"value": row.value, "source": row.source, "env": row.env_var}
                for row in self.effective_values()
            },
        }


def load_settings(
    *,
    home: Path | None = None,
    config_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read and validate the configuration; raise :class:`ConfigLoadError` listing every problem.

    ``env`` defaults to ``os.environ``; pass a mapping to make a call independent of the shell.
    ``profile`` and ``overrides`` (dotted keys like ``trading.mode`` or variable names like
    ``MAX_POSITION_SIZE``) win over every other source.
    """
    return load_settings_with_sources(
        home=home, config_dir=config_dir, env=env, profile=profile, overrides=overrides
    ).settings


def load_settings_with_sources(
    *,
    home: Path | None = None,
    config_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Like :func:`load_settings`, and also keep where each value came from."""
    environ: Mapping[str, str] = os.environ if env is None else env
    problems: list[ConfigProblem] = []

    home_path, home_origin = _choose_home(home, environ)
    dotenv_path = home_path / DOTENV_FILE_NAME
    dotenv_values, dotenv_problems = read_dotenv(dotenv_path, DOTENV_FILE_NAME)
    problems += dotenv_problems

    folder, folder_origin, reason, folder_problems = _choose_config_dir(
        config_dir, environ, dotenv_values, home_path
    )
    problems += folder_problems
    if folder is None:
        raise ConfigLoadError(problems, config_dir=None, home=home_path)

    location = Layer()
    location.set(("home",), str(home_path), home_origin)
    location.set(("config_dir",), str(folder), folder_origin)

    yaml_layers, yaml_problems = _read_yaml_layers(folder)
    problems += yaml_problems
    # The runbook's optimization.yaml / memory.yaml: honoured keys win over the YAML files.
    runbook_layers, runbook_problems = read_runbook_files(folder, home_path)
    yaml_layers += runbook_layers
    problems += runbook_problems

    explicit, override_problems = override_layer(
        {**(overrides or {}), **({"profile_name": profile} if profile is not None else {})}
    )
    problems += override_problems
    env_values = env_layer(environ, SOURCE_ENV)
    dotenv_layer = env_layer(dotenv_values, SOURCE_DOTENV)

    chosen = merge_layers([dotenv_layer, env_values, explicit])
    profile_layer, profile_problems = _read_profile_layer(folder, chosen)
    problems += profile_problems

    layers = [*yaml_layers, profile_layer, dotenv_layer, env_values, location, explicit]
    merged = merge_layers(layers)
    try:
        settings = Settings.model_validate(merged.data)
    except ValidationError as error:
        problems += problems_from_validation_error(error, merged)
    if problems:
        raise ConfigLoadError(_unique(problems), config_dir=folder, home=home_path)
    return LoadedSettings(settings, merged, reason)


# -- where to read from -------------------------------------------------------------------


def _choose_home(home: Path | None, environ: Mapping[str, str]) -> tuple[Path, Origin]:
    if home is not None:
        return Path(home).expanduser().resolve(), Origin(SOURCE_OVERRIDE)
    configured = environ.get(HOME_VAR, "").strip()
    if configured:
        return Path(configured).expanduser().resolve(), Origin(SOURCE_ENV, env_var=HOME_VAR)
    return Path.cwd().resolve(), DEFAULT_ORIGIN


def _choose_config_dir(
    explicit: Path | None,
    environ: Mapping[str, str],
    dotenv_values: Mapping[str, str],
    home: Path,
) -> tuple[Path | None, Origin, str, list[ConfigProblem]]:
    candidates: list[tuple[str | Path, Origin]] = []
    if explicit is not None:
        candidates.append((explicit, Origin(SOURCE_OVERRIDE)))
    for values, source in ((environ, SOURCE_ENV), (dotenv_values, SOURCE_DOTENV)):
        configured = values.get(CONFIG_DIR_VAR, "").strip()
        if configured:
            candidates.append((configured, Origin(source, env_var=CONFIG_DIR_VAR)))
    if candidates:
        raw, origin = candidates[0]
        path = Path(raw).expanduser().resolve()
        if not path.is_dir():
            key = origin.key_for(("config_dir",))
            return None, origin, "", [ConfigProblem(key, "must be an existing folder", str(raw))]
        return path, origin, f"set by {origin.env_var or 'the config_dir argument'}", []
    found = discover_config_dir(home)
    if found is None:
        problem = ConfigProblem(
            CONFIG_DIR_VAR,
            "no configuration folder found (SIGMAX_HOME/config, ./config or the packaged copy); "
            "set SIGMAX_CONFIG_DIR",
        )
        return None, DEFAULT_ORIGIN, "", [problem]
    return found.path, DEFAULT_ORIGIN, found.reason, []


def _read_yaml_layers(folder: Path) -> tuple[list[Layer], list[ConfigProblem]]:
    layers: list[Layer] = []
    problems: list[ConfigProblem] = []
    files: list[tuple[str, KeyPath, tuple[str, ...] | None]] = [
        (CONFIG_FILE_NAME, (), CONFIG_YAML_SECTIONS),
        (SAFETY_FILE_NAME, ("safety",), None),
        (AGENTS_FILE_NAME, ("agents",), None),
    ]
    for name, mount, sections in files:
        data, read_problems = read_yaml_mapping(folder / name, name)
        layer, layer_problems = yaml_layer(data, name, mount, sections)
        layers.append(layer)
        problems += read_problems + layer_problems
    return layers, problems


def _read_profile_layer(folder: Path, chosen: MergedConfig) -> tuple[Layer, list[ConfigProblem]]:
    """The chosen profile's file. An invalid name is left for the model to report."""
    raw_name = chosen.data.get("profile_name", DEFAULT_PROFILE)
    origin = chosen.origin_of(("profile_name",))
    try:
        name = normalise_profile_name(raw_name)
    except (TypeError, ValueError):
        return Layer(), []
    path = profile_file(folder, name)
    label = f"{PROFILES_DIR_NAME}/{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_profiles(folder)) or "none"
        rule = f"no file {label} in {folder} (available profiles: {known})"
        return Layer(), [ConfigProblem(_problem_key(("profile_name",), origin), rule, name)]
    data, problems = read_yaml_mapping(path, label)
    layer, layer_problems = yaml_layer(data, label, ("profile",))
    return layer, problems + layer_problems


# -- turning validation errors into problems ----------------------------------------------


def problems_from_validation_error(
    error: ValidationError, merged: MergedConfig
) -> list[ConfigProblem]:
    """One :class:`ConfigProblem` per broken rule, named as the user wrote the key."""
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        loc: Loc = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, RuleViolationsError):
            for violation in cause.violations:
                path: Loc = violation.path if violation.absolute else (*loc, *violation.path)
                problems.append(_make_problem(path, violation.rule, violation.value, merged))
            continue
        shows_value = item["type"] not in ("extra_forbidden", "missing")
        problems.append(
            _make_problem(
                loc,
                describe_error(item, loc),
                item.get("input") if shows_value else None,
                merged,
            )
        )
    return problems


def _make_problem(path: Loc, rule: str, value: object, merged: MergedConfig) -> ConfigProblem:
    origin = merged.origin_of(path)
    names = tuple(p for p in path if isinstance(p, str))
    if value is None:
        shown = None
    elif is_secret_path(names):
        shown = MASK
    else:
        # A rejected URL (OPA_URL, NEWSAPI_URL, ...) may still hold a password or a token.
        shown = mask_urls_in(format_value(value))
    return ConfigProblem(_problem_key(path, origin), rule, shown)


def _problem_key(path: Loc, origin: Origin) -> str:
    """Name a key where the user can fix it; defaults are named by their variable if any."""
    if origin.source == SOURCE_DEFAULT:
        names = tuple(p for p in path if isinstance(p, str))
        if len(names) == len(path) and names in ENV_VAR_FOR_PATH:
            return ENV_VAR_FOR_PATH[names]
    return origin.key_for(path)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _choices(expected: str) -> str:
    return ", ".join(part.strip(" '") for part in expected.replace(" or ", ", ").split(","))


def describe_error(item: ErrorDetails, loc: Loc) -> str:
    """A short rule for one pydantic error: ``must be > 0``, ``must be one of paper, live``."""
    kind = item["type"]
    ctx: dict[str, Any] = dict(item.get("ctx") or {})
    comparisons = {
        "greater_than": ("gt", ">"),
        "greater_than_equal": ("ge", ">="),
        "less_than": ("lt", "<"),
        "less_than_equal": ("le", "<="),
    }
    if kind in comparisons:
        name, sign = comparisons[kind]
        return f"must be {sign} {_number(ctx[name])}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {_choices(str(ctx.get('expected', '')))}"
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        return f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
    simple = {
        "missing": "is required",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "decimal_parsing": "must be a number",
        "decimal_type": "must be a number",
        "finite_number": "must be a finite number",
        "string_type": "must be text",
        "dict_type": "must be a mapping of keys",
        "model_type": "must be a mapping of keys",
        "model_attributes_type": "must be a mapping of keys",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "too_short": "must not be empty",
        "string_too_short": "must not be empty",
    }
    if kind in simple:
        return simple[kind]
    message = item["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[:1].lower() + message[1:]


def allowed_keys(parent: Loc) -> list[str]:
    """The keys a mapping at ``parent`` may hold, following the model's nested sections."""
    model: type[_BaseModel] = Settings
    for part in parent:
        if not isinstance(part, str) or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, _BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def format_value(value: object) -> str:
    """A value as a user would write it: ``-5``, ``true``, ``[4h, 1d]``, ``''``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value if value.strip() else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    return str(value)


def _unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return list(dict.fromkeys(problems))


# -- display ------------------------------------------------------------------------------


def _leaves(model: _BaseModel, prefix: KeyPath) -> list[tuple[KeyPath, Any]]:
    found: list[tuple[KeyPath, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = (*prefix, name)
        if isinstance(value, _BaseModel):
            found += _leaves(value, path)
        else:
            found.append((path, value))
    return found


def _display_value(path: KeyPath, value: Any, secrets: list[str]) -> Any:
    """JSON-ready value: secrets masked, money as exact decimal strings."""
    if isinstance(value, SecretStr) or (is_secret_path(path) and value is not None):
        return MASK
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_display_value(path, v, secrets) for v in value]
    if isinstance(value, dict):
        return {str(k): _display_value((*path, str(k)), v, secrets) for k, v in value.items()}
    if isinstance(value, str):
        # A password can hide in an otherwise public value (a URL with credentials).
        for secret in secrets:
            if len(secret) >= 4:
                value = value.replace(secret, MASK)
        return value
    return value


__all__ = [
    "ENV_VARS",
    "ConfigLoadError",
    "EffectiveValue",
    "LoadedSettings",
    "load_settings",
    "load_settings_with_sources",
    "problems_from_validation_error",
]
