"""Reading configuration values and remembering where each one came from.

Every source (YAML file, ``.env``, environment, explicit overrides) becomes a :class:`Layer`: a
flat mapping from a settings path such as ``("profile", "max_position_size")`` to a raw value,
plus the :class:`Origin` of each value. :func:`merge_layers` stacks them, later layers winning,
and keeps the origin of every value that survives. The origins are what lets an error say
``MAX_POSITION_SIZE: must be > 0 (got -5)`` or ``profiles/aggressive.yaml: risk_per_trade: ...``
and what ``sigmax config show`` prints in its source column.
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sigmax.errors import ConfigProblem

#: A settings path such as ("profile", "max_position_size").
KeyPath = tuple[str, ...]
#: A pydantic error location: names and list indices.
Loc = tuple[str | int, ...]

#: Every environment variable SIGMAX reads, and the settings value it sets.
ENV_VARS: dict[str, KeyPath] = {
    "TRADING_MODE": ("trading", "mode"),
    "TESTNET": ("trading", "testnet"),
    "EXCHANGE": ("trading", "exchange"),
    "MAX_POSITION_SIZE": ("profile", "max_position_size"),
    "MAX_DAILY_LOSS": ("safety", "max_daily_loss_usd"),
    "MAX_CONSECUTIVE_LOSSES": ("safety", "max_consecutive_losses"),
    "MAX_API_ERRORS_PER_MIN": ("safety", "max_api_errors"),
    "MAX_SLIPPAGE_PCT": ("safety", "max_slippage_pct"),
    "MIN_SENTIMENT": ("safety", "min_sentiment"),
    "API_KEY": ("credentials", "api_key"),
    "API_SECRET": ("credentials", "api_secret"),
    "API_SECRET_FILE": ("credentials", "api_secret_file"),
    "OPENAI_API_KEY": ("credentials", "openai_api_key"),
    "ANTHROPIC_API_KEY": ("credentials", "anthropic_api_key"),
    "NEWSAPI_KEY": ("credentials", "newsapi_key"),
    "TELEGRAM_BOT_TOKEN": ("credentials", "telegram_bot_token"),
    "TELEGRAM_ALLOWED_CHAT_IDS": ("telegram", "allowed_chat_ids"),
    "TELEGRAM_API_URL": ("telegram", "api_url"),
    "OLLAMA_URL": ("services", "ollama_url"),
    "NEWSAPI_URL": ("services", "newsapi_url"),
    "CRYPTOPANIC_TOKEN": ("credentials", "cryptopanic_token"),
    "CRYPTOPANIC_URL": ("services", "cryptopanic_url"),
    "REDDIT_URL": ("services", "reddit_url"),
    "COINGECKO_URL": ("services", "coingecko_url"),
    "FEAR_GREED_URL": ("services", "fear_greed_url"),
    "MEMPOOL_URL": ("services", "mempool_url"),
    "OPENAI_URL": ("services", "openai_url"),
    "ANTHROPIC_URL": ("services", "anthropic_url"),
    "RSS_FEEDS": ("research", "rss_feeds"),
    "REDDIT_SUBREDDITS": ("research", "reddit_subreddits"),
    "LLM_PROVIDER": ("research", "llm", "provider"),
    "LLM_MODEL": ("research", "llm", "model"),
    "LLM_DAILY_BUDGET_USD": ("research", "llm", "daily_budget_usd"),
    "POSTGRES_URL": ("services", "postgres_url"),
    "DATABASE_URL": ("services", "database_url"),
    "REDIS_URL": ("services", "redis_url"),
    "NATS_URL": ("services", "nats_url"),
    "OPA_URL": ("safety", "policy", "opa_url"),
    "SIGMAX_PROFILE": ("profile_name",),
    "LOG_LEVEL": ("logging", "level"),
    "QUANTUM_ENABLED": ("quantum", "enabled"),
    "QUANTUM_SHOTS": ("quantum", "shots"),
}
#: Variables that choose where configuration is read from rather than set a value.
HOME_VAR = "SIGMAX_HOME"
CONFIG_DIR_VAR = "SIGMAX_CONFIG_DIR"
ALL_ENV_VARS: tuple[str, ...] = (*ENV_VARS, HOME_VAR, CONFIG_DIR_VAR)
ENV_VAR_FOR_PATH: dict[KeyPath, str] = {
    **{path: name for name, path in ENV_VARS.items()},
    ("home",): HOME_VAR,
    ("config_dir",): CONFIG_DIR_VAR,
}

#: Settings paths whose values are secret and never shown.
SECRET_PREFIXES: tuple[KeyPath, ...] = (
    ("credentials",),
    ("services", "postgres_url"),
    ("services", "database_url"),
    ("services", "redis_url"),
    ("services", "nats_url"),
)

SOURCE_DEFAULT = "default"
SOURCE_ENV = "env"
SOURCE_DOTENV = ".env"
SOURCE_OVERRIDE = "override"


def is_secret_path(path: KeyPath) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in SECRET_PREFIXES)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from.

    ``source`` is what ``config show`` prints (``env``, ``.env``, ``config.yaml``,
    ``profiles/balanced.yaml``, ``override`` or ``default``). A YAML file's content sits under
    ``mount`` in the settings (``safety.yaml`` fills ``safety``), which is stripped again when a
    key is named for the user. ``env_var`` is set when an environment variable gave the value.
    """

    source: str
    mount: KeyPath = ()
    env_var: str | None = None

    def key_for(self, path: Loc) -> str:
        """How to name ``path`` in a message so the user finds it where they wrote it."""
        if self.env_var is not None:
            return self.env_var if self.source == SOURCE_ENV else f"{self.source}: {self.env_var}"
        if self.source in (SOURCE_DEFAULT, SOURCE_OVERRIDE):
            return dotted(path)
        return f"{self.source}: {dotted(path[len(self.mount) :])}"


DEFAULT_ORIGIN = Origin(SOURCE_DEFAULT)


def dotted(path: Loc) -> str:
    """``("profile", "allowed_symbols", 2)`` -> ``profile.allowed_symbols[2]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class Layer:
    """Raw values from one source, flat by settings path, with their origins."""

    values: dict[KeyPath, Any] = field(default_factory=dict)
    origins: dict[KeyPath, Origin] = field(default_factory=dict)

    def set(self, path: KeyPath, value: Any, origin: Origin) -> None:
        self.values[path] = value
        self.origins[path] = origin


@dataclass
class MergedConfig:
    """All layers stacked: the nested raw data for validation and each value's origin."""

    data: dict[str, Any]
    origins: dict[KeyPath, Origin]

    def origin_of(self, path: Loc) -> Origin:
        """Origin of the value at ``path`` or of the nearest enclosing value that has one."""
        names = tuple(p for p in path if isinstance(p, str))
        for end in range(len(names), 0, -1):
            origin = self.origins.get(names[:end])
            if origin is not None:
                return origin
        return DEFAULT_ORIGIN


# -- YAML ---------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping_without_duplicates(
    loader: _StrictLoader, node: yaml.MappingNode
) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates
)


#: Parsed YAML mappings by the text they were parsed from: a process that loads the settings
#: over and over (an optimisation worker, one load per trial) parses each file once. The file is
#: still read every time, so an edited file is parsed again; keyed on its text, not its stat,
#: which a rewrite within the clock's resolution would leave unchanged.
_PARSED: OrderedDict[str, dict[str, Any]] = OrderedDict()
_PARSED_LIMIT = 64


def read_yaml_mapping(path: Path, label: str) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Read a YAML file that must hold a mapping; a missing or empty file is ``{}``."""
    if not path.is_file():
        return {}, []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return {}, [ConfigProblem(label, f"cannot be read: {error}")]
    cached = _PARSED.get(text)
    if cached is not None:
        _PARSED.move_to_end(text)
        # A copy: callers own what they are given, and the next one must get the file as read.
        return copy.deepcopy(cached), []
    data, problems = _parse_yaml_mapping(text, label)
    if not problems:
        _PARSED[text] = copy.deepcopy(data)
        while len(_PARSED) > _PARSED_LIMIT:
            _PARSED.popitem(last=False)
    return data, problems


def _parse_yaml_mapping(text: str, label: str) -> tuple[dict[str, Any], list[ConfigProblem]]:
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = error.problem or error.context or "unreadable"
        return {}, [ConfigProblem(label, f"invalid YAML syntax{where}: {reason}")]
    except yaml.YAMLError as error:
        return {}, [ConfigProblem(label, f"invalid YAML syntax: {error}")]
    if loaded is None:
        return {}, []
    if not isinstance(loaded, dict):
        return {}, [ConfigProblem(label, "must hold a mapping of keys", type(loaded).__name__)]
    return loaded, []


def yaml_layer(
    data: Mapping[str, Any],
    label: str,
    mount: KeyPath = (),
    allowed_top_level: Iterable[str] | None = None,
) -> tuple[Layer, list[ConfigProblem]]:
    """Flatten a YAML mapping into a layer mounted at ``mount``.

    ``allowed_top_level`` limits which sections a file may set (``config.yaml`` may not set
    ``safety``: that belongs in ``safety.yaml``); deeper keys are checked by the models.
    """
    layer = Layer()
    problems: list[ConfigProblem] = []
    allowed = None if allowed_top_level is None else sorted(allowed_top_level)
    origin = Origin(label, mount)
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(ConfigProblem(f"{label}: {key!r}", "keys must be text"))
            continue
        if allowed is not None and key not in allowed:
            problems.append(
                ConfigProblem(f"{label}: {key}", f"unknown key (allowed: {', '.join(allowed)})")
            )
            continue
        _flatten_into(layer, (*mount, key), value, origin, problems, label, mount)
    return layer, problems


def _flatten_into(
    layer: Layer,
    path: KeyPath,
    value: Any,
    origin: Origin,
    problems: list[ConfigProblem],
    label: str,
    mount: KeyPath,
) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            if not isinstance(key, str):
                where = dotted((*path[len(mount) :], str(key)))
                problems.append(ConfigProblem(f"{label}: {where}", "keys must be text"))
                continue
            _flatten_into(layer, (*path, key), inner, origin, problems, label, mount)
    else:
        layer.set(path, value, origin)


# -- environment and .env -----------------------------------------------------------------

_DOTENV_LINE_RE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_DOUBLE_QUOTE_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def _unquote(raw: str) -> str | None:
    """The value of a ``.env`` assignment's right-hand side; None when a quote is unclosed."""
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        chars: list[str] = []
        i = 1
        while i < len(raw):
            char = raw[i]
            if quote == '"' and char == "\\" and i + 1 < len(raw):
                chars.append(_DOUBLE_QUOTE_ESCAPES.get(raw[i + 1], "\\" + raw[i + 1]))
                i += 2
                continue
            if char == quote:
                rest = raw[i + 1 :].strip()
                if rest and not rest.startswith("#"):
                    return None
                return "".join(chars)
            chars.append(char)
            i += 1
        return None
    # Unquoted: a '#' after whitespace starts a comment ('#' inside a value is kept).
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def read_dotenv(path: Path, label: str = ".env") -> tuple[dict[str, str], list[ConfigProblem]]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``export`` allowed, ``#`` comments, quotes.

    Lines that cannot be parsed are reported by number only: they may hold a secret.
    """
    if not path.is_file():
        return {}, []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return {}, [ConfigProblem(label, f"cannot be read: {error}")]
    values: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _DOTENV_LINE_RE.match(stripped)
        value = _unquote(match.group(2)) if match else None
        if match is None or value is None:
            problems.append(
                ConfigProblem(label, f"line {number}: expected KEY=value (with closed quotes)")
            )
            continue
        values[match.group(1)] = value
    return values, problems


def env_layer(variables: Mapping[str, str], source: str) -> Layer:
    """The SIGMAX variables among ``variables``; empty values count as not set."""
    layer = Layer()
    for name, path in ENV_VARS.items():
        value = variables.get(name)
        if value is not None and value.strip() != "":
            layer.set(path, value, Origin(source, env_var=name))
    return layer


def override_layer(overrides: Mapping[str, Any]) -> tuple[Layer, list[ConfigProblem]]:
    """Explicit values, keyed by dotted settings path (``trading.mode``) or variable name."""
    layer = Layer()
    problems: list[ConfigProblem] = []
    origin = Origin(SOURCE_OVERRIDE)
    for key, value in overrides.items():
        path = ENV_VARS.get(key) or tuple(key.split("."))
        _flatten_into(layer, path, value, origin, problems, SOURCE_OVERRIDE, ())
    return layer, problems


# -- merging ------------------------------------------------------------------------------


def _overlaps(a: KeyPath, b: KeyPath) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def merge_layers(layers: Iterable[Layer]) -> MergedConfig:
    """Stack layers, later ones winning; a value replaces anything above or below its path."""
    values: dict[KeyPath, Any] = {}
    origins: dict[KeyPath, Origin] = {}
    for layer in layers:
        for path, value in layer.values.items():
            for existing in [p for p in values if _overlaps(p, path)]:
                del values[existing]
                del origins[existing]
            values[path] = value
            origins[path] = layer.origins[path]
    data: dict[str, Any] = {}
    for path, value in values.items():
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return MergedConfig(data, origins)
