"""The policy verdict, its errors, and reading a verdict out of an evaluation result.

Both evaluators (embedded rego-cpp and an external OPA server) return the document of the Rego
package ``sigmax.orders``; :func:`verdict_from_document` is the one place that turns such a
document into a :class:`PolicyVerdict`, so both give identical verdicts for identical documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sigmax.errors import SigmaxError

#: Which evaluator produced a verdict.
EvaluatorName = Literal["embedded", "opa"]

#: The Rego package every policy file belongs to, and its path in OPA's Data API.
POLICY_PACKAGE = "sigmax.orders"
POLICY_DATA_PATH = "sigmax/orders"


class PolicyError(SigmaxError):
    """The compliance policies could not give a verdict. Callers must not send the order."""


class PolicyLoadError(PolicyError):
    """The policy folder is missing, empty, unreadable or holds a policy that does not compile
    or does not pass the load-time self-check. The message names the file and the problem."""

    #: A broken policy file is a configuration problem, like a bad YAML file.
    exit_code = 2


class PolicyEvaluationError(PolicyError):
    """Evaluating an order failed or produced something that is not a verdict."""


class PolicyServiceError(PolicyEvaluationError):
    """The external OPA server could not be reached, timed out or answered with an HTTP error."""


class PolicyInputError(PolicyError):
    """An order, account or limit value cannot be given to the policies (negative, too large,
    an unknown market type...)."""

    exit_code = 2


@dataclass(frozen=True, slots=True, order=True)
class PolicyViolation:
    """One broken rule: its name (``max_position_size``) and a message naming value and limit."""

    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """The compliance answer for one order. ``violations`` is sorted by rule, then message."""

    allowed: bool
    violations: tuple[PolicyViolation, ...]
    evaluator: EvaluatorName

    @property
    def rules(self) -> tuple[str, ...]:
        """The names of the broken rules, sorted, each once."""
        return tuple(sorted({v.rule for v in self.violations}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the order and its decision."""
        return {
            "allowed": self.allowed,
            "evaluator": self.evaluator,
            "violations": [v.to_dict() for v in self.violations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyVerdict:
        """Read back what :meth:`to_dict` wrote."""
        evaluator = data.get("evaluator")
        if evaluator not in ("embedded", "opa"):
            raise ValueError(f"evaluator must be embedded or opa (got {evaluator!r})")
        violations = tuple(
            PolicyViolation(str(v["rule"]), str(v["message"])) for v in data["violations"]
        )
        return cls(bool(data["allowed"]), violations, evaluator)

    def summary(self) -> str:
        """One line for logs: ``allowed`` or the violation messages joined by ``; ``."""
        if self.allowed:
            return "allowed"
        return "; ".join(v.message for v in self.violations)


def verdict_from_document(document: object, evaluator: EvaluatorName) -> PolicyVerdict:
    """The verdict in a ``sigmax.orders`` package document (``{"allow": ..., "deny": [...]}``).

    Anything else is a :class:`PolicyEvaluationError`: a verdict that cannot be read is never
    taken as an approval.
    """
    if not isinstance(document, Mapping):
        raise PolicyEvaluationError(
            f"policy package {POLICY_PACKAGE} gave no document (got {_shape(document)}); "
            "is every policy file in package sigmax.orders?"
        )
    allow = document.get("allow")
    deny = document.get("deny")
    if not isinstance(allow, bool):
        raise PolicyEvaluationError(
            f"{POLICY_PACKAGE}.allow must be true or false (got {_shape(allow)})"
        )
    if not isinstance(deny, list):
        raise PolicyEvaluationError(
            f"{POLICY_PACKAGE}.deny must be a set of {{rule, message}} (got {_shape(deny)})"
        )
    violations: list[PolicyViolation] = []
    for item in deny:
        rule = item.get("rule") if isinstance(item, Mapping) else None
        message = item.get("message") if isinstance(item, Mapping) else None
        if not isinstance(rule, str) or not rule or not isinstance(message, str):
            raise PolicyEvaluationError(
                f"{POLICY_PACKAGE}.deny holds {item!r}; each entry must be "
                '{"rule": "<name>", "message": "<text>"}'
            )
        violations.append(PolicyViolation(rule, message))
    if allow == bool(violations):
        raise PolicyEvaluationError(
            f"{POLICY_PACKAGE}.allow is {str(allow).lower()} but deny holds "
            f"{len(violations)} violation(s); allow must be count(deny) == 0"
        )
    return PolicyVerdict(allow, tuple(sorted(set(violations))), evaluator)


def _shape(value: object) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
