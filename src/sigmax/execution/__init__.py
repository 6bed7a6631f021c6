"""Execution: the trading rules of markets, venues (paper and exchange) and order handling."""
