"""A backtest imports what it uses: not the web or API stack, not the NATS client, not the
database layer or Alembic (its cold start is mostly imports)."""

from __future__ import annotations

import os
import subprocess
import sys

#: Top-level packages a backtest never uses.
UNUSED = ("fastapi", "uvicorn", "starlette", "ccxt", "nats", "alembic", "aiohttp")
#: SIGMAX modules a backtest never uses.
UNUSED_SIGMAX = (
    "sigmax.api",
    "sigmax.telegram",
    "sigmax.storage.database",
    "sigmax.storage.check",
    "sigmax.bus.jetstream",
    "sigmax.bus.factory",
)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=True,
    )
    return set(done.stdout.split())


def test_the_backtest_path_imports_no_backend_it_does_not_use() -> None:
    loaded = _loaded_after("import sigmax.bench.backtest_bench, sigmax.backtest.report")
    unused = sorted(
        name for name in loaded if name.split(".")[0] in UNUSED or name.startswith(UNUSED_SIGMAX)
    )
    assert unused == []
    assert "sigmax.engine.engine" in loaded  # the check can see what the backtest imports


def test_the_bus_and_storage_packages_still_give_every_name() -> None:
    loaded = _loaded_after(
        "from sigmax.bus import NatsJetStreamBus, InProcessBus, bus_from_settings\n"
        "from sigmax.storage import Database, MigrationError\n"
        "import sigmax.bus, sigmax.storage\n"
        "assert sorted(dir(sigmax.bus)) == sorted(sigmax.bus.__all__)\n"
        "assert all(getattr(sigmax.bus, n) is not None for n in sigmax.bus.__all__)\n"
        "assert all(getattr(sigmax.storage, n) is not None for n in sigmax.storage.__all__)\n"
    )
    assert {"sigmax.bus.jetstream", "sigmax.storage.database", "nats"} <= loaded
