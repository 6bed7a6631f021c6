"""Property-based requests from the OpenAPI document, through a real uvicorn server.

schemathesis generates requests for every operation the API documents (valid ones and ones
that break the schema) and checks that none is answered with a 5xx and that every answer
matches the documented responses. The home holds a completed paper run and belongs to this
module alone, so the actions it sends (orders, pauses) change nothing another test reads.
``POST /api/control/panic`` is left out: it flattens the account and keeps it stopped, so
every later action would only meet that state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api.api_harness import LiveApi, serving
from sigmax.api import RateLimit

pytestmark = pytest.mark.slow

#: Per operation: enough to reach every parameter's bounds, small enough for ~a minute.
MAX_EXAMPLES = 25
#: The actions' rate limit is tested elsewhere; here it must not turn the cases into 429s.
NO_RATE_LIMIT = RateLimit(rate=10_000.0, burst=10_000)
KNOWN_MARKET = "BTC/USDT"
KNOWN_SIZE = "0.001"

Operation = APIOperation[Any, Any, Any, Any]
ApiCase = Case[Any]


@pytest.fixture(scope="module")
def live(completed_home: Path) -> Iterator[LiveApi]:
    with serving(completed_home, rate_limit=NO_RATE_LIMIT) as api:
        yield api


@pytest.fixture(scope="module")
def api_schema(live: LiveApi) -> BaseSchema:
    schema = schemathesis.openapi.from_url(
        f"{_base_url(live)}/openapi.json", headers=live.auth, timeout=30
    )
    return schema.exclude(method="POST", path="/api/control/panic")


def test_the_document_lists_the_operations(api_schema: BaseSchema) -> None:
    operations = {(op.method.upper(), op.path) for op in _operations(api_schema)}
    assert ("GET", "/api/status") in operations
    assert ("POST", "/api/trade") in operations
    assert ("POST", "/api/control/panic") not in operations


def test_no_server_error_and_every_answer_as_documented(
    api_schema: BaseSchema, live: LiveApi
) -> None:
    # One Hypothesis run per operation and variant (rather than schemathesis' pytest
    # parametrization, whose lazy loader fails on pytest 9), so every failing operation is
    # reported, not only the first.
    failures: list[str] = []
    for operation in _operations(api_schema):
        for variant, strategy in _strategies(operation):

            @given(case=strategy)
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                # The same cases on every run: a failure here is never a matter of luck.
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: ApiCase) -> None:
                case.call_and_validate(
                    base_url=_base_url(live),
                    headers=live.auth,
                    checks=[
                        not_a_server_error,
                        response_schema_conformance,
                        status_code_conformance,
                    ],
                    timeout=30,
                )

            try:
                check()
            except (Exception, FailureGroup) as error:
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({variant}):\n{error}"
                )
    assert not failures, "\n\n".join(failures)


def _strategies(operation: Operation) -> Iterator[tuple[str, SearchStrategy[ApiCase]]]:
    """Valid requests, invalid ones, and valid ones on a market SIGMAX has data for.

    A generated market name is almost never a real one (nor a size a multiple of its lot), so
    without the last variant the answers past those checks (candles, an analysis, a queued
    order) would go unchecked.
    """
    yield "positive", operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    yield "negative", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    if _takes_symbol(operation):
        positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        yield f"positive, symbol {KNOWN_MARKET}", positive.map(_on_known_market)


def _takes_symbol(operation: Operation) -> bool:
    """Whether the operation has a ``symbol`` query parameter or body field."""
    definition: dict[str, Any] = operation.definition.raw
    if any(p.get("name") == "symbol" for p in definition.get("parameters", [])):
        return True
    content = definition.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    return "symbol" in _resolve(operation.schema.raw_schema, body).get("properties", {})


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A body schema with its ``$ref`` (or that of its first ``anyOf`` member) followed."""
    if "anyOf" in schema:
        schema = schema["anyOf"][0]
    reference = schema.get("$ref")
    if not isinstance(reference, str):
        return schema
    node: dict[str, Any] = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _on_known_market(case: ApiCase) -> ApiCase:
    for container in (case.query, case.body):
        if isinstance(container, dict) and "symbol" in container:
            container["symbol"] = KNOWN_MARKET
            if "size" in container:
                # The market's lot size is no part of the document; this one fits it.
                container["size"] = KNOWN_SIZE
    return case


def _operations(schema: BaseSchema) -> list[Operation]:
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            pytest.fail(f"the OpenAPI document has an operation it cannot load: {result.err()}")
        operations.append(result.ok())
    return operations


def _base_url(live: LiveApi) -> str:
    return f"http://127.0.0.1:{live.port}"
