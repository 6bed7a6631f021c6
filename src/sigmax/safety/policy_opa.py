"""The same policies evaluated by an external OPA server, over OPA's REST Data API.

``POST {url}/v1/data/sigmax/orders`` with ``{"input": ...}`` answers ``{"result": {...}}``, the
document of package ``sigmax.orders``, read by the same code as the embedded evaluator's. The
server must run the policies of ``config/policies`` (``opa run --server config/policies``).
Every failure (refused connection, timeout, HTTP error, a body that is not a verdict) raises a
:class:`PolicyError`: an order is never sent on a verdict that was not received.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from sigmax.safety.policy_input import OrderPolicyInput
from sigmax.safety.policy_types import (
    POLICY_DATA_PATH,
    EvaluatorName,
    PolicyEvaluationError,
    PolicyServiceError,
    PolicyVerdict,
    verdict_from_document,
)
from sigmax.url_secrets import mask_url, mask_urls_in, url_secrets

DEFAULT_TIMEOUT_SECONDS = 2.0


class OpaPolicyEngine:
    """A client of one OPA server. ``close()`` (or ``with``) releases its connections."""

    evaluator: ClassVar[EvaluatorName] = "opa"

    def __init__(self, url: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyServiceError(
                f"OPA URL must be http:// or https:// with a host (got {mask_url(url)})"
            )
        self.url = url.rstrip("/")
        #: The URL without any user or password, for messages and logs.
        self.display_url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        # httpx quotes the request URL in its errors: every secret of it is masked there.
        self._url_secrets = url_secrets(url)
        self.endpoint = f"{self.url}/v1/data/{POLICY_DATA_PATH}"
        self._timeout = httpx.Timeout(timeout_seconds)
        self._client = httpx.Client(timeout=self._timeout)
        self._async_client: httpx.AsyncClient | None = None

    def evaluate(self, request: OrderPolicyInput) -> PolicyVerdict:
        """The verdict for one order, from the server."""
        try:
            response = self._client.post(self.endpoint, json={"input": request.to_document()})
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        return self._verdict(response)

    async def evaluate_async(self, request: OrderPolicyInput) -> PolicyVerdict:
        """The verdict for one order, without blocking the event loop."""
        if self._async_client is None:
            self._async_client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._async_client.post(
                self.endpoint, json={"input": request.to_document()}
            )
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        return self._verdict(response)

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        self._client.close()
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    def __enter__(self) -> OpaPolicyEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _unreachable(self, error: httpx.HTTPError) -> PolicyServiceError:
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
        detail = mask_urls_in(str(error)) or type(error).__name__
        for secret in self._url_secrets:
            detail = detail.replace(secret, "***")
        return PolicyServiceError(
            f"OPA at {self.display_url}: request {kind} ({detail}); orders are refused "
            "until it answers"
        )

    def _verdict(self, response: httpx.Response) -> PolicyVerdict:
        where = f"OPA at {self.display_url}"
        if response.status_code != 200:
            raise PolicyServiceError(
                f"{where} answered HTTP {response.status_code}: {_opa_message(response)}"
            )
        try:
            body: Any = response.json()
        except ValueError:
            raise PolicyEvaluationError(f"{where} answered with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise PolicyEvaluationError(f"{where} answered {type(body).__name__}, not an object")
        if "result" not in body:
            # OPA leaves "result" out when the document is undefined.
            raise PolicyEvaluationError(
                f"{where} has no document at {POLICY_DATA_PATH}: are the SIGMAX policies loaded?"
            )
        try:
            return verdict_from_document(body["result"], "opa")
        except PolicyEvaluationError as error:
            raise PolicyEvaluationError(f"{where}: {error}") from None


def _opa_message(response: httpx.Response) -> str:
    """OPA's error body is ``{"code": ..., "message": ...}``; anything else is cut short."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        return f"{code}: {body['message']}" if isinstance(code, str) else body["message"]
    text = response.text.strip()
    return (text[:200] + "...") if len(text) > 200 else (text or "no detail")
