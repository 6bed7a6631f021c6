"""Backtests: the one engine over stored history, its metrics and its report."""
