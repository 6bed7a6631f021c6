"""Who may command the bot: the chat ids of ``TELEGRAM_ALLOWED_CHAT_IDS``, and nobody else.

Another chat gets one refusal and nothing else afterwards (no answer tells a stranger more, and
a flood of messages cannot make the bot flood back). Each attempt is logged with the chat id,
never with what the message said.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

log = logging.getLogger("sigmax.telegram")

REFUSAL: Final = "This chat may not command SIGMAX."
#: Refused chats remembered (each got its one refusal); beyond it the set starts over.
_MAX_REMEMBERED: Final = 10_000


class ChatAccess:
    """The allowed chats, and the refused ones already told so."""

    def __init__(self, allowed: Iterable[int]) -> None:
        self.allowed: frozenset[int] = frozenset(allowed)
        self._refused: set[int] = set()

    def allows(self, chat_id: int) -> bool:
        return chat_id in self.allowed

    def refuse(self, chat_id: int) -> bool:
        """Log the refused attempt; True the first time (send the one refusal), else False."""
        first = chat_id not in self._refused
        log.warning(
            "Telegram: refused an update from chat %d (not in TELEGRAM_ALLOWED_CHAT_IDS)%s",
            chat_id,
            "" if first else "; already told, no answer",
        )
        if first:
            if len(self._refused) >= _MAX_REMEMBERED:
                self._refused.clear()
            self._refused.add(chat_id)
        return first
