"""SIGMAX: autonomous, explainable crypto trading over one event-driven engine."""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigmax.engine.facade import SIGMAX

try:
    __version__ = version("sigmax")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["SIGMAX", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `sigmax version` must not load the agents, storage and TA-Lib.
    if name == "SIGMAX":
        from sigmax.engine.facade import SIGMAX

        return SIGMAX
    raise AttributeError(f"module 'sigmax' has no attribute {name!r}")
