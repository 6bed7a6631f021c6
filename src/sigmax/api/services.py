"""What the API's routes call to act: decide, queue a manual order, steer the safety enforcer.

Each action is one function in :class:`ApiServices`, so a process that embeds the API can
route it elsewhere. The functions themselves are the operator service layer every face calls
(:mod:`sigmax.engine.services`): the CLI, the API and the Telegram bot agree by construction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.account import AccountHome
from sigmax.engine.manual_order import QueuedOrder
from sigmax.engine.safety_service import CommandResult
from sigmax.engine.services import COMMAND_WAIT_S, Decider, run_command, submit_manual_order
from sigmax.storage.models import ControlKind

__all__ = [
    "COMMAND_WAIT_S",
    "ApiServices",
    "Decider",
    "run_command",
    "submit_manual_order",
]

SubmitOrder = Callable[[AccountHome, str, str, Decimal], QueuedOrder | CommandResult]
RunCommand = Callable[[AccountHome, ControlKind, dict[str, Any]], CommandResult]
Analyze = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ApiServices:
    """The actions behind ``POST`` routes; swap one to route it through a running engine."""

    submit_order: SubmitOrder
    command: RunCommand
    analyze: Analyze

    @classmethod
    def stored(cls, home: AccountHome, catalog: DatasetCatalog) -> ApiServices:
        """The services over the stored state of ``home`` (no engine in this process)."""
        return cls(submit_manual_order, run_command, Decider(home, catalog))
