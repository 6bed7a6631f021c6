"""The three LLM backends through their official clients, each asked for one JSON object.

* OpenAI: ``chat.completions.create`` with ``response_format`` ``json_schema`` (strict).
* Anthropic: ``messages.create`` with one tool whose ``input_schema`` is the answer's schema and
  ``tool_choice`` forcing it, so the answer is the tool's input.
* Ollama: ``POST /api/chat`` with ``format`` = the schema and ``stream: false``.

Every client is made with the per-call time limit and no retries (a retry would spend budget
and time the caller did not allow). Failures are :class:`LlmError` with a code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anthropic
import httpx
import openai
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from pydantic import SecretStr

from sigmax.errors import SigmaxError

ANSWER_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "bull_argument": {"type": "string"},
        "bear_argument": {"type": "string"},
        "summary": {"type": "string"},
        "stance": {"type": "string", "enum": ["bullish", "bearish", "neutral"]},
    },
    "required": ["bull_argument", "bear_argument", "summary", "stance"],
    "additionalProperties": False,
}


class LlmError(SigmaxError):
    """An LLM call failed: ``code`` is ``timeout``, ``rate_limited``, ``http``, ``network`` or
    ``format``. The message never holds a key."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class LlmReply:
    """The answer's JSON text and the tokens the provider counted."""

    text: str
    input_tokens: int
    output_tokens: int


class LlmProvider(Protocol):
    name: str
    model: str

    async def complete(self, system: str, prompt: str, max_tokens: int) -> LlmReply: ...


def _sdk_error(provider: str, error: Exception, timeout_s: float) -> LlmError:
    if isinstance(error, openai.APITimeoutError | anthropic.APITimeoutError):
        return LlmError(f"{provider} did not answer within {timeout_s:g} s", code="timeout")
    if isinstance(error, openai.RateLimitError | anthropic.RateLimitError):
        return LlmError(f"{provider} answered HTTP 429 (rate limited)", code="rate_limited")
    if isinstance(error, openai.APIStatusError | anthropic.APIStatusError):
        return LlmError(f"{provider} answered HTTP {error.status_code}", code="http")
    if isinstance(error, openai.APIConnectionError | anthropic.APIConnectionError):
        return LlmError(f"{provider} could not be reached", code="network")
    return LlmError(f"{provider} failed: {type(error).__name__}", code="format")


class OpenAIProvider:
    name = "openai"

    def __init__(self, base_url: str, api_key: SecretStr, model: str, timeout_s: float) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key.get_secret_value(), timeout=timeout_s, max_retries=0
        )

    async def complete(self, system: str, prompt: str, max_tokens: int) -> LlmReply:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": prompt},
                ],
                max_tokens=max_tokens,
                temperature=0,
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": "sigmax_reasoning",
                        "schema": ANSWER_SCHEMA,
                        "strict": True,
                    },
                },
            )
        except (openai.OpenAIError, ValueError) as error:
            raise _sdk_error("OpenAI", error, self.timeout_s) from None
        if not isinstance(response, ChatCompletion):
            raise LlmError("OpenAI answered a body that is not a chat completion", code="format")
        if not response.choices or response.choices[0].message.content is None:
            raise LlmError("OpenAI answered without a message", code="format")
        usage = response.usage
        return LlmReply(
            response.choices[0].message.content,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )


class AnthropicProvider:
    name = "anthropic"
    TOOL: Final = "record_reasoning"

    def __init__(self, base_url: str, api_key: SecretStr, model: str, timeout_s: float) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self._client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=api_key.get_secret_value(), timeout=timeout_s, max_retries=0
        )

    async def complete(self, system: str, prompt: str, max_tokens: int) -> LlmReply:
        try:
            response = await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                temperature=0,
                system=system,
                messages=[{"role": "user", "content": prompt}],
                tools=[
                    {
                        "name": self.TOOL,
                        "description": "Record the rewritten arguments and summary.",
                        "input_schema": ANSWER_SCHEMA,
                    }
                ],
                tool_choice={"type": "tool", "name": self.TOOL},
            )
        except (anthropic.AnthropicError, ValueError) as error:
            raise _sdk_error("Anthropic", error, self.timeout_s) from None
        if not isinstance(response, Message):
            raise LlmError("Anthropic answered a body that is not a message", code="format")
        for block in response.content:
            if block.type == "tool_use" and block.name == self.TOOL:
                return LlmReply(
                    json.dumps(block.input),
                    response.usage.input_tokens,
                    response.usage.output_tokens,
                )
        raise LlmError("Anthropic answered without the reasoning tool call", code="format")


class OllamaProvider:
    name = "ollama"

    def __init__(self, base_url: str, model: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s

    async def complete(self, system: str, prompt: str, max_tokens: int) -> LlmReply:
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ],
            "stream": False,
            "format": ANSWER_SCHEMA,
            "options": {"temperature": 0, "num_predict": max_tokens},
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                response = await http.post(f"{self.base_url}/api/chat", json=payload)
        except httpx.TimeoutException:
            raise LlmError(
                f"Ollama did not answer within {self.timeout_s:g} s", code="timeout"
            ) from None
        except (httpx.HTTPError, OSError) as error:
            raise LlmError(
                f"Ollama could not be reached: {type(error).__name__}", code="network"
            ) from None
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            raise LlmError("Ollama answered HTTP 429 (rate limited)", code="rate_limited")
        if response.status_code != httpx.codes.OK:
            raise LlmError(f"Ollama answered HTTP {response.status_code}", code="http")
        try:
            body = response.json()
            content = body["message"]["content"]
        except (ValueError, KeyError, TypeError):
            raise LlmError("Ollama's answer is not an /api/chat reply", code="format") from None
        if not isinstance(content, str):
            raise LlmError("Ollama's message content is not text", code="format")
        return LlmReply(
            content, int(body.get("prompt_eval_count") or 0), int(body.get("eval_count") or 0)
        )
