"""Test support shared across test packages: loopback servers that speak real wire protocols.

Import as ``from support.binance_server import BinanceLoopback`` (``tests/`` is on ``sys.path``
because it is pytest's rootdir-level conftest directory and has no ``__init__.py``).
"""
