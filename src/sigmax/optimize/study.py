"""An optimisation study: Optuna's TPE sampler over a search space, each trial a real backtest
judged out of sample on anchored walk-forward folds.

The driver (this module) asks Optuna for parameters, hands each trial to an executor (this
process or Dask workers), and tells Optuna the trial's out-of-sample objective; only the
driver touches the study's storage, so workers need nothing but the candles. Before the first
trial it runs the baseline, the configuration as it stands, over the same window: that run fixes
the window's closes (and so the folds) and the data checksums, and its figures are reported next
to the best trial's.

The median pruner sees each trial's out-of-sample objective fold by fold (the test windows so far,
together): a trial below the median of the complete trials at the same fold is pruned. The
driver sends the medians with each trial (:mod:`sigmax.optimize.pruning`) and the worker stops
the backtest at the first fold below them, so a pruned trial costs only the part of the window
it ran. Its figures are those of the folds it reached; the overfitting estimates read the
complete trials' days, and the deflated Sharpe ratio counts every trial tried.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import simulate
from sigmax.errors import InputError, SigmaxError
from sigmax.optimize.executor import Executor, InProcess, OnDask
from sigmax.optimize.folds import Fold, anchored_folds
from sigmax.optimize.overfit import deflated_sharpe, probability_of_overfitting
from sigmax.optimize.pruning import N_STARTUP_TRIALS, thresholds
from sigmax.optimize.space import Param, SearchSpace
from sigmax.optimize.storage import open_storage, shown, storage_url
from sigmax.optimize.trial import TrialSpec, engine_logs_quiet, options_for, warm_catalog
from sigmax.optimize.windows import OBJECTIVES, RunWindows, read_folds

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage

STUDIES_DIR = "studies"
STUDY_FILE = "study.json"
STUDY_VERSION = 1
MAX_TRIALS = 100_000

#: Told (trials accounted for, trials wanted, best value so far or None).
Progress = Callable[[int, int, float | None], None]


@dataclass(frozen=True, slots=True)
class StudyRequest:
    """What the operator asked for (``sigmax optimize ...``)."""

    strategy: str
    space: SearchSpace
    home: Path
    objective: str = "sharpe"
    trials: int = 100
    folds: int = 4
    profile: str | None = None
    symbols: tuple[str, ...] | None = None
    timeframe: str | None = None
    start_ms: int | None = None
    until_ms: int | None = None
    data: Path | None = None
    seed: int = 0
    #: 0: in this process; J >= 1: a LocalCluster of J workers; None: one per core.
    jobs: int | None = None
    scheduler: str | None = None
    storage: str | None = None
    safety: str = "on"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: "tpe" (the search), or "random" for a benchmark: the same seed then asks for the same
    #: parameters whatever the number of workers, so runs on 1 and 2 workers do the same work.
    sampler: str = "tpe"
    #: False (the benchmark's speed-up pair): no trial is pruned, every one runs the whole window,
    #: so 1 and 2 workers do the same work (with pruning, which trials stop where depends on
    #: the order trials complete in).
    pruning: bool = True


@dataclass(frozen=True, slots=True)
class StudyPlan:
    """The study as it will run: its id, folds, the trial spec, the baseline's figures."""

    id: str
    request: StudyRequest
    spec: TrialSpec
    folds: tuple[Fold, ...]
    identity: dict[str, Any]
    baseline: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.request.home / STUDIES_DIR / self.id


def _check(request: StudyRequest) -> None:
    if request.objective not in OBJECTIVES:
        raise InputError(
            f"--objective: must be one of {', '.join(OBJECTIVES)} (got {request.objective})"
        )
    if not 1 <= request.trials <= MAX_TRIALS:
        raise InputError(f"--trials: must be between 1 and {MAX_TRIALS} (got {request.trials})")
    if request.jobs is not None and request.jobs < 0:
        raise InputError(f"--jobs: must be 0 (this process) or more (got {request.jobs})")
    if request.jobs is not None and request.scheduler is not None:
        raise InputError(
            "--jobs and --scheduler: give one (a new local cluster, or an existing one)"
        )
    storage_url(request.storage, request.home)  # refuses an unknown scheme before any run
    if request.sampler not in ("tpe", "random"):
        raise InputError(f"sampler: must be tpe or random (got {request.sampler})")
    if request.space.strategy != request.strategy:
        raise InputError("--strategy: the search space was built for another strategy")


def plan_study(request: StudyRequest) -> StudyPlan:
    """Check the request, run the baseline, cut the folds, name the study."""
    _check(request)
    with engine_logs_quiet():
        return _plan_study(request)


def _plan_study(request: StudyRequest) -> StudyPlan:
    catalog = warm_catalog(request.data)
    draft = TrialSpec(
        strategy=request.strategy,
        objective=request.objective,
        folds=(Fold(0, 0, 0, 0, 0),),
        home=request.home,
        profile=request.profile,
        symbols=request.symbols,
        timeframe=request.timeframe,
        data=request.data,
        safety="off" if request.safety == "off" else "on",
        overrides=dict(request.overrides),
    )
    options = options_for(draft, {}, catalog)
    options = replace(options, start_ms=request.start_ms, until_ms=request.until_ms)
    run = asyncio.run(simulate(options))
    result = build_result(run)
    folds = anchored_folds(run.closes_ms, request.folds)
    spec = replace(
        draft,
        folds=folds,
        symbols=tuple(run.config["symbols"]),
        timeframe=str(run.config["timeframe"]),
    )
    baseline_figures = read_folds(RunWindows(run, result), folds, request.objective)
    baseline_figures.pop("curve")
    config = {k: v for k, v in run.config.items() if k not in ("sma",)}
    identity = {
        "version": STUDY_VERSION,
        "strategy": request.strategy,
        "objective": request.objective,
        "space": request.space.to_dict(),
        "folds": [f.to_dict() for f in folds],
        "seed": request.seed,
        **({"sampler": request.sampler} if request.sampler != "tpe" else {}),
        **({"pruning": False} if not request.pruning else {}),
        "safety": spec.safety,
        "backtest": config,
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    study_id = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    baseline = {
        "params": _baseline_params(request.space, run.config),
        "value": baseline_figures["value"],
        "folds": [
            {"in_sample": f["in_sample"], "out_of_sample": f["out_of_sample"]}
            for f in baseline_figures["folds"]
        ],
        "out_of_sample_metrics": baseline_figures["out_of_sample_metrics"],
    }
    return StudyPlan(study_id, request, spec, folds, identity, baseline)


def _baseline_params(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters' values in the configuration as it stands."""
    values: dict[str, Any] = {}
    for param in space.params:
        if param.name in ("fast", "slow"):
            values[param.name] = config.get("sma", {}).get(param.name)
            continue
        section, *path = param.name.split(".")
        node: Any = config.get("profile_settings" if section == "profile" else section, {})
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        values[param.name] = node
    return values


def _distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    from optuna.distributions import FloatDistribution, IntDistribution

    found: dict[str, BaseDistribution] = {}
    for p in space.params:
        if p.kind == "int":
            found[p.name] = IntDistribution(int(p.low), int(p.high), step=int(p.step or 1))
        else:
            found[p.name] = FloatDistribution(p.low, p.high, step=p.step)
    return found


def _executor(plan: StudyPlan) -> Executor:
    request = plan.request
    if request.scheduler is not None:
        return OnDask(plan.spec, scheduler=request.scheduler)
    if request.jobs == 0:
        return InProcess(plan.spec)
    return OnDask(plan.spec, jobs=request.jobs)


def _accounted(trial: optuna.trial.FrozenTrial) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "invalid" in trial.user_attrs


def _recover_lost(study: optuna.Study, storage: BaseStorage) -> int:
    """Trials a stopped process left running: failed as lost, their parameters queued again.
    One driver runs a study at a time (its workers may be many)."""
    from optuna.trial import TrialState

    lost = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in lost:
        storage.set_trial_user_attr(trial._trial_id, "lost", "its study process stopped")
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
    return len(lost)


def _tell(
    study: optuna.Study, trial: optuna.Trial, outcome: Mapping[str, Any], attempts: int
) -> None:
    from optuna.trial import TrialState

    trial.set_user_attr("attempts", attempts)
    trial.set_user_attr("pid", outcome.get("pid"))
    if "invalid" in outcome:
        trial.set_user_attr("invalid", str(outcome["invalid"]))
        study.tell(trial, state=TrialState.FAIL)
        return
    trial.set_user_attr(
        "folds",
        [
            {"in_sample": f["in_sample"], "out_of_sample": f["out_of_sample"]}
            for f in outcome["folds"]
        ],
    )
    trial.set_user_attr("oos_daily_returns", outcome["oos_daily_returns"])
    trial.set_user_attr("out_of_sample_metrics", outcome["out_of_sample_metrics"])
    trial.set_user_attr("seconds", round(float(outcome["seconds"]), 4))
    trial.set_user_attr("data", outcome["data"])
    for step, value in enumerate(outcome["steps"], start=1):
        trial.report(value, step)
    if "pruned_at_fold" in outcome:
        # The worker stopped the backtest there: its figures are those of folds 1..k.
        trial.set_user_attr("pruned_at_fold", outcome["pruned_at_fold"])
        trial.set_user_attr("stopped_at", outcome["stopped_at"])
        study.tell(trial, state=TrialState.PRUNED)
        return
    study.tell(trial, float(outcome["value"]))


def open_study(plan: StudyPlan) -> tuple[optuna.Study, BaseStorage, str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(plan.request.storage, plan.folder)
    storage = open_storage(url)
    study = optuna.create_study(
        study_name=f"sigmax-{plan.id}",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=plan.request.seed)
        if plan.request.sampler == "random"
        else optuna.samplers.TPESampler(seed=plan.request.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP_TRIALS, n_warmup_steps=0),
        direction="maximize",
        load_if_exists=True,
    )
    return study, storage, url


def run_study(plan: StudyPlan, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume) the study to ``request.trials`` trials accounted for; its report."""
    started = time.perf_counter()
    request = plan.request
    plan.folder.mkdir(parents=True, exist_ok=True)
    study, storage, url = open_study(plan)
    retried = _recover_lost(study, storage)
    done = sum(1 for t in study.get_trials(deepcopy=False) if _accounted(t))
    to_ask = max(0, request.trials - done)
    distributions = _distributions(plan.request.space)
    if progress is not None:
        progress(done, request.trials, _best_value(study))
    description = "nothing left to run"
    trials_seconds = 0.0
    if to_ask > 0:
        executor = _executor(plan)
        description = executor.description
        # From a ready executor (a started cluster) to the last trial told.
        ready = time.perf_counter()
        in_flight: dict[int, optuna.Trial] = {}
        asked = 0
        try:
            while asked < to_ask or in_flight:
                capacity = executor.workers
                while asked < to_ask and len(in_flight) < capacity:
                    trial = study.ask(distributions)
                    params = {p.name: p.value(trial.params[p.name]) for p in request.space.params}
                    # The pruner's medians as they stand now: the worker stops the trial at
                    # the first fold below them (docs/OPTIMIZE.md, Pruning).
                    limits = thresholds(study, len(plan.folds)) if request.pruning else None
                    executor.submit(trial.number, params, limits)
                    in_flight[trial.number] = trial
                    asked += 1
                finished = executor.next_done()
                trial = in_flight.pop(finished.number)
                _tell(study, trial, finished.outcome, finished.attempts)
                retried += finished.attempts - 1
                done += 1
                if progress is not None:
                    progress(done, request.trials, _best_value(study))
            trials_seconds = time.perf_counter() - ready
        finally:
            executor.close()
    report = build_report(plan, study, url)
    report["executor"] = description
    report["trials_run"] = to_ask
    report["trials_seconds"] = round(trials_seconds, 3)
    report["retried_trials"] = retried + report["trial_counts"]["lost"]
    report["seconds"] = round(time.perf_counter() - started, 3)
    save_study(plan, report)
    return report


def _best_value(study: optuna.Study) -> float | None:
    from optuna.trial import TrialState

    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return max((v for v in values if v is not None), default=None)


def _importances(study: optuna.Study, names: list[str], seed: int) -> dict[str, Any]:
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {"values": None, "reason": "needs at least two complete trials"}
    try:
        values = optuna.importance.get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=seed), params=names
        )
    except (RuntimeError, ValueError) as error:
        return {"values": None, "reason": str(error)}
    return {"values": {k: round(float(v), 6) for k, v in values.items()}, "method": "fanova"}


def build_report(plan: StudyPlan, study: optuna.Study, url: str) -> dict[str, Any]:
    """The study's result: best parameters, folds, overfitting, importances, counts."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    invalid = [t for t in trials if t.state == TrialState.FAIL and "invalid" in t.user_attrs]
    lost = [t for t in trials if t.state == TrialState.FAIL and "lost" in t.user_attrs]
    evaluated = sorted(complete + pruned, key=lambda t: t.number)
    best = max(complete, key=lambda t: (t.value, -t.number), default=None)
    space = plan.request.space
    folds = []
    for i, fold in enumerate(plan.folds):
        row: dict[str, Any] = fold.to_dict()
        figures = best.user_attrs["folds"][i] if best is not None else None
        row["in_sample"] = None if figures is None else figures["in_sample"]
        row["out_of_sample"] = None if figures is None else figures["out_of_sample"]
        row["baseline_in_sample"] = plan.baseline["folds"][i]["in_sample"]
        row["baseline_out_of_sample"] = plan.baseline["folds"][i]["out_of_sample"]
        folds.append(row)
    # A pruned trial stopped its backtest: it has no returns after its stop, so the estimates
    # read the complete trials' days; the deflated Sharpe ratio still counts every parameter
    # set tried (a pruned one was a try).
    ran_through = sorted(complete, key=lambda t: t.number)
    matrix = [t.user_attrs["oos_daily_returns"] for t in ran_through]
    overfitting = probability_of_overfitting(matrix).to_dict()
    overfitting["deflated_sharpe"] = (
        deflated_sharpe(matrix, ran_through.index(best), tried=len(evaluated))
        if best is not None
        else {"value": None, "reason": "no complete trial"}
    )
    return {
        "study": plan.id,
        "strategy": plan.request.strategy,
        "objective": plan.request.objective,
        "best_params": None if best is None else _params(space, best.params),
        "best_value": None if best is None else best.value,
        "best_trial": None if best is None else best.number,
        "trials": len(complete) + len(pruned) + len(invalid),
        #: Seconds the workers spent in the evaluated trials (backtest and folds), all together.
        "busy_seconds": round(sum(float(t.user_attrs.get("seconds", 0.0)) for t in evaluated), 3),
        "trial_counts": {
            "requested": plan.request.trials,
            "complete": len(complete),
            "pruned": len(pruned),
            "invalid": len(invalid),
            "lost": len(lost),
        },
        "folds": folds,
        "overfitting": overfitting,
        "walk_forward": _walk_forward(plan, evaluated),
        "importances": _importances(study, space.names(), plan.request.seed),
        "baseline": plan.baseline,
        "best_out_of_sample_metrics": None
        if best is None
        else best.user_attrs["out_of_sample_metrics"],
        "top_trials": [
            {"number": t.number, "value": t.value, "params": _params(space, t.params)}
            for t in sorted(complete, key=lambda t: (-(t.value or 0.0), t.number))[:10]
        ],
        "trial_values": [
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": _last_value(t),
                **(
                    {"pruned_at_fold": t.user_attrs["pruned_at_fold"]}
                    if "pruned_at_fold" in t.user_attrs
                    else {}
                ),
            }
            for t in evaluated
        ],
        "space": space.to_dict(),
        "seed": plan.request.seed,
        "storage": shown(url),
        "data": plan.identity["backtest"]["data"],
        "config_digest": plan.identity["backtest"]["config_digest"],
    }


def _last_value(trial: optuna.trial.FrozenTrial) -> float | None:
    """A complete trial's value; a pruned one's last reported value."""
    if trial.value is not None:
        return float(trial.value)
    steps = trial.intermediate_values
    return float(steps[max(steps)]) if steps else None


def _params(space: SearchSpace, raw: Mapping[str, Any]) -> dict[str, Any]:
    by_name: dict[str, Param] = {p.name: p for p in space.params}
    return {name: by_name[name].value(value) for name, value in raw.items() if name in by_name}


def _walk_forward(plan: StudyPlan, evaluated: list[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    """The honest walk-forward figure: at each fold, the trial with the best *in-sample*
    objective (what a trader choosing on the past alone would pick), and its out-of-sample
    objective on the fold's test window. No test window takes part in its own choice."""
    if not evaluated:
        return {"folds": [], "mean_out_of_sample": None}
    rows = []
    for i, fold in enumerate(plan.folds):
        # Among the trials that reached this fold's test window: one pruned earlier was given
        # up on over earlier test windows, the past of this one.
        reached = [t for t in evaluated if len(t.user_attrs["folds"]) > i]
        if not reached:
            break
        chosen = max(reached, key=lambda t: (t.user_attrs["folds"][i]["in_sample"], -t.number))
        figures = chosen.user_attrs["folds"][i]
        rows.append(
            {
                "fold": fold.index,
                "trial": chosen.number,
                "params": _params(plan.request.space, chosen.params),
                "in_sample": figures["in_sample"],
                "out_of_sample": figures["out_of_sample"],
            }
        )
    mean = sum(r["out_of_sample"] for r in rows) / len(rows)
    return {"folds": rows, "mean_out_of_sample": mean}


def save_study(plan: StudyPlan, report: Mapping[str, Any]) -> Path:
    """``SIGMAX_HOME/studies/<id>/study.json``: what defines the study and its result."""
    folder = plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "version": STUDY_VERSION,
        "id": plan.id,
        "identity": plan.identity,
        "request": {
            "trials": plan.request.trials,
            "profile": plan.request.profile,
            "data": None if plan.request.data is None else str(plan.request.data),
            "jobs": plan.request.jobs,
            "scheduler": plan.request.scheduler,
        },
        "result": report,
    }
    target = folder / STUDY_FILE
    temporary = folder / f".{STUDY_FILE}.tmp"
    temporary.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    temporary.replace(target)
    return target


def list_studies(home: Path) -> list[dict[str, Any]]:
    folder = home / STUDIES_DIR
    rows = []
    for path in sorted(folder.glob(f"*/{STUDY_FILE}")) if folder.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        result = document.get("result", {})
        identity = document.get("identity", {})
        rows.append(
            {
                "id": document.get("id"),
                "strategy": identity.get("strategy"),
                "objective": identity.get("objective"),
                "profile": identity.get("backtest", {}).get("profile"),
                "symbols": identity.get("backtest", {}).get("symbols"),
                "trials": result.get("trials"),
                "best_value": result.get("best_value"),
                "pbo": result.get("overfitting", {}).get("pbo"),
                "best_params": result.get("best_params"),
            }
        )
    return rows


def load_study(home: Path, prefix: str) -> dict[str, Any]:
    """A stored study by its id or a unique prefix of it."""
    folder = home / STUDIES_DIR
    text = prefix.strip()
    if not text or not all(c in "0123456789abcdef" for c in text):
        raise InputError(f"STUDY: must be a study id or its prefix in hex (got {prefix!r})")
    matches = sorted(folder.glob(f"{text}*/{STUDY_FILE}")) if folder.is_dir() else []
    if not matches:
        raise InputError(f"STUDY: no stored study {text} in {folder} (see sigmax optimize --list)")
    if len(matches) > 1:
        raise InputError(f"STUDY: {text} names {len(matches)} studies; give more of the id")
    try:
        document: dict[str, Any] = json.loads(matches[0].read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise SigmaxError(f"STUDY: cannot read {matches[0]}: {error}") from None
    return document
