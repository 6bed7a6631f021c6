"""The RL environment, its observation and costs, and the numpy policy: no look-ahead, the paper
venue's cost formulas, one row computed alone equal to that row of the whole history."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sigmax.agents.orchestrator import build_history
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import CandleSeries
from sigmax.domain.orders import Order, OrderPurpose, OrderSide, OrderType
from sigmax.execution.fill_model import (
    CandlePrices,
    Execution,
    FeeSchedule,
    SlippageModel,
    execute,
)
from sigmax.rl.costs import TradeCosts
from sigmax.rl.env import EnvConfig, MarketArrays, TradingEnv
from sigmax.rl.features import feature_names, observations, snapshot_observation
from sigmax.rl.policy import PolicyFileError, PolicyNetwork
from sigmax.rl.voter import NetworkVoter

# Four months of BTC/USDT 1h: enough for every timeframe's indicators to warm up.
START, STOP = 15_000, 18_000


@pytest.fixture(scope="module")
def series() -> CandleSeries:
    return DatasetCatalog.bundled().load("BTC/USDT", "1h").series[START:STOP]


@pytest.fixture(scope="module")
def settings():  # type: ignore[no-untyped-def]
    return load_settings(home=None, env={})


def _network(inputs: int, seed: int = 3, kind: str = "discrete") -> PolicyNetwork:
    generator = np.random.default_rng(seed)
    sizes = [inputs, 16, 16, 2 if kind == "discrete" else 1]
    weights = tuple(
        generator.normal(0, 0.5, (sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)
    )
    biases = tuple(generator.normal(0, 0.1, sizes[k + 1]) for k in range(len(sizes) - 1))
    # A fraction policy: its mean centred near 0.4 so that rows fall flat, inside (0, 1) and
    # clipped at 1 alike; its spread as a trained PPO's Gaussian has one.
    if kind == "fraction":
        biases = (*biases[:-1], biases[-1] + 0.4)
        return PolicyNetwork(weights, biases, kind, np.array([-0.7]))
    return PolicyNetwork(weights, biases, kind)


def _market(series: CandleSeries, settings, first: int = 1) -> MarketArrays:  # type: ignore[no-untyped-def]
    history = build_history(series, settings)
    return MarketArrays(
        "BTC/USDT",
        observations(history),
        series.open,
        series.close,
        series.volume,
        first,
        len(series) - 1,
    )


def test_the_environment_passes_gymnasiums_checker(series, settings) -> None:  # type: ignore[no-untyped-def]
    costs = TradeCosts.from_venue(FeeSchedule(), SlippageModel())
    for actions in ("discrete", "fraction"):
        env = TradingEnv(
            [_market(series, settings)], costs, EnvConfig(actions=actions, episode_length=200)
        )
        check_env(env, skip_render_check=True)


def test_an_observation_uses_nothing_after_its_close(series, settings) -> None:  # type: ignore[no-untyped-def]
    whole = observations(build_history(series, settings))
    cut_at = 2_000
    # Every candle after the cut corrupted: the rows up to the cut do not move.
    corrupted = CandleSeries(
        series.exchange,
        series.symbol,
        series.timeframe,
        series.timestamp,
        np.concatenate([series.open[: cut_at + 1], series.open[cut_at + 1 :] * 3.0]),
        np.concatenate([series.high[: cut_at + 1], series.high[cut_at + 1 :] * 3.5]),
        np.concatenate([series.low[: cut_at + 1], series.low[cut_at + 1 :] * 0.5]),
        np.concatenate([series.close[: cut_at + 1], series.close[cut_at + 1 :] * 2.0]),
        np.concatenate([series.volume[: cut_at + 1], series.volume[cut_at + 1 :] * 9.0]),
    )
    changed = observations(build_history(corrupted, settings))
    assert np.array_equal(whole[: cut_at + 1], changed[: cut_at + 1])
    assert not np.array_equal(whole[cut_at + 1 :], changed[cut_at + 1 :])
    assert whole.shape[1] == len(feature_names(3)) == 30
    assert np.all(np.abs(whole) <= 5.0)


def test_one_decision_equals_its_row_of_the_whole_history(series, settings) -> None:  # type: ignore[no-untyped-def]
    history = build_history(series, settings)
    whole = observations(history)
    network = _network(whole.shape[1])
    voter = NetworkVoter(network, "abcdef", "0" * 64, 0.2)
    batch = voter.votes(history)
    for index in (0, 5, 30, 500, 1_234, 2_999):
        snapshot = history.snapshot(int(history.decision_moments()[index]))
        row = snapshot_observation(snapshot, 3)
        assert np.array_equal(row[0], whole[index])
        vote = voter.vote(snapshot)
        assert vote.long_probability == batch.long_probability[index]
        assert vote.score == batch.score[index]
        assert vote.confidence == batch.confidence[index]
        assert vote.action in ("long", "flat")
        assert vote.probability >= 0.5
        assert vote.target is None


def test_a_fraction_vote_alone_equals_its_row_of_the_whole_history(series, settings) -> None:  # type: ignore[no-untyped-def]
    history = build_history(series, settings)
    network = _network(30, kind="fraction")
    voter = NetworkVoter(network, "abcdef", "0" * 64, 0.2)
    batch = voter.votes(history)
    targets = network.forward(observations(history)).target
    # Rows of each kind: flat (target 0), a partial long, a whole long (mean clipped at 1).
    flat = np.flatnonzero(targets == 0.0)
    partial = np.flatnonzero((targets > 0.0) & (targets < 1.0))
    whole = np.flatnonzero(targets == 1.0)
    assert len(flat) > 0
    assert len(partial) > 0
    assert len(whole) > 0
    indexes = [*flat[:: max(1, len(flat) // 4)], *partial[:: max(1, len(partial) // 6)], whole[0]]
    for index in indexes:
        snapshot = history.snapshot(int(history.decision_moments()[index]))
        vote = voter.vote(snapshot)
        assert vote.score == batch.score[index]
        assert vote.confidence == batch.confidence[index]
        assert vote.long_probability == batch.long_probability[index]
        assert vote.target == targets[index]
        assert vote.probability >= 0.5
        if vote.target == 0.0:
            # flat: an exit, as strong as the policy is sure of it
            assert vote.action == "flat"
            assert vote.long_probability <= 0.5
            assert vote.score == 2.0 * vote.long_probability - 1.0
        else:
            # a long as strong as its target: 0.5 half of 1
            assert vote.action == f"target {vote.target:.2f}"
            assert vote.score == vote.target
            assert vote.long_probability > 0.5


def test_the_numpy_policy_is_the_torch_actor(series, settings) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    from sigmax.rl.train import export_network

    inputs = 30
    torch.manual_seed(0)

    class Policy:
        def __init__(self) -> None:
            self.mlp_extractor = type("M", (), {})()
            self.mlp_extractor.policy_net = torch.nn.Sequential(
                torch.nn.Linear(inputs, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh()
            )
            self.action_net = torch.nn.Linear(8, 2)

    model = type("Model", (), {"policy": Policy()})()
    network = export_network(model, "discrete")
    rows = observations(build_history(series, settings))[-200:]
    with torch.no_grad():
        logits = model.policy.action_net(
            model.policy.mlp_extractor.policy_net(
                torch.as_tensor(rows, dtype=torch.float64).float()
            )
        )
        expected = torch.softmax(logits.double(), dim=1)[:, 1].numpy()
    output = network.forward(rows)
    assert np.allclose(output.long_probability, expected, atol=1e-6)
    assert np.array_equal(output.action, (expected > 0.5).astype(np.int64))


def test_the_fraction_policy_is_the_torch_actors_gaussian(series, settings) -> None:  # type: ignore[no-untyped-def]
    """Its target is PPO's deterministic action (the mean, clipped), its probability of being
    in the market the Gaussian's mass above 0 (what a sampled, clipped action holds)."""
    torch = pytest.importorskip("torch")
    from sigmax.rl.train import export_network

    inputs = 30
    torch.manual_seed(1)

    class Policy:
        def __init__(self) -> None:
            self.mlp_extractor = type("M", (), {})()
            self.mlp_extractor.policy_net = torch.nn.Sequential(
                torch.nn.Linear(inputs, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh()
            )
            self.action_net = torch.nn.Linear(8, 1)
            self.log_std = torch.nn.Parameter(torch.tensor([-0.4]))

    model = type("Model", (), {"policy": Policy()})()
    network = export_network(model, "fraction")
    rows = observations(build_history(series, settings))[-200:]
    with torch.no_grad():
        mean = model.policy.action_net(
            model.policy.mlp_extractor.policy_net(torch.as_tensor(rows))
        ).double()[:, 0]
        gaussian = torch.distributions.Normal(mean, torch.exp(model.policy.log_std.double()))
        expected = (1.0 - gaussian.cdf(torch.zeros_like(mean))).numpy()
        expected_target = torch.clamp(mean, 0.0, 1.0).numpy()
    output = network.forward(rows)
    assert np.allclose(output.long_probability, expected, atol=1e-6)
    assert np.allclose(output.target, expected_target, atol=1e-6)
    assert np.array_equal(output.action, (expected_target > 0).astype(np.int64))


def test_a_policy_file_has_one_sha256_for_one_network(tmp_path) -> None:  # type: ignore[no-untyped-def]
    network = _network(30)
    first, second = network.to_bytes(), _network(30).to_bytes()
    assert first == second
    assert network.sha256() != _network(30, seed=4).sha256()
    path = tmp_path / "policy.npz"
    path.write_bytes(first)
    read = PolicyNetwork.read(path)
    assert read.sha256() == network.sha256()


def test_a_fraction_policy_file_keeps_its_spread(tmp_path) -> None:  # type: ignore[no-untyped-def]
    network = _network(30, kind="fraction")
    path = tmp_path / "policy.npz"
    path.write_bytes(network.to_bytes())
    read = PolicyNetwork.read(path)
    assert read.kind == "fraction"
    assert read.log_std is not None
    assert np.array_equal(read.log_std, [-0.7])
    assert read.sha256() == network.sha256()
    # A fraction file without its spread (the format before the fraction vote) is refused.
    layers = {f"w{k}": w for k, w in enumerate(network.weights)}
    layers |= {f"b{k}": b for k, b in enumerate(network.biases)}
    np.savez(path, kind=np.array("fraction"), **layers)
    with pytest.raises(PolicyFileError, match="log_std"):
        PolicyNetwork.read(path)


@pytest.mark.parametrize(
    ("side", "qty", "volume"),
    [(OrderSide.BUY, "0.5", "120.5"), (OrderSide.SELL, "2.25", "80"), (OrderSide.BUY, "30", "45")],
)
def test_the_environments_costs_are_the_paper_venues(
    side: OrderSide, qty: str, volume: str
) -> None:
    fees = FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.00075"))
    slippage = SlippageModel(half_spread_bps=Decimal("2"), impact_coefficient=Decimal("0.15"))
    costs = TradeCosts.from_venue(fees, slippage)
    candle = CandlePrices(
        0, Decimal("27000.5"), Decimal("27100"), Decimal("26900"), Decimal(volume)
    )
    order = Order(
        "c1", "BTC/USDT", side, OrderType.MARKET, Decimal(qty), 0, purpose=OrderPurpose.ENTRY
    )
    filled = execute(order, candle, slippage, Decimal("0.01"))
    assert isinstance(filled, Execution)
    price = (costs.buy_price if side is OrderSide.BUY else costs.sell_price)(
        27000.5, float(qty), float(volume)
    )
    # The venue rounds to the tick against the trader: within one tick of the float price.
    assert abs(float(filled.price) - price) <= 0.01
    fee = fees.fee(filled.price * Decimal(qty), filled.liquidity)
    assert float(fee) == pytest.approx(float(filled.price) * float(qty) * costs.taker_fee, abs=1e-8)


def test_a_step_charges_the_costs_and_the_reward_is_net_of_them(series, settings) -> None:  # type: ignore[no-untyped-def]
    costs = TradeCosts.from_venue(FeeSchedule(), SlippageModel())
    market = _market(series, settings, first=100)
    env = TradingEnv([market], costs, EnvConfig(episode_length=2, drawdown_penalty=0.0))
    env.reset(seed=0)
    start = env._t
    _, reward, _, _, _ = env.step(1)
    open_, close, volume = series.open[start + 1], series.close[start + 1], series.volume[start + 1]
    capital = EnvConfig().capital
    price = costs.buy_price(open_, capital / open_, volume)
    qty = capital / (price * (1 + costs.taker_fee))
    assert env.equity == pytest.approx(qty * close, rel=1e-12)
    assert reward == pytest.approx(np.log(qty * close / capital) * 100.0, rel=1e-9)
    assert qty * close < capital * close / open_  # the fee and slippage were paid
