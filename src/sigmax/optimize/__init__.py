"""Strategy optimisation: a search space, walk-forward folds, an Optuna study whose trials are
real backtests, run in this process or on a Dask cluster (docs/OPTIMIZE.md)."""
