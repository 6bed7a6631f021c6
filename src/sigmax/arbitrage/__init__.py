"""Arbitrage: cross-exchange edges and cycles within a venue, every cost counted.

``books`` (exact book walking), ``costs`` (fees, transfer, slippage limit), ``cross``
(cross-exchange edges), ``cycles`` (negative cycles of the rate graph, sized on the books),
``backtest`` (the same edges over historical candles of several venues), ``live`` (the scan on
order books through ccxt), ``report`` (the HTML page) and ``execute`` (paper execution of an
opportunity through the order gate).
"""
