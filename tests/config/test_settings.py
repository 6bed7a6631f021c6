"""Loading, layering and validating the configuration (no shell variables leak in: env is given)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sigmax.config import (
    ENV_VARS,
    AgentsSettings,
    ApiSettings,
    ConfigLoadError,
    LoggingSettings,
    ProfileSettings,
    SafetySettings,
    Settings,
    TradingSettings,
    load_settings,
    load_settings_with_sources,
)
from sigmax.config.paths import source_config_dir
from sigmax.domain.candles import Timeframe
from sigmax.errors import ConfigError

REPO_CONFIG = source_config_dir()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped configuration that a test may edit."""
    target = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, target)
    return target


@pytest.fixture
def home(tmp_path: Path) -> Path:
    target = tmp_path / "home"
    target.mkdir()
    return target


def load(home: Path, config_dir: Path, env: dict[str, str] | None = None, **kw: Any) -> Settings:
    return load_settings(home=home, config_dir=config_dir, env=env or {}, **kw)


def problems_of(
    home: Path, config_dir: Path, env: dict[str, str] | None = None, **kw: Any
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(home, config_dir, env, **kw)
    return [str(p) for p in caught.value.problems]


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# -- defaults and shipped files -----------------------------------------------------------


def test_shipped_configuration_validates_with_runbook_defaults(home: Path) -> None:
    settings = load_settings(home=home, config_dir=REPO_CONFIG, env={})
    assert settings.trading.mode == "paper"
    assert settings.trading.testnet is True
    assert settings.trading.exchange == "binance"
    assert settings.profile_name == "conservative"
    assert settings.profile.max_position_size == Decimal("10")
    assert settings.safety.max_daily_loss_usd == Decimal("10")
    assert settings.safety.max_consecutive_losses == 3
    assert settings.safety.max_api_errors == 7
    assert settings.safety.api_error_window_seconds == 60
    assert settings.safety.max_slippage_pct == 2.5
    assert settings.safety.min_sentiment == -0.35
    assert settings.safety.daily_loss_resets_at_utc_midnight is True
    assert settings.agents.debate_rounds == 2
    assert settings.agents.analyzer.timeframes.higher == ("x4", "x24")
    assert settings.agents.analyzer.timeframes.higher_timeframes == (Timeframe.H4, Timeframe.D1)
    assert settings.trading.paper_fee_rate == Decimal("0.001")
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8000)
    assert settings.home == home.resolve()
    assert settings.config_dir == REPO_CONFIG.resolve()
    assert settings.effective_database_url() == f"sqlite:///{home.resolve() / 'sigmax.db'}"
    assert settings.log_file == home.resolve() / "logs" / "sigmax.log"
    assert settings.secret_values() == []


def test_shipped_yaml_matches_the_model_defaults(home: Path) -> None:
    """A missing YAML file must behave exactly like the shipped one."""
    settings = load_settings(home=home, config_dir=REPO_CONFIG, env={})
    assert settings.trading == TradingSettings()
    assert settings.api == ApiSettings()
    assert settings.logging == LoggingSettings()
    assert settings.safety == SafetySettings()
    assert settings.agents == AgentsSettings()
    assert settings.profile == ProfileSettings()  # the defaults are the conservative profile


def test_profiles_escalate_risk_from_conservative_to_aggressive(home: Path) -> None:
    profiles = [
        load_settings(home=home, config_dir=REPO_CONFIG, env={}, profile=name).profile
        for name in ("conservative", "balanced", "aggressive")
    ]
    sizes = [p.max_position_size for p in profiles]
    assert sizes == [Decimal("10"), Decimal("50"), Decimal("100")]
    assert [p.risk_per_trade for p in profiles] == sorted(p.risk_per_trade for p in profiles)
    assert len({p.risk_per_trade for p in profiles}) == 3
    assert [p.buy_threshold for p in profiles] == sorted(
        (p.buy_threshold for p in profiles), reverse=True
    )
    assert [p.max_open_positions for p in profiles] == [2, 3, 4]
    for p in profiles:
        assert p.sell_threshold < 0 < p.buy_threshold
        assert p.max_position_size <= p.max_exposure


def test_missing_yaml_files_fall_back_to_defaults(home: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    (bare / "profiles").mkdir(parents=True)
    (bare / "profiles" / "conservative.yaml").write_text("", encoding="utf-8")
    settings = load(home, bare)
    assert settings == Settings(home=home, config_dir=bare)


# -- every variable is read ---------------------------------------------------------------

ENV_CASES: list[tuple[str, str, str, object]] = [
    ("TRADING_MODE", "live", "trading.mode", "live"),
    ("TESTNET", "false", "trading.testnet", False),
    ("EXCHANGE", "Kraken", "trading.exchange", "kraken"),
    ("MAX_POSITION_SIZE", "12.50", "profile.max_position_size", Decimal("12.50")),
    ("MAX_DAILY_LOSS", "25", "safety.max_daily_loss_usd", Decimal("25")),
    ("MAX_CONSECUTIVE_LOSSES", "5", "safety.max_consecutive_losses", 5),
    ("MAX_API_ERRORS_PER_MIN", "11", "safety.max_api_errors", 11),
    ("MAX_SLIPPAGE_PCT", "1.25", "safety.max_slippage_pct", 1.25),
    ("MIN_SENTIMENT", "-0.5", "safety.min_sentiment", -0.5),
    ("API_KEY", "key-abcdef", "credentials.api_key", "key-abcdef"),
    ("API_SECRET", "secret-abcdef", "credentials.api_secret", "secret-abcdef"),
    ("OPENAI_API_KEY", "sk-openai-1234", "credentials.openai_api_key", "sk-openai-1234"),
    ("ANTHROPIC_API_KEY", "sk-ant-1234", "credentials.anthropic_api_key", "sk-ant-1234"),
    ("NEWSAPI_KEY", "news-1234", "credentials.newsapi_key", "news-1234"),
    (
        "TELEGRAM_BOT_TOKEN",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
        "credentials.telegram_bot_token",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    ),
    (
        "TELEGRAM_ALLOWED_CHAT_IDS",
        " 42, -1001234567890",
        "telegram.allowed_chat_ids",
        (42, -1001234567890),
    ),
    ("TELEGRAM_API_URL", "http://127.0.0.1:8081/", "telegram.api_url", "http://127.0.0.1:8081"),
    ("OLLAMA_URL", "http://127.0.0.1:11434/", "services.ollama_url", "http://127.0.0.1:11434"),
    ("OPA_URL", "http://127.0.0.1:8181/", "safety.policy.opa_url", "http://127.0.0.1:8181"),
    ("NEWSAPI_URL", "http://127.0.0.1:8765/", "services.newsapi_url", "http://127.0.0.1:8765"),
    ("CRYPTOPANIC_TOKEN", "cp-1234", "credentials.cryptopanic_token", "cp-1234"),
    (
        "CRYPTOPANIC_URL",
        "http://127.0.0.1:8766/",
        "services.cryptopanic_url",
        "http://127.0.0.1:8766",
    ),
    ("REDDIT_URL", "http://127.0.0.1:8767", "services.reddit_url", "http://127.0.0.1:8767"),
    ("COINGECKO_URL", "http://127.0.0.1:8768/", "services.coingecko_url", "http://127.0.0.1:8768"),
    ("FEAR_GREED_URL", "http://127.0.0.1:8769", "services.fear_greed_url", "http://127.0.0.1:8769"),
    ("MEMPOOL_URL", "http://127.0.0.1:8772/", "services.mempool_url", "http://127.0.0.1:8772"),
    ("OPENAI_URL", "http://127.0.0.1:8770/v1", "services.openai_url", "http://127.0.0.1:8770/v1"),
    ("ANTHROPIC_URL", "http://127.0.0.1:8771", "services.anthropic_url", "http://127.0.0.1:8771"),
    (
        "RSS_FEEDS",
        "https://a.example/rss, https://b.example/feed",
        "research.rss_feeds",
        ("https://a.example/rss", "https://b.example/feed"),
    ),
    (
        "REDDIT_SUBREDDITS",
        "Bitcoin,ethereum",
        "research.reddit_subreddits",
        ("Bitcoin", "ethereum"),
    ),
    ("LLM_PROVIDER", "ollama", "research.llm.provider", "ollama"),
    ("LLM_MODEL", "gpt-4o-mini", "research.llm.model", "gpt-4o-mini"),
    ("LLM_DAILY_BUDGET_USD", "2.50", "research.llm.daily_budget_usd", Decimal("2.50")),
    (
        "POSTGRES_URL",
        "postgres://u:pw12@db:5432/sigmax",
        "services.postgres_url",
        "postgresql+psycopg://u:pw12@db:5432/sigmax",
    ),
    (
        "DATABASE_URL",
        "postgresql://u:pw12@db/sigmax",
        "services.database_url",
        "postgresql+psycopg://u:pw12@db/sigmax",
    ),
    (
        "REDIS_URL",
        "rediss://:pw1234@cache:6380/0",
        "services.redis_url",
        "rediss://:pw1234@cache:6380/0",
    ),
    (
        "NATS_URL",
        "nats://bus:pw5678@127.0.0.1:4222",
        "services.nats_url",
        "nats://bus:pw5678@127.0.0.1:4222",
    ),
    ("SIGMAX_PROFILE", "Aggressive", "profile_name", "aggressive"),
    ("LOG_LEVEL", "debug", "logging.level", "DEBUG"),
    ("QUANTUM_ENABLED", "true", "quantum.enabled", True),
    ("QUANTUM_SHOTS", "2048", "quantum.shots", 2048),
]


def _get(settings: Settings, dotted_key: str) -> object:
    value: object = settings
    for part in dotted_key.split("."):
        value = getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def test_every_runbook_variable_has_a_case() -> None:
    # API_SECRET_FILE needs a real file with its mode: tests/config/test_secret_file.py.
    assert {case[0] for case in ENV_CASES} | {"API_SECRET_FILE"} == set(ENV_VARS)


@pytest.mark.parametrize(("var", "raw", "key", "expected"), ENV_CASES)
def test_each_variable_is_read_from_the_environment(
    home: Path, config_dir: Path, var: str, raw: str, key: str, expected: object
) -> None:
    env = {var: raw}
    if var == "TRADING_MODE":
        env |= {"API_KEY": "key-abcdef", "API_SECRET": "secret-abcdef"}
    if var == "LLM_PROVIDER":
        env |= {"LLM_MODEL": "gpt-4o-mini"}
    if var == "TELEGRAM_BOT_TOKEN":
        env |= {"TELEGRAM_ALLOWED_CHAT_IDS": "42"}
    loaded = load_settings_with_sources(home=home, config_dir=config_dir, env=env)
    assert _get(loaded.settings, key) == expected
    assert loaded.source_of(key) == "env"


@pytest.mark.parametrize(
    ("env", "key", "rule"),
    [
        (
            {"TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"},
            "telegram.allowed_chat_ids",
            "must name at least one chat id when TELEGRAM_BOT_TOKEN is set",
        ),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token-at-all"}, "TELEGRAM_BOT_TOKEN", "@BotFather"),
        ({"TELEGRAM_ALLOWED_CHAT_IDS": "42,me"}, "TELEGRAM_ALLOWED_CHAT_IDS", "'me'"),
        ({"TELEGRAM_ALLOWED_CHAT_IDS": "42,42"}, "TELEGRAM_ALLOWED_CHAT_IDS", "repeat"),
        ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL", "http:// or https://"),
    ],
)
def test_telegram_settings_are_checked(
    home: Path, config_dir: Path, env: dict[str, str], key: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings_with_sources(home=home, config_dir=config_dir, env=env)
    text = str(raised.value)
    assert key in text, text
    assert rule in text, text
    # A refused token is never echoed.
    assert "not-a-token-at-all" not in text


def test_sigmax_home_and_config_dir_come_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "h"
    shutil.copytree(REPO_CONFIG, tmp_path / "elsewhere")
    env = {"SIGMAX_HOME": str(home), "SIGMAX_CONFIG_DIR": str(tmp_path / "elsewhere")}
    settings = load_settings(env=env)
    assert settings.home == home.resolve()
    assert settings.config_dir == (tmp_path / "elsewhere").resolve()


def test_home_config_folder_is_found_before_the_packaged_one(home: Path) -> None:
    shutil.copytree(REPO_CONFIG, home / "config")
    (home / "config" / "safety.yaml").write_text("max_consecutive_losses: 9\n", encoding="utf-8")
    loaded = load_settings_with_sources(env={"SIGMAX_HOME": str(home)})
    assert loaded.settings.config_dir == (home / "config").resolve()
    assert loaded.config_dir_reason == "SIGMAX_HOME/config"
    assert loaded.settings.safety.max_consecutive_losses == 9


def test_empty_values_count_as_not_set(home: Path, config_dir: Path) -> None:
    settings = load(home, config_dir, {"API_KEY": "", "MAX_POSITION_SIZE": "  ", "EXCHANGE": ""})
    assert settings.credentials.api_key is None
    assert settings.profile.max_position_size == Decimal("10")
    assert settings.trading.exchange == "binance"


def test_unknown_environment_variables_are_ignored(home: Path, config_dir: Path) -> None:
    settings = load(home, config_dir, {"MAX_POSITON_SIZE": "-1", "PATH": "/bin", "FOO": "bar"})
    assert settings.profile.max_position_size == Decimal("10")


def test_money_stays_exact(home: Path, config_dir: Path) -> None:
    (config_dir / "safety.yaml").write_text("max_daily_loss_usd: 12.34\n", encoding="utf-8")
    settings = load(home, config_dir, {"MAX_POSITION_SIZE": "10.10"})
    assert settings.profile.max_position_size == Decimal("10.10")
    assert settings.safety.max_daily_loss_usd == Decimal("12.34")
    assert settings.trading.paper_fee_rate == Decimal("0.001")


# -- precedence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_yaml", "in_dotenv", "in_env", "in_override", "expected", "source"),
    [
        (False, False, False, False, 3, "default"),
        (True, False, False, False, 4, "safety.yaml"),
        (True, True, False, False, 5, ".env"),
        (True, True, True, False, 6, "env"),
        (False, True, True, False, 6, "env"),
        (True, True, True, True, 7, "override"),
    ],
)
def test_precedence_override_env_dotenv_yaml_default(
    home: Path,
    config_dir: Path,
    in_yaml: bool,
    in_dotenv: bool,
    in_env: bool,
    in_override: bool,
    expected: int,
    source: str,
) -> None:
    safety = config_dir / "safety.yaml"
    safety.write_text("max_consecutive_losses: 4\n" if in_yaml else "", encoding="utf-8")
    if in_dotenv:
        (home / ".env").write_text("MAX_CONSECUTIVE_LOSSES=5\n", encoding="utf-8")
    env = {"MAX_CONSECUTIVE_LOSSES": "6"} if in_env else {}
    overrides = {"safety.max_consecutive_losses": 7} if in_override else None
    loaded = load_settings_with_sources(
        home=home, config_dir=config_dir, env=env, overrides=overrides
    )
    assert loaded.settings.safety.max_consecutive_losses == expected
    assert loaded.source_of("safety.max_consecutive_losses") == source


def test_env_max_position_size_overrides_the_profile(home: Path, config_dir: Path) -> None:
    loaded = load_settings_with_sources(
        home=home, config_dir=config_dir, env={"MAX_POSITION_SIZE": "80"}, profile="balanced"
    )
    assert loaded.settings.profile.max_position_size == Decimal("80")
    assert loaded.source_of("profile.max_position_size") == "env"
    assert loaded.source_of("profile.max_exposure") == "profiles/balanced.yaml"
    assert loaded.source_of("profile_name") == "override"


def test_profile_argument_wins_over_sigmax_profile(home: Path, config_dir: Path) -> None:
    env = {"SIGMAX_PROFILE": "aggressive"}
    assert load(home, config_dir, env).profile_name == "aggressive"
    assert load(home, config_dir, env, profile="balanced").profile_name == "balanced"


def test_overrides_accept_variable_names(home: Path, config_dir: Path) -> None:
    loaded = load_settings_with_sources(
        home=home, config_dir=config_dir, env={}, overrides={"MAX_DAILY_LOSS": "3.5"}
    )
    assert loaded.settings.safety.max_daily_loss_usd == Decimal("3.5")
    assert loaded.source_of("safety.max_daily_loss_usd") == "override"


def test_dotenv_parsing(home: Path, config_dir: Path) -> None:
    (home / ".env").write_text(
        "# comment\n"
        "\n"
        "export EXCHANGE=coinbase\n"
        'API_KEY="quoted key # not a comment"\n'
        "API_SECRET='single quoted'  # trailing comment\n"
        "NEWSAPI_KEY=plain-value # comment\n",
        encoding="utf-8",
    )
    settings = load(home, config_dir)
    assert settings.trading.exchange == "coinbase"
    assert settings.credentials.api_key is not None
    assert settings.credentials.api_key.get_secret_value() == "quoted key # not a comment"
    assert settings.credentials.api_secret is not None
    assert settings.credentials.api_secret.get_secret_value() == "single quoted"
    assert settings.credentials.newsapi_key is not None
    assert settings.credentials.newsapi_key.get_secret_value() == "plain-value"


def test_bad_dotenv_line_is_reported_by_number_without_its_content(
    home: Path, config_dir: Path
) -> None:
    (home / ".env").write_text("TESTNET=true\nAPI_SECRET='s3cr3t-unclosed\n", encoding="utf-8")
    problems = problems_of(home, config_dir)
    assert problems == [".env: line 2: expected KEY=value (with closed quotes)"]


# -- error messages -----------------------------------------------------------------------


def test_negative_position_size_message(home: Path, config_dir: Path) -> None:
    problems = problems_of(home, config_dir, {"MAX_POSITION_SIZE": "-5"})
    assert problems == ["MAX_POSITION_SIZE: must be > 0 (got -5)"]


def test_every_problem_is_listed(home: Path, config_dir: Path) -> None:
    env = {
        "MAX_POSITION_SIZE": "-5",
        "TESTNET": "maybe",
        "EXCHANGE": "ftx",
        "MIN_SENTIMENT": "2",
        "MAX_CONSECUTIVE_LOSSES": "0",
        "MAX_SLIPPAGE_PCT": "abc",
        "LOG_LEVEL": "loud",
    }
    problems = problems_of(home, config_dir, env)
    assert sorted(problems) == sorted(
        [
            "MAX_POSITION_SIZE: must be > 0 (got -5)",
            "TESTNET: must be true or false (got maybe)",
            "EXCHANGE: must be one of binance, coinbase, kraken (got ftx)",
            "MIN_SENTIMENT: must be <= 1 (got 2)",
            "MAX_CONSECUTIVE_LOSSES: must be >= 1 (got 0)",
            "MAX_SLIPPAGE_PCT: must be a number (got abc)",
            "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got LOUD)",
        ]
    )


def test_dotenv_values_are_named_with_the_file(home: Path, config_dir: Path) -> None:
    (home / ".env").write_text("MAX_DAILY_LOSS=0\n", encoding="utf-8")
    assert problems_of(home, config_dir) == [".env: MAX_DAILY_LOSS: must be > 0 (got 0)"]


def test_yaml_values_are_named_with_file_and_key(home: Path, config_dir: Path) -> None:
    profile = config_dir / "profiles" / "aggressive.yaml"
    text = profile.read_text(encoding="utf-8")
    profile.write_text(
        text.replace("risk_per_trade: 0.02", "risk_per_trade: 0.5"), encoding="utf-8"
    )
    (config_dir / "config.yaml").write_text("trading:\n  timeframe: 7m\n", encoding="utf-8")
    problems = problems_of(home, config_dir, profile="aggressive")
    assert problems == [
        "config.yaml: trading.timeframe: must be one of "
        "1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d (got 7m)",
        "profiles/aggressive.yaml: risk_per_trade: must be <= 0.1 (got 0.5)",
    ]


def test_yaml_range_error_names_profile_file(home: Path, config_dir: Path) -> None:
    (config_dir / "profiles" / "aggressive.yaml").write_text(
        "risk_per_trade: 0.5\nmax_open_positions: 0\n", encoding="utf-8"
    )
    assert problems_of(home, config_dir, profile="aggressive") == [
        "profiles/aggressive.yaml: max_open_positions: must be >= 1 (got 0)",
        "profiles/aggressive.yaml: risk_per_trade: must be <= 0.1 (got 0.5)",
    ]


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        (
            "config.yaml",
            "trading:\n  modee: paper\n",
            "config.yaml: trading.modee: unknown key "
            "(allowed: exchange, mode, paper_fee_rate, reconcile_minutes, symbols, testnet, "
            "timeframe)",
        ),
        (
            "config.yaml",
            "safety:\n  max_consecutive_losses: 2\n",
            "config.yaml: safety: unknown key "
            "(allowed: allocation, api, arbitrage, decision_history, logging, quantum, research, "
            "telegram, trading)",
        ),
        (
            "safety.yaml",
            "max_losses: 2\n",
            "safety.yaml: max_losses: unknown key (allowed: api_error_window_seconds, "
            "daily_loss_resets_at_utc_midnight, max_api_errors, max_consecutive_losses, "
            "max_daily_loss_usd, max_slippage_pct, min_sentiment, policy, privacy_pause, "
            "protections)",
        ),
        (
            "agents.yaml",
            "analyzer:\n  indicators:\n    rsi: 14\n",
            "agents.yaml: analyzer.indicators.rsi: unknown key (allowed: atr_period, "
            "bollinger_period, bollinger_stddev, ema_fast, ema_slow, macd_fast, macd_signal, "
            "macd_slow, rsi_period)",
        ),
        (
            "profiles/conservative.yaml",
            "risk_per_trad: 0.01\n",
            "profiles/conservative.yaml: risk_per_trad: unknown key (allowed: allowed_symbols, "
            "buy_threshold, max_exposure, max_open_positions, max_position_pct_of_equity, "
            "max_position_size, min_confidence, risk_per_trade, sell_threshold, "
            "starting_capital_usd, stop_atr_multiple, take_profit_atr_multiple)",
        ),
    ],
)
def test_unknown_yaml_keys_are_rejected(
    home: Path, config_dir: Path, file: str, content: str, expected: str
) -> None:
    (config_dir / file).write_text(content, encoding="utf-8")
    assert problems_of(home, config_dir) == [expected]


def test_secrets_are_not_accepted_in_yaml(home: Path, config_dir: Path) -> None:
    append(config_dir / "config.yaml", "credentials:\n  api_key: abcdef\n")
    assert problems_of(home, config_dir) == [
        "config.yaml: credentials: unknown key "
        "(allowed: allocation, api, arbitrage, decision_history, logging, quantum, research, "
        "telegram, trading)"
    ]


def test_invalid_yaml_syntax_names_file_and_line(home: Path, config_dir: Path) -> None:
    (config_dir / "safety.yaml").write_text(
        "max_consecutive_losses: 3\nprotections:\n  max_drawdown_pct: [10\n", encoding="utf-8"
    )
    problems = problems_of(home, config_dir)
    assert len(problems) == 1
    assert problems[0].startswith("safety.yaml: invalid YAML syntax at line 4, column 1:")


def test_duplicate_yaml_keys_are_rejected(home: Path, config_dir: Path) -> None:
    (config_dir / "safety.yaml").write_text(
        "max_consecutive_losses: 3\nmin_sentiment: 0\nmax_consecutive_losses: 30\n",
        encoding="utf-8",
    )
    assert problems_of(home, config_dir) == [
        "safety.yaml: invalid YAML syntax at line 3, column 1: "
        "duplicate key 'max_consecutive_losses' (first on line 1)"
    ]


def test_yaml_file_must_hold_a_mapping(home: Path, config_dir: Path) -> None:
    (config_dir / "agents.yaml").write_text("- researcher\n- bull\n", encoding="utf-8")
    assert problems_of(home, config_dir) == ["agents.yaml: must hold a mapping of keys (got list)"]


def test_unknown_profile_lists_the_available_ones(home: Path, config_dir: Path) -> None:
    problems = problems_of(home, config_dir, {"SIGMAX_PROFILE": "yolo"})
    assert problems == [
        f"SIGMAX_PROFILE: no file profiles/yolo.yaml in {config_dir.resolve()} "
        "(available profiles: aggressive, balanced, conservative, reference) (got yolo)"
    ]


def test_profile_name_cannot_be_a_path(home: Path, config_dir: Path) -> None:
    problems = problems_of(home, config_dir, {"SIGMAX_PROFILE": "../../etc/passwd"})
    assert len(problems) == 1
    assert problems[0].startswith("SIGMAX_PROFILE: must be a profile name made of a-z")


def test_custom_profile_file(home: Path, config_dir: Path) -> None:
    (config_dir / "profiles" / "tiny.yaml").write_text(
        "max_position_size: 5\nmax_exposure: 5\nallowed_symbols: [btc-usdt, eth/usdt]\n",
        encoding="utf-8",
    )
    loaded = load_settings_with_sources(
        home=home, config_dir=config_dir, env={"SIGMAX_PROFILE": "tiny"}
    )
    assert loaded.settings.profile.max_position_size == Decimal("5")
    assert loaded.settings.profile.allowed_symbols == ("BTC/USDT", "ETH/USDT")
    assert loaded.source_of("profile.max_exposure") == "profiles/tiny.yaml"
    assert loaded.source_of("profile.risk_per_trade") == "default"


def test_missing_config_dir_is_a_problem(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigLoadError) as caught:
        load_settings(home=home, env={"SIGMAX_CONFIG_DIR": str(missing)})
    assert [str(p) for p in caught.value.problems] == [
        f"SIGMAX_CONFIG_DIR: must be an existing folder (got {missing})"
    ]


def test_unknown_override_key_is_a_problem(home: Path, config_dir: Path) -> None:
    problems = problems_of(home, config_dir, overrides={"trading.speed": "fast"})
    assert problems == [
        "trading.speed: unknown key "
        "(allowed: exchange, mode, paper_fee_rate, reconcile_minutes, symbols, testnet, "
        "timeframe)"
    ]


# -- cross-field rules --------------------------------------------------------------------


def test_live_mode_requires_exchange_keys(home: Path, config_dir: Path) -> None:
    assert problems_of(home, config_dir, {"TRADING_MODE": "live"}) == [
        "API_KEY: is required when TRADING_MODE=live",
        "API_SECRET: is required when TRADING_MODE=live",
    ]
    assert problems_of(home, config_dir, {"TRADING_MODE": "live", "API_KEY": "k-123456"}) == [
        "API_SECRET: is required when TRADING_MODE=live"
    ]
    live = load(
        home, config_dir, {"TRADING_MODE": "live", "API_KEY": "k-123456", "API_SECRET": "s-1234"}
    )
    assert live.is_live


def test_live_mode_is_checked_alongside_other_problems(home: Path, config_dir: Path) -> None:
    problems = problems_of(home, config_dir, {"TRADING_MODE": "live", "MAX_DAILY_LOSS": "-1"})
    assert sorted(problems) == [
        "API_KEY: is required when TRADING_MODE=live",
        "API_SECRET: is required when TRADING_MODE=live",
        "MAX_DAILY_LOSS: must be > 0 (got -1)",
    ]


def test_live_mode_requires_risk_and_privacy_agents(home: Path, config_dir: Path) -> None:
    (config_dir / "agents.yaml").write_text("risk: {enabled: false}\n", encoding="utf-8")
    assert load(home, config_dir).agents.risk.enabled is False  # fine in paper mode
    env = {"TRADING_MODE": "live", "API_KEY": "k-123456", "API_SECRET": "s-123456"}
    assert problems_of(home, config_dir, env) == [
        "agents.yaml: risk.enabled: must be true when TRADING_MODE=live (got false)"
    ]


def test_thresholds_must_straddle_zero(home: Path, config_dir: Path) -> None:
    (config_dir / "profiles" / "conservative.yaml").write_text(
        "buy_threshold: -0.1\nsell_threshold: 0.2\n", encoding="utf-8"
    )
    assert problems_of(home, config_dir) == [
        "profiles/conservative.yaml: buy_threshold: must be > 0 (got -0.1)",
        "profiles/conservative.yaml: sell_threshold: must be < 0 (got 0.2)",
    ]


def test_position_size_cannot_exceed_exposure(home: Path, config_dir: Path) -> None:
    assert problems_of(home, config_dir, {"MAX_POSITION_SIZE": "50"}) == [
        "MAX_POSITION_SIZE: must be <= max_exposure (20) (got 50)"
    ]


def test_agent_weights_must_not_all_be_zero(home: Path, config_dir: Path) -> None:
    (config_dir / "agents.yaml").write_text(
        "researcher: {weight: 0}\nbull: {weight: 0}\nbear: {enabled: false}\n"
        "analyzer: {weight: 0}\n",
        encoding="utf-8",
    )
    assert problems_of(home, config_dir) == [
        "agents.yaml: analyzer.weight: the enabled agents' weights (researcher, bull, bear, "
        "analyzer) must not all be zero (got 0)"
    ]
    (config_dir / "agents.yaml").write_text("bull: {weight: -1}\n", encoding="utf-8")
    assert problems_of(home, config_dir) == ["agents.yaml: bull.weight: must be >= 0 (got -1)"]


def test_indicator_and_timeframe_rules(home: Path, config_dir: Path) -> None:
    (config_dir / "agents.yaml").write_text(
        "analyzer:\n  timeframes: {primary: 4h, higher: [1h, 1d]}\n"
        "  indicators: {macd_fast: 30, macd_slow: 26}\n",
        encoding="utf-8",
    )
    assert problems_of(home, config_dir) == [
        "agents.yaml: analyzer.timeframes.higher: must be multiples of primary such as x4, or "
        "timeframes longer than primary 4h and whole multiples of it (got [1h])",
        "agents.yaml: analyzer.indicators.macd_fast: must be < macd_slow (26) (got 30)",
    ]


def test_higher_timeframes_are_multiples_that_follow_the_primary(
    home: Path, config_dir: Path
) -> None:
    # The shipped x4 and x24 make 4h and 1d from 1h, and 8h and 2d from a 2h primary; a
    # timeframe in the file is kept as its multiple. The dump shows the timeframes.
    two_hours = load_settings(home=home, overrides={"agents.analyzer.timeframes.primary": "2h"})
    timeframes = two_hours.agents.analyzer.timeframes
    assert [tf.value for tf in timeframes.higher_timeframes] == ["8h", "2d"]
    assert timeframes.model_dump(mode="json") == {"primary": "2h", "higher": ["8h", "2d"]}
    (config_dir / "agents.yaml").write_text(
        "analyzer:\n  timeframes: {primary: 1h, higher: [4h, x6, 2d]}\n", encoding="utf-8"
    )
    settings = load_settings(home=home, config_dir=config_dir)
    assert settings.agents.analyzer.timeframes.higher == ("x4", "x6", "x48")
    (config_dir / "agents.yaml").write_text(
        "analyzer:\n  timeframes: {higher: [x1, x4, x4]}\n", encoding="utf-8"
    )
    assert problems_of(home, config_dir) == [
        "agents.yaml: analyzer.timeframes.higher: must all be multiples of at least x2 (got [x1])",
        "agents.yaml: analyzer.timeframes.higher: must not repeat a timeframe (got [x1, x4, x4])",
    ]


def test_traded_symbols_must_be_allowed_by_the_profile(home: Path, config_dir: Path) -> None:
    (config_dir / "config.yaml").write_text(
        "trading:\n  symbols: [BTC/USDT, DOGE/USDT]\n", encoding="utf-8"
    )
    assert problems_of(home, config_dir) == [
        "config.yaml: trading.symbols: must all be in the profile's allowed_symbols "
        "(BTC/USDT, ETH/USDT, SOL/USDT, BNB/USDT) (got [DOGE/USDT])"
    ]


def test_malformed_symbol(home: Path, config_dir: Path) -> None:
    (config_dir / "config.yaml").write_text("trading:\n  symbols: [BTCUSDT]\n", encoding="utf-8")
    problems = problems_of(home, config_dir)
    assert len(problems) == 1
    assert problems[0].startswith("config.yaml: trading.symbols: ")
    assert "BASE/QUOTE" in problems[0]


def test_nan_is_refused(home: Path, config_dir: Path) -> None:
    assert problems_of(home, config_dir, {"MAX_SLIPPAGE_PCT": "nan"}) == [
        "MAX_SLIPPAGE_PCT: must be a finite number (got nan)"
    ]


# -- secrets and URLs ---------------------------------------------------------------------

SECRET_ENV = {
    "API_KEY": "apikey-AAAA1111",
    "API_SECRET": "apisecret-BBBB2222",
    "OPENAI_API_KEY": "sk-openai-CCCC3333",
    "POSTGRES_URL": "postgres://trader:pg-pass-DDDD@db.internal:5432/sigmax",
    "REDIS_URL": "redis://:redis-pass-EEEE@cache:6379/0",
}


def test_secrets_never_show_in_repr_str_or_json(home: Path, config_dir: Path) -> None:
    settings = load(home, config_dir, SECRET_ENV)
    rendered = [repr(settings), str(settings), settings.model_dump_json()]
    for text in rendered:
        assert "**********" in text
        for secret in ("AAAA1111", "BBBB2222", "CCCC3333", "pg-pass-DDDD", "redis-pass-EEEE"):
            assert secret not in text


def test_secret_values_lists_keys_urls_and_passwords(home: Path, config_dir: Path) -> None:
    settings = load(home, config_dir, SECRET_ENV)
    values = settings.secret_values()
    assert "apikey-AAAA1111" in values
    assert "apisecret-BBBB2222" in values
    assert "sk-openai-CCCC3333" in values
    assert "postgresql+psycopg://trader:pg-pass-DDDD@db.internal:5432/sigmax" in values
    assert "pg-pass-DDDD" in values
    assert "redis://:redis-pass-EEEE@cache:6379/0" in values
    assert "redis-pass-EEEE" in values
    assert values == sorted(values, key=len, reverse=True)


def test_percent_encoded_password_is_listed_both_ways(home: Path, config_dir: Path) -> None:
    settings = load(home, config_dir, {"DATABASE_URL": "postgresql://u:p%40ss%2Fw0rd@h/db"})
    assert {"p@ss/w0rd", "p%40ss%2Fw0rd"} <= set(settings.secret_values())


def test_database_choice_and_summary_hide_the_password(home: Path, config_dir: Path) -> None:
    pg = load(home, config_dir, {"POSTGRES_URL": SECRET_ENV["POSTGRES_URL"]})
    assert pg.effective_database_url().startswith("postgresql+psycopg://trader:pg-pass-DDDD@")
    assert pg.database_summary() == "postgresql db.internal:5432/sigmax (user trader)"
    both = load(
        home,
        config_dir,
        {"POSTGRES_URL": SECRET_ENV["POSTGRES_URL"], "DATABASE_URL": "sqlite:///data/x.db"},
    )
    assert both.effective_database_url() == "sqlite:///data/x.db"
    assert both.database_summary() == "sqlite data/x.db"


@pytest.mark.parametrize(
    ("var", "raw", "rule"),
    [
        (
            "DATABASE_URL",
            "mysql://root:topsecret1@h/db",
            "must be a sqlite:/// or postgresql:// URL",
        ),
        ("POSTGRES_URL", "sqlite:///topsecret1.db", "must be a postgresql:// URL"),
        (
            "POSTGRES_URL",
            "postgresql://u:topsecret1@h:5432",
            "must name a database, e.g. postgresql://user@host:5432/sigmax",
        ),
        (
            "DATABASE_URL",
            "not a url topsecret1",
            "must be a SQLAlchemy URL such as postgresql://user:password@host:5432/sigmax",
        ),
        (
            "REDIS_URL",
            "http://:topsecret1@cache",
            "must be a redis:// or rediss:// URL with a host",
        ),
    ],
)
def test_bad_secret_urls_are_reported_masked(
    home: Path, config_dir: Path, var: str, raw: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(home, config_dir, {var: raw})
    assert [str(p) for p in caught.value.problems] == [f"{var}: {rule} (got **********)"]
    assert "topsecret1" not in str(caught.value)


def test_bad_ollama_url(home: Path, config_dir: Path) -> None:
    assert problems_of(home, config_dir, {"OLLAMA_URL": "ftp://x"}) == [
        "OLLAMA_URL: must be an http:// or https:// URL with a host (got ftp://x)"
    ]
