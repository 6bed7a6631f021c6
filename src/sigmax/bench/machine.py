"""A description of the machine a benchmark ran on, recorded next to every figure."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine_info(*packages: str) -> dict[str, object]:
    """CPU, core count, OS and Python, plus the versions of the named packages."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": {name: _package_version(name) for name in ("sigmax", *packages)},
    }


@contextmanager
def temporary_home(prefix: str = "sigmax-bench-") -> Iterator[Path]:
    """A fresh SIGMAX_HOME for one benchmark, removed afterwards; the caller's is restored."""
    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        previous = os.environ.get("SIGMAX_HOME")
        os.environ["SIGMAX_HOME"] = home
        try:
            yield Path(home)
        finally:
            if previous is None:
                os.environ.pop("SIGMAX_HOME", None)
            else:
                os.environ["SIGMAX_HOME"] = previous
