"""Train a PPO policy on one window, validate it on the next, and register it.

Walk-forward, never the reverse: the policy learns on the candles that closed inside the training
window (and the history before it, for indicators), then is evaluated by
:func:`sigmax.rl.evaluate.evaluate` on the validation window, which starts where training ends and
reads only candles after it. Training itself never reads a candle that closed after the training
window (the series are cut there before anything is computed).

Training is deterministic for a seed on this build (CPU, one torch thread, seeded environments):
the same request gives the same weights, so the same ``policy.npz`` sha256 and model id. torch
and stable-baselines3 are imported here only, so decisions never load them.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from sigmax.agents.orchestrator import build_history
from sigmax.config import Settings, load_settings
from sigmax.config.settings import timeframe_overrides
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.engine.symbols import parse_symbols
from sigmax.errors import InputError
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.rl.costs import TradeCosts
from sigmax.rl.data import Window, closed_by, load_series, series_digest, window_indexes
from sigmax.rl.env import EnvConfig, MarketArrays, TradingEnv
from sigmax.rl.evaluate import EVALUATION_PROFILE, evaluate
from sigmax.rl.features import feature_names, observations
from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.registry import CHECKPOINT, StoredModel, save_model

#: PPO's settings (stable-baselines3 names), recorded with each model.
PPO_DEFAULTS: dict[str, Any] = {
    "n_steps": 512,
    "batch_size": 256,
    "n_epochs": 5,
    "learning_rate": 3e-4,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "ent_coef": 0.01,
    "net_arch": [64, 64],
}
MAX_TIMESTEPS = 50_000_000
MAX_ENVS = 64


@dataclass(frozen=True, slots=True)
class TrainRequest:
    """What ``sigmax rl train`` was asked for."""

    home: Path
    train: Window
    validate: Window | None
    symbols: Sequence[str] | None = None
    timeframe: str | None = None
    data: Path | None = None
    timesteps: int = 100_000
    seed: int = 0
    n_envs: int = 4
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: dict[str, Any] = field(default_factory=lambda: dict(PPO_DEFAULTS))
    #: The model this one retrains (``--days``), recorded as its parent.
    parent: str | None = None
    #: The profile whose capital the environment starts with and the backtests run under.
    profile: str = EVALUATION_PROFILE

    def __post_init__(self) -> None:
        if not 1 <= self.timesteps <= MAX_TIMESTEPS:
            raise InputError(f"--timesteps: must be 1 to {MAX_TIMESTEPS:,} (got {self.timesteps})")
        if not 1 <= self.n_envs <= MAX_ENVS:
            raise InputError(f"--n-envs: must be 1 to {MAX_ENVS} (got {self.n_envs})")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"--seed: must be 0 to {2**32 - 1} (got {self.seed})")
        if self.validate is not None and self.validate.start_ms < self.train.end_ms:
            raise InputError("the validation window must start where training ends, not before")


@dataclass(frozen=True, slots=True)
class Prepared:
    settings: Settings
    symbols: list[str]
    timeframe: Timeframe
    markets: list[MarketArrays]
    costs: TradeCosts
    data: dict[str, str]
    features: tuple[str, ...]


def prepare(request: TrainRequest, catalog: DatasetCatalog) -> Prepared:
    """The training markets: observations and prices cut at the training window's end."""
    settings = load_settings(
        home=request.home,
        profile=request.profile,
        overrides=timeframe_overrides(request.timeframe),
    )
    timeframe = settings.agents.analyzer.timeframes.primary
    symbols = parse_symbols(request.symbols, settings)
    markets, digests = [], {}
    names: tuple[str, ...] = ()
    for symbol, series in load_series(catalog, symbols, timeframe).items():
        cut = closed_by(series, request.train.end_ms)
        if len(cut) < 2:
            raise InputError(f"{symbol}: no candles before {ms_to_iso(request.train.end_ms)}")
        history = build_history(cut, settings)
        history.require_higher_timeframes()
        first, last = window_indexes(cut, request.train)
        matrix = observations(history)
        names = feature_names(len(history.layers()))
        markets.append(MarketArrays(symbol, matrix, cut.open, cut.close, cut.volume, first, last))
        digests[symbol] = series_digest(cut)
    rate = settings.trading.paper_fee_rate
    # The backtest's and the paper run's venue: the same fee rate and the default slippage.
    costs = TradeCosts.from_venue(FeeSchedule(maker=rate, taker=rate), SlippageModel())
    return Prepared(settings, symbols, timeframe, markets, costs, digests, names)


def make_env(prepared: Prepared, config: EnvConfig) -> TradingEnv:
    return TradingEnv(prepared.markets, prepared.costs, config)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("sigmax", "numpy", "torch", "stable-baselines3", "gymnasium"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def train(
    request: TrainRequest,
    *,
    progress: Callable[[int, int], None] | None = None,
    stage: Callable[[str], None] | None = None,
) -> StoredModel:
    """Train, validate and register a model; returns it as stored."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    catalog = DatasetCatalog.from_path(request.data)
    prepared = prepare(request, catalog)
    env_config = EnvConfig(
        episode_length=request.env.episode_length,
        drawdown_penalty=request.env.drawdown_penalty,
        reward_scale=request.env.reward_scale,
        actions=request.env.actions,
        capital=float(prepared.settings.profile.starting_capital_usd),
    )
    # One thread: deterministic sums, and a fair share of a machine others use too.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    vec = DummyVecEnv([lambda: make_env(prepared, env_config) for _ in range(request.n_envs)])
    ppo = dict(request.ppo)
    arch = list(ppo.pop("net_arch"))
    ppo["n_steps"] = max(8, min(int(ppo["n_steps"]), request.timesteps // request.n_envs or 8))
    ppo["batch_size"] = min(int(ppo["batch_size"]), ppo["n_steps"] * request.n_envs)
    model = PPO(
        "MlpPolicy",
        vec,
        seed=request.seed,
        device="cpu",
        verbose=0,
        policy_kwargs={"net_arch": {"pi": arch, "vf": arch}},
        **ppo,
    )

    class Progress(BaseCallback):
        def _on_step(self) -> bool:
            if progress is not None:
                progress(min(self.num_timesteps, request.timesteps), request.timesteps)
            return True

    if stage is not None:
        stage("training")
    model.learn(total_timesteps=request.timesteps, callback=Progress())
    network = export_network(model, request.env.actions)
    training = evaluate_window(request, prepared, network, catalog, stage)
    config = {
        "symbols": prepared.symbols,
        "timeframe": prepared.timeframe.value,
        "train_window": request.train.to_dict(),
        "validation_window": None if request.validate is None else request.validate.to_dict(),
        "timesteps": request.timesteps,
        "seed": request.seed,
        "n_envs": request.n_envs,
        "env": env_config.to_dict(),
        "costs": prepared.costs.to_dict(),
        "ppo": {**request.ppo, "n_steps": ppo["n_steps"], "batch_size": ppo["batch_size"]},
        "features": list(prepared.features),
        "data_source": catalog.source,
        "data": prepared.data,
        "profile": prepared.settings.profile_name,
        "parent": request.parent,
    }
    validation = None
    if request.validate is not None:
        if stage is not None:
            stage("validation")
        validation = evaluate(
            home=request.home,
            network=network,
            model="(new)",
            train_end_ms=request.train.end_ms,
            window=request.validate,
            symbols=prepared.symbols,
            timeframe=prepared.timeframe,
            source=catalog,
            profile=request.profile,
            progress=stage,
        ).to_dict()
        validation.pop("model")
    card = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "library_versions": library_versions(),
        "metrics": {"training": training, "validation": validation},
    }
    stored = save_model(request.home, config, card, network)
    model.save(stored.folder / CHECKPOINT)
    return stored


def evaluate_window(
    request: TrainRequest,
    prepared: Prepared,
    network: PolicyNetwork,
    catalog: DatasetCatalog,
    stage: Callable[[str], None] | None,
) -> dict[str, Any]:
    """The policy's backtest metrics on its own training window (in-sample, for reference)."""
    import asyncio

    from sigmax.backtest.result import build_result
    from sigmax.backtest.runner import BacktestOptions, simulate
    from sigmax.rl.data import memory_catalog
    from sigmax.rl.strategy import PolicyStrategy

    if stage is not None:
        stage("training-window backtest")
    cut = [
        closed_by(s, request.train.end_ms)
        for s in load_series(catalog, prepared.symbols, prepared.timeframe).values()
    ]
    options = BacktestOptions(
        symbols=prepared.symbols,
        timeframe=prepared.timeframe.value,
        start_ms=request.train.start_ms,
        until_ms=request.train.end_ms,
        catalog=memory_catalog("training data", cut),
        home=request.home,
        profile=request.profile,
        safety="off",
        source=lambda settings, sleeves: PolicyStrategy(settings, network, "(new)", sleeves),
    )
    result = build_result(asyncio.run(simulate(options)))
    return {"window": request.train.to_dict(), "metrics": result.metrics.to_dict()}


def export_network(model: Any, actions: str) -> PolicyNetwork:
    """The actor of a trained ``MlpPolicy`` as a numpy :class:`PolicyNetwork`."""
    import torch

    layers = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    layers.append(model.policy.action_net)
    weights = tuple(np.asarray(layer.weight.detach().numpy(), dtype=np.float64) for layer in layers)
    biases = tuple(np.asarray(layer.bias.detach().numpy(), dtype=np.float64) for layer in layers)
    # A fraction policy's Gaussian spread (state-independent in PPO): its probability of
    # holding a position needs it.
    log_std = (
        np.asarray(model.policy.log_std.detach().numpy(), dtype=np.float64)
        if actions == "fraction"
        else None
    )
    return PolicyNetwork(weights, biases, actions, log_std)


DAY_MS = 86_400_000


def data_end_ms(catalog: DatasetCatalog, symbols: Sequence[str], timeframe: Timeframe) -> int:
    """The last close every symbol's data reaches."""
    series = load_series(catalog, symbols, timeframe)
    return min(s.last_ms + timeframe.ms for s in series.values())


def retrain_request(home: Path, parent: StoredModel, days: int, data: Path | None) -> TrainRequest:
    """The runbook's weekly retrain: ``parent``'s request with the next ``days`` appended to
    its training window; the validation window moves as far (to the data's end at most).
    The parent stays in the registry."""
    if not 1 <= days <= 3650:
        raise InputError(f"--days: must be 1 to 3650 (got {days})")
    config = parent.card["config"]
    train_window = config["train_window"]
    start, end = _iso_ms(train_window["from"]), _iso_ms(train_window["to"]) + days * DAY_MS
    timeframe = Timeframe.parse(config["timeframe"])
    catalog = DatasetCatalog.from_path(data)
    last = data_end_ms(catalog, config["symbols"], timeframe)
    if end > last:
        raise InputError(
            f"--days: the data ends {ms_to_iso(last)}, before the new training window's end "
            f"{ms_to_iso(end)}; add the newer candles first (sigmax data)"
        )
    validate = None
    if config.get("validation_window"):
        wanted = _iso_ms(config["validation_window"]["to"]) + days * DAY_MS
        validate_end = min(wanted, last)
        if validate_end - end < days * DAY_MS:
            raise InputError(
                f"--days: after the new training window ({ms_to_iso(end)}) the data holds less "
                f"than {days} days to validate on (it ends {ms_to_iso(last)})"
            )
        validate = Window(end, validate_end)
    env = config["env"]
    return TrainRequest(
        home=home,
        train=Window(start, end),
        validate=validate,
        symbols=config["symbols"],
        timeframe=config["timeframe"],
        data=data,
        timesteps=int(config["timesteps"]),
        seed=int(config["seed"]),
        n_envs=int(config["n_envs"]),
        env=EnvConfig(
            episode_length=int(env["episode_length"]),
            drawdown_penalty=float(env["drawdown_penalty"]),
            reward_scale=float(env["reward_scale"]),
            actions=str(env["actions"]),
        ),
        parent=parent.id,
        profile=str(config.get("profile", EVALUATION_PROFILE)),
    )


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
