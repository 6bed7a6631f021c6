"""The privacy agent: nothing leaves SIGMAX with a secret or personal data in it.

It screens every piece of text a decision will publish (arguments, debate, reasoning) with the
privacy scanner, redacts what it finds, and reports each violation by kind and place, never by
content. The safety enforcer pauses trading on a violation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sigmax.domain.decisions import AgentReport, Claim, Evidence
from sigmax.safety.privacy import PrivacyScanner, RedactionResult


@dataclass(frozen=True, slots=True)
class Screening:
    """The screened texts (redacted where needed) and the agent's report."""

    texts: dict[str, str]
    report: AgentReport


class PrivacyAgent:
    """Screens and redacts outgoing text."""

    name = "privacy"

    #: Screened texts remembered across decisions (a research item is quoted by every
    #: decision of its window, and the scanner's answer depends on the text alone).
    MEMO_ENTRIES = 8192

    def __init__(self, scanner: PrivacyScanner) -> None:
        self.scanner = scanner
        self._memo: dict[str, RedactionResult] = {}

    def screen(
        self,
        texts: Mapping[str, str],
        *,
        screened_before: int = 0,
        found_before: Sequence[Mapping[str, str]] = (),
    ) -> Screening:
        """Redact every text; ``texts`` maps a place (``bull.argument``) to its text.

        ``screened_before`` texts of the record were screened earlier with the same scanner
        (research items, when they arrived) and ``found_before`` is what was redacted in them
        (``where``, ``kind``, ``preview``): the report counts them with the rest.
        """
        cleaned: dict[str, str] = {}
        violations: list[dict[str, str]] = []
        seen = self._memo  # the same sentence is quoted in several places and decisions
        for place, text in texts.items():
            result = seen.get(text)
            if result is None:
                if len(seen) >= self.MEMO_ENTRIES:
                    seen.pop(next(iter(seen)))  # the oldest
                result = seen[text] = self.scanner.redact(text)
            cleaned[place] = result.text
            violations.extend(
                {"where": place, "kind": v.kind.value, "preview": v.preview}
                for v in result.violations
            )
        violations.extend(dict(v) for v in found_before)
        checked = Evidence("texts_checked", "texts checked", float(len(texts) + screened_before))
        found = Evidence("violations", "violations", float(len(violations)))
        if violations:
            places = ", ".join(sorted({v["where"] for v in violations}))
            claim = Claim(("Screened: ", checked, "; ", found, f" redacted in {places}."))
        else:
            claim = Claim(("Screened: ", checked, "; ", found, ": nothing to redact."))
        report = AgentReport.from_claims(
            self.name,
            0.0,
            1.0,
            [claim],
            status="violation" if violations else "ok",
            details={"violations": violations},
        )
        return Screening(cleaned, report)
