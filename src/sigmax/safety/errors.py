"""The safety enforcer's errors, all :class:`SafetyError` so callers can catch one type."""

from __future__ import annotations

from dataclasses import dataclass

from sigmax.errors import InputError, SigmaxError


class SafetyError(SigmaxError):
    """Base of the safety enforcer's errors."""


class SafetyStateError(SafetyError):
    """A stored or serialised safety state cannot be read; the message names the field."""


class InvalidSafetyInputError(SafetyError, InputError):
    """An observation or command the enforcer cannot accept (NaN price, unknown exit reason…)."""


@dataclass(frozen=True, slots=True)
class ResumeBlock:
    """A hold whose condition still holds, and why."""

    trigger: str
    condition: str

    def __str__(self) -> str:
        return f"{self.trigger}: {self.condition}"


class ResumeRefusedError(SafetyError):
    """A resume without ``force`` while a trigger's condition still holds.

    ``blocks`` names each such trigger and its condition; ``resume(force=True)`` overrides. Exit
    code 2: the operator asked for something the rules refuse, as with any refused command.
    """

    exit_code = 2

    def __init__(self, blocks: tuple[ResumeBlock, ...]) -> None:
        self.blocks = blocks
        super().__init__(
            "resume refused, still holding: "
            + "; ".join(str(block) for block in blocks)
            + " (resume with force to override; the override is journalled)"
        )
