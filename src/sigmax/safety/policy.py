"""Policy as code: every order is checked against the Rego policies in ``config/policies``.

:class:`PolicyEngine` evaluates them in process with rego-cpp (the ``regopy`` package);
:class:`~sigmax.safety.policy_opa.OpaPolicyEngine` asks an external OPA server the same question
over OPA's Data API. Both answer with a :class:`PolicyVerdict`. Any problem (a missing folder, a
syntax error, a failed evaluation, an unreachable server) raises a :class:`PolicyError` and the
order must not be sent: the compliance gate fails closed.

Speed: the policies are compiled once into a rego-cpp bundle at load; each evaluation only sets
the input (value by value, :mod:`sigmax.safety.policy_term`) and runs the compiled plan: about
0.6 ms per order, nearly all of it rego-cpp running the rules.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import regopy  # type: ignore[import-untyped]
from regopy import rego_shared

from sigmax.config.paths import discover_config_dir
from sigmax.config.settings import Settings
from sigmax.safety.policy_input import (
    OrderPolicyInput,
    PolicyAccount,
    PolicyLimits,
    PolicyOrder,
)
from sigmax.safety.policy_selfcheck import REQUIRED_RULES, self_check
from sigmax.safety.policy_term import set_order_input
from sigmax.safety.policy_types import (
    POLICY_PACKAGE,
    EvaluatorName,
    PolicyError,
    PolicyEvaluationError,
    PolicyInputError,
    PolicyLoadError,
    PolicyServiceError,
    PolicyVerdict,
    PolicyViolation,
    verdict_from_document,
)

#: Folder name of the policies inside the configuration folder.
POLICIES_DIR_NAME = "policies"

_DOCUMENT_QUERY = f"result = data.{POLICY_PACKAGE}"
# Only what a verdict needs: the whole document also renders every helper value (twice the time).
_VERDICT_QUERY = (
    f'result = {{"allow": data.{POLICY_PACKAGE}.allow, "deny": data.{POLICY_PACKAGE}.deny}}'
)
_PACKAGE_RE = re.compile(r"^\s*package\s+([A-Za-z0-9_.]+)\s*$", re.MULTILINE)
_ERRORMSG_RE = re.compile(r"\(errormsg (\d+):")
_LOCATION_RE = re.compile(r"\(error (\d+):")


#: Engines compiled and self-checked in this process, by folder and file texts.
_LOADED: dict[tuple[str, tuple[tuple[str, str], ...]], PolicyEngine] = {}
_LOADED_LOCK = threading.Lock()


class PolicyEvaluator(Protocol):
    """What the engine and the CLI need: a verdict for an order, or a :class:`PolicyError`."""

    evaluator: ClassVar[EvaluatorName]

    def evaluate(self, request: OrderPolicyInput) -> PolicyVerdict: ...

    async def evaluate_async(self, request: OrderPolicyInput) -> PolicyVerdict: ...


class PolicyEngine:
    """The policies of one folder, compiled and evaluated in process. Build with :meth:`load`."""

    evaluator: ClassVar[EvaluatorName] = "embedded"

    def __init__(
        self,
        directory: Path,
        files: tuple[Path, ...],
        builder: Any,
        verdict: Any,
        document: Any = None,
    ) -> None:
        self.directory = directory
        self.files = files
        self._runner = _interpreter()
        # The compiled plans; the builder is kept alive with them. The whole-document plan is
        # only for evaluate_document (the OPA stand-in, diagnostics): compiled when first asked,
        # it costs a quarter of every load otherwise.
        self._builder = builder
        self._verdict_bundle = verdict
        self._document_bundle = document
        # A rego-cpp interpreter holds the input between set and query: one caller at a time.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path) -> PolicyEngine:
        """Compile every ``*.rego`` file in ``directory`` and prove they give the expected
        verdicts on known orders; raise :class:`PolicyLoadError` naming the file otherwise.

        Once per process for the same texts: an engine compiled and self-checked from exactly
        these file names and contents is reused (it holds no state between evaluations), so a
        process that runs many backtests compiles its policies once. A changed file is
        compiled and checked again."""
        directory = directory.expanduser().resolve()
        if not directory.is_dir():
            raise PolicyLoadError(f"policy folder {directory} does not exist")
        files = tuple(sorted(p for p in directory.glob("*.rego") if p.is_file()))
        if not files:
            raise PolicyLoadError(f"policy folder {directory} holds no *.rego files")
        sources = tuple((path.name, _read_policy(path)) for path in files)
        key = (str(directory), sources)
        with _LOADED_LOCK:
            loaded = _LOADED.get(key)
            if loaded is None:
                loaded = cls._compile_and_check(directory, files, sources)
                _LOADED.clear()  # one set of policies in use at a time is the usual case
                _LOADED[key] = loaded
        return loaded

    @classmethod
    def _compile_and_check(
        cls, directory: Path, files: tuple[Path, ...], sources: tuple[tuple[str, str], ...]
    ) -> PolicyEngine:
        builder = _interpreter()
        for path, (_, source) in zip(files, sources, strict=True):
            try:
                builder.add_module(path.name, source)
            except regopy.RegoError as error:
                raise PolicyLoadError(
                    f"{path}: does not compile: {_describe(str(error), source)}"
                ) from None
        verdict = _compile(builder, _VERDICT_QUERY, directory, PolicyLoadError)
        engine = cls(directory, files, builder, verdict)
        try:
            self_check(engine.evaluate, str(directory))
        except PolicyEvaluationError as error:
            raise PolicyLoadError(f"{directory}: self-check failed: {error}") from None
        return engine

    def evaluate(self, request: OrderPolicyInput) -> PolicyVerdict:
        """The verdict for one order."""
        # Handing the values over one by one from the request's fields is several times as
        # fast as JSON text or regopy.Input; it is exact because OrderPolicyInput caps every
        # whole number far below 2**63 (and policy_term refuses anything it could not hand
        # over exactly).
        result = self._query(
            self._verdict_bundle, lambda: set_order_input(self._runner._impl, request)
        )
        return verdict_from_document(result, "embedded")

    async def evaluate_async(self, request: OrderPolicyInput) -> PolicyVerdict:
        """Same as :meth:`evaluate`; an evaluation takes a millisecond or two of CPU, less
        than handing it to a thread would cost, so it runs inline."""
        return self.evaluate(request)

    def evaluate_document(self, document: Mapping[str, Any]) -> Any:
        """The raw ``sigmax.orders`` document for any JSON input document, as OPA's Data API
        would return it under ``result``; ``None`` when the package is undefined. (JSON text
        keeps whole numbers of any size exact.)"""
        try:
            term = json.dumps(document, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise PolicyEvaluationError(f"policy input is not JSON: {error}") from None
        return self._query(self._whole_document_bundle(), lambda: self._runner.set_input_term(term))

    def _whole_document_bundle(self) -> Any:
        with self._lock:
            if self._document_bundle is None:
                # The verdict plan compiled from the same modules at load, so this failing is
                # not expected; if it does, the caller gets an error, never a document.
                self._document_bundle = _compile(
                    self._builder, _DOCUMENT_QUERY, self.directory, PolicyEvaluationError
                )
            return self._document_bundle

    def _query(self, bundle: Any, set_input: Callable[[], None]) -> Any:
        with self._lock:
            try:
                set_input()
                # The raw output, not regopy.Output: that class fails on rego-cpp's error text.
                output = rego_shared.rego_bundle_query(self._runner._impl, bundle._impl)
            except regopy.RegoError as error:
                raise PolicyEvaluationError(
                    f"evaluating {self.directory} failed: {_describe(str(error))}"
                ) from None
            try:
                ok = rego_shared.rego_output_ok(output)
                text = rego_shared.rego_output_string(output)
            finally:
                rego_shared.rego_free_output(output)
        return _result_of(text, ok, self.directory)


def _compile(builder: Any, query: str, directory: Path, error_type: type[PolicyError]) -> Any:
    """The rego-cpp plan of ``query`` over the builder's modules."""
    try:
        bundle = builder.build(query)
    except regopy.RegoError as error:
        raise error_type(f"{directory}: policies do not compile: {_describe(str(error))}") from None
    if not bundle.ok():
        raise error_type(f"{directory}: policies do not compile")
    return bundle


def _interpreter() -> Any:
    interpreter = regopy.Interpreter()
    # rego-cpp prints errors to the terminal by default; they are raised with the file instead.
    interpreter.log_level = regopy.LogLevel.NONE
    return interpreter


def _read_policy(path: Path) -> str:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyLoadError(f"{path}: cannot be read: {error}") from None
    packages = _PACKAGE_RE.findall(source)
    # A file in another package would be compiled and then silently never asked.
    if packages and packages[0] != POLICY_PACKAGE:
        raise PolicyLoadError(
            f"{path}: must declare 'package {POLICY_PACKAGE}' (declares package {packages[0]})"
        )
    return source


def _result_of(text: str, ok: bool, directory: Path) -> Any:
    if not ok or text.lstrip().startswith(("(", "<")):
        raise PolicyEvaluationError(
            f"evaluating {directory} failed: {_describe(text)} "
            "(a rule with conflicting values, or a call to an unknown function?)"
        )
    if text.strip() == "undefined":
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        excerpt = text if len(text) <= 200 else text[:197] + "..."
        raise PolicyEvaluationError(
            f"evaluating {directory} gave output that is not JSON: {excerpt}"
        ) from None
    results = parsed if isinstance(parsed, list) else [parsed]
    if len(results) != 1 or not isinstance(results[0], dict):
        raise PolicyEvaluationError(f"evaluating {directory} gave {len(results)} results, not 1")
    return (results[0].get("bindings") or {}).get("result")


def _describe(error_text: str, source: str | None = None) -> str:
    """rego-cpp's error tree as ``line 2, column 10: this is unclosed; ...``."""
    found: list[str] = []
    for match in _ERRORMSG_RE.finditer(error_text):
        size = int(match.group(1))
        message = error_text[match.end() : match.end() + size]
        where = ""
        # The nearest "(error N:FILE|OFFSET|LENGTH" before the message locates it.
        start = error_text.rfind("(error ", 0, match.start())
        location = _LOCATION_RE.match(error_text, start) if start >= 0 else None
        if source is not None and location is not None:
            rest = error_text[location.end() :].split("|")
            if len(rest) >= 2 and rest[1].isdigit():
                offset = int(rest[1])
                line = source.count("\n", 0, offset) + 1
                column = offset - (source.rfind("\n", 0, offset) + 1) + 1
                where = f"line {line}, column {column}: "
        if f"{where}{message}" not in found:
            found.append(f"{where}{message}")
    return "; ".join(found) if found else " ".join(error_text.split())[:300] or "no detail"


def policy_directory(settings: Settings) -> Path:
    """``safety.policy.directory`` (relative to the configuration folder), or the configuration
    folder's ``policies/``; the folder is found the same way as the YAML files."""
    configured = settings.safety.policy.directory
    if configured is not None and configured.is_absolute():
        return configured
    config_dir = settings.config_dir
    if config_dir is None:
        found = discover_config_dir(settings.home)
        if found is None:
            raise PolicyLoadError(
                "no configuration folder to find the policies in; set SIGMAX_CONFIG_DIR "
                "or safety.policy.directory"
            )
        config_dir = found.path
    return config_dir / (configured if configured is not None else Path(POLICIES_DIR_NAME))


def policy_engine_from_settings(settings: Settings) -> PolicyEvaluator:
    """OPA when ``safety.policy.opa_url`` (``OPA_URL``) is set, the embedded engine otherwise.

    Either way the policies are proven with the self-check before this returns, so a broken
    policy or an unreachable OPA stops start-up instead of the first order.
    """
    policy = settings.safety.policy
    if policy.opa_url is not None:
        # Imported here: the HTTP client is only needed when an OPA server is configured.
        from sigmax.safety.policy_opa import OpaPolicyEngine

        opa = OpaPolicyEngine(policy.opa_url, timeout_seconds=policy.opa_timeout_seconds)
        try:
            self_check(opa.evaluate, f"OPA at {opa.display_url}")
        except BaseException:
            opa.close()
            raise
        return opa
    return PolicyEngine.load(policy_directory(settings))


__all__ = [
    "POLICIES_DIR_NAME",
    "REQUIRED_RULES",
    "OrderPolicyInput",
    "PolicyAccount",
    "PolicyEngine",
    "PolicyError",
    "PolicyEvaluationError",
    "PolicyEvaluator",
    "PolicyInputError",
    "PolicyLimits",
    "PolicyLoadError",
    "PolicyOrder",
    "PolicyServiceError",
    "PolicyVerdict",
    "PolicyViolation",
    "policy_directory",
    "policy_engine_from_settings",
]
