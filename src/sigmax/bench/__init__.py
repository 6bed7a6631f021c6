"""Benchmarks behind ``sigmax bench ...``: each prints one JSON object with its figures."""
