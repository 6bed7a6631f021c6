"""``sigmax bench rl``: the RL environment's raw speed, PPO's training speed, and what the
policy costs a decision.

* ``env_steps_per_s``: :class:`~sigmax.rl.env.TradingEnv` over the four bundled 1h markets'
  whole history, seeded random actions, no learning (target >= 50,000);
* ``train_steps_per_s``: stable-baselines3 PPO (``MlpPolicy`` 64x64, one torch thread) learning
  ``--train-steps`` environment steps with four environments, rollouts and updates included;
* ``inference_us``: one decision's policy vote (its observation row and the numpy network),
  median over the timed decisions, and its p99;
* ``decision_p99_ms_with_policy``: the explained decision (``Orchestrator.decide`` through
  ``analyze_symbol``, as ``sigmax bench decisions`` times it) with that policy voting, next to
  the same decisions without it (target: p99 <= 5 ms).

The decisions are timed first, before torch is imported, as in a run (decisions never import
it; in a process that has, numpy's element-wise work measured slower here), with a network of the
trained policy's shape (30 inputs, 64x64 tanh, two logits) and seeded random weights: the
weights do not change the cost.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import numpy as np

from sigmax.agents.orchestrator import Orchestrator
from sigmax.bench.machine import machine_info
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.facade import HistoryCache
from sigmax.rl.data import Window
from sigmax.rl.env import EnvConfig
from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.train import PPO_DEFAULTS, TrainRequest, make_env, prepare
from sigmax.rl.voter import NetworkVoter

SYMBOLS: Final = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
TARGET_ENV_STEPS_PER_S: Final = 50_000.0
TARGET_DECISION_P99_MS: Final = 5.0
WARMUP: Final = 5


def run_rl_bench(
    env_steps: int = 500_000, train_steps: int = 8_192, decisions: int = 500
) -> dict[str, Any]:
    # A network of the trained policy's shape with seeded weights: the benchmark times what a
    # vote costs, which does not depend on the weights; no figure it prints is a model's result.
    generator = np.random.default_rng(0)
    sizes = [30, *PPO_DEFAULTS["net_arch"], 2]
    network = PolicyNetwork(
        tuple(generator.normal(0, 0.3, (sizes[k + 1], sizes[k])) for k in range(3)),
        tuple(generator.normal(0, 0.1, sizes[k + 1]) for k in range(3)),
        "discrete",
    )
    decision = asyncio.run(_decisions(network, decisions))

    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    with tempfile.TemporaryDirectory(prefix="sigmax-bench-rl-") as folder:
        home = Path(folder)
        catalog = DatasetCatalog.bundled()
        request = TrainRequest(
            home=home,
            train=Window(0, 2**62),
            validate=None,
            symbols=list(SYMBOLS),
            timesteps=train_steps,
        )
        prepared = prepare(request, catalog)
        env = make_env(prepared, EnvConfig(episode_length=10_000))
        # Seeded flat/long actions: the environment's raw speed, without a policy choosing.
        actions = np.random.default_rng(0).integers(0, 2, env_steps).tolist()
        env.reset(seed=0)
        started = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        env_seconds = time.perf_counter() - started

        torch.set_num_threads(1)
        vec = DummyVecEnv([lambda: make_env(prepared, EnvConfig()) for _ in range(4)])
        ppo = dict(PPO_DEFAULTS)
        arch = ppo.pop("net_arch")
        model = PPO(
            "MlpPolicy",
            vec,
            seed=0,
            device="cpu",
            policy_kwargs={"net_arch": {"pi": arch, "vf": arch}},
            **ppo,
        )
        started = time.perf_counter()
        model.learn(total_timesteps=train_steps)
        train_seconds = time.perf_counter() - started
    return {
        "benchmark": "rl",
        "env_steps": env_steps,
        "env_steps_per_s": round(env_steps / env_seconds, 1),
        "target_env_steps_per_s": TARGET_ENV_STEPS_PER_S,
        "train_steps": train_steps,
        "train_envs": 4,
        "train_steps_per_s": round(train_steps / train_seconds, 1),
        **decision,
        "target_decision_p99_ms": TARGET_DECISION_P99_MS,
        "meets_targets": env_steps / env_seconds >= TARGET_ENV_STEPS_PER_S
        and decision["decision_p99_ms_with_policy"] <= TARGET_DECISION_P99_MS,
        "machine": machine_info("numpy", "torch", "stable-baselines3", "gymnasium"),
    }


async def _decisions(network: PolicyNetwork, count: int) -> dict[str, Any]:
    settings = load_settings()
    histories = HistoryCache(DatasetCatalog.bundled(), settings)
    history = histories("BTC/USDT")
    voter = NetworkVoter(network, "bench", network.sha256(), 0.2)
    moments = [int(m) for m in history.decision_moments()][-count - WARMUP :]
    with_policy = Orchestrator(settings, histories, voter=voter)
    without = Orchestrator(settings, histories)
    for moment in moments[:WARMUP]:
        await with_policy.analyze_symbol("BTC/USDT", at_ms=moment)
        await without.analyze_symbol("BTC/USDT", at_ms=moment)
    gc.collect()
    gc.freeze()
    votes, plain, policy = [], [], []
    for moment in moments[WARMUP:]:
        snapshot = history.snapshot(moment)
        started = time.perf_counter()
        voter.vote(snapshot)
        votes.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        await with_policy.analyze_symbol("BTC/USDT", at_ms=moment)
        policy.append((time.perf_counter() - started) * 1000.0)
        started = time.perf_counter()
        await without.analyze_symbol("BTC/USDT", at_ms=moment)
        plain.append((time.perf_counter() - started) * 1000.0)
    return {
        "decisions": len(policy),
        "inference_us": round(float(np.median(votes)), 2),
        "inference_p99_us": round(float(np.percentile(votes, 99)), 2),
        "decision_p50_ms_with_policy": round(float(np.median(policy)), 4),
        "decision_p99_ms_with_policy": round(float(np.percentile(policy, 99)), 4),
        "decision_p50_ms_without_policy": round(float(np.median(plain)), 4),
        "decision_p99_ms_without_policy": round(float(np.percentile(plain, 99)), 4),
    }
