"""Package names imported from their module on first use (PEP 562).

A package whose ``__init__`` re-exports its modules' names would import them all, and what they
import, as soon as any submodule is used. With :func:`lazy_exports` the package maps each name
to the module that holds it, and the module is imported when the name is first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], exported: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: ``homes`` maps each name to the submodule
    (relative to ``package``) it is imported from; ``exported`` is the package's ``__all__``."""
    names = sorted(exported)

    def get_attribute(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{home}")
        value = getattr(module, name)
        # The next lookup is a plain module attribute.
        setattr(importlib.import_module(package), name, value)
        return value

    def list_names() -> list[str]:
        return names

    return get_attribute, list_names
