"""A 127.0.0.1 stand-in for the research feeds and LLM APIs, answering in each API's real format.

One aiohttp application serves them all, each under the path the real service uses:

* RSS 2.0 at ``/rss/<name>.xml`` (CoinDesk-style items: title, link, pubDate, description) and
  Atom at ``/atom/<name>.xml``;
* CryptoPanic ``/api/v1/posts/`` (``auth_token`` checked; ``results`` with ``votes`` and
  ``currencies``);
* Reddit ``/r/<sub>/new.json`` and ``/r/<sub>/comments.json`` (``Listing`` of ``t3`` / ``t1``);
* CoinGecko ``/api/v3/global`` and ``/api/v3/search/trending``;
* alternative.me ``/fng/``;
* mempool.space ``/api/v1/difficulty-adjustment`` (the fields of its documented answer);
* OpenAI ``/v1/chat/completions``, Anthropic ``/v1/messages`` (a ``tool_use`` block), Ollama
  ``/api/chat``: each answers :attr:`ResearchLoopback.llm_answer` as the model's JSON.

The items are fixtures a test sets (dated as it needs), not real news. Fault injection:
``fail[route] = "timeout" | "429" | "malformed"`` makes that route hang past any client's time
limit, answer HTTP 429 with ``Retry-After``, or answer a body not in its format. ``hits``
counts requests per route; ``requests`` keeps each request's path, query and headers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from support.loopback import LoopbackServer

CRYPTOPANIC_TOKEN = "cp-test-token-4f9a1c"
OPENAI_KEY = "sk-test-openai-0000000000000000"
ANTHROPIC_KEY = "sk-ant-test-0000000000000000"
HANG_S = 2.0


@dataclass
class Post:
    """One fixture item: what each format needs is derived from it."""

    title: str
    at: datetime
    url: str = "https://example.com/news"
    body: str = ""
    currencies: tuple[str, ...] = ("BTC",)
    positive: int = 0
    negative: int = 0
    score: int = 1


@dataclass
class ResearchLoopback(LoopbackServer):
    rss: dict[str, list[Post]] = field(default_factory=dict)
    cryptopanic: list[Post] = field(default_factory=list)
    reddit: dict[str, list[Post]] = field(default_factory=dict)
    reddit_comments: dict[str, list[Post]] = field(default_factory=dict)
    global_change_pct: float = 2.5
    global_updated: datetime = field(default_factory=lambda: datetime(2024, 3, 11, tzinfo=UTC))
    trending: list[str] = field(default_factory=lambda: ["PEPE", "BTC", "SOL"])
    fear_greed: list[tuple[int, datetime]] = field(default_factory=list)
    #: mempool.space's estimate of the next difficulty change, % (``difficultyChange``).
    difficulty_change_pct: float = 3.21
    llm_answer: dict[str, Any] | str = field(
        default_factory=lambda: {
            "bull_argument": "Bulls point to the trend.",
            "bear_argument": "Bears point to the volatility.",
            "summary": "A cautious call.",
            "stance": "neutral",
        }
    )
    llm_usage: tuple[int, int] = (400, 120)
    fail: dict[str, str] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def build_app(self) -> web.Application:
        app = web.Application()
        routes = {
            "rss": ("/rss/{name}.xml", self._rss),
            "atom": ("/atom/{name}.xml", self._atom),
            "cryptopanic": ("/api/v1/posts/", self._cryptopanic),
            "reddit": ("/r/{sub}/new.json", self._reddit),
            "reddit_comments": ("/r/{sub}/comments.json", self._reddit_comments),
            "coingecko_global": ("/api/v3/global", self._global),
            "coingecko_trending": ("/api/v3/search/trending", self._trending),
            "fear_greed": ("/fng/", self._fng),
            "mempool": ("/api/v1/difficulty-adjustment", self._difficulty),
            "ollama": ("/api/chat", self._ollama),
        }
        for name, (path, handler) in routes.items():
            app.router.add_get(path, self._wrap(name, handler))
        app.router.add_post("/api/chat", self._wrap("ollama", self._ollama))
        app.router.add_post("/v1/chat/completions", self._wrap("openai", self._openai))
        app.router.add_post("/v1/messages", self._wrap("anthropic", self._anthropic))
        return app

    def _wrap(self, name: str, handler: Any) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.hits[name] = self.hits.get(name, 0) + 1
            body = await request.read() if request.can_read_body else b""
            self.requests.append(
                {
                    "route": name,
                    "path": request.path,
                    "query": dict(request.query),
                    "headers": dict(request.headers),
                    "body": body.decode("utf-8", "replace"),
                }
            )
            fault = self.fail.get(name)
            if fault == "timeout":
                await asyncio.sleep(HANG_S)
            if fault == "429":
                return web.json_response(
                    {"error": "rate limited"}, status=429, headers={"Retry-After": "120"}
                )
            if fault == "malformed":
                return web.Response(text="<html>upstream error page</html>", status=200)
            response: web.StreamResponse = await handler(request)
            return response

        return handle

    # -- feeds ----------------------------------------------------------------------------------

    async def _rss(self, request: web.Request) -> web.Response:
        posts = self.rss.get(request.match_info["name"], [])
        items = "".join(
            "<item>"
            f"<title>{escape(p.title)}</title><link>{escape(p.url)}</link>"
            f"<description>{escape(p.body)}</description>"
            f"<pubDate>{format_datetime(p.at)}</pubDate><guid>{escape(p.url)}</guid>"
            "</item>"
            for p in posts
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{request.match_info['name']}</title><link>https://example.com</link>"
            f"<description>feed</description>{items}</channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml")

    async def _atom(self, request: web.Request) -> web.Response:
        posts = self.rss.get(request.match_info["name"], [])
        entries = "".join(
            "<entry>"
            f'<title>{escape(p.title)}</title><link href="{escape(p.url)}"/>'
            f"<id>{escape(p.url)}</id><updated>{p.at.isoformat()}</updated>"
            f"<summary>{escape(p.body)}</summary></entry>"
            for p in posts
        )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{request.match_info['name']}</title><id>urn:feed</id>"
            f"<updated>2024-03-11T00:00:00Z</updated>{entries}</feed>"
        )
        return web.Response(text=xml, content_type="application/atom+xml")

    async def _cryptopanic(self, request: web.Request) -> web.Response:
        if request.query.get("auth_token") != CRYPTOPANIC_TOKEN:
            return web.json_response(
                {"status": "Incomplete", "info": "Token not found"}, status=401
            )
        wanted = set(request.query.get("currencies", "").split(","))
        results = [
            {
                "kind": "news",
                "domain": "example.com",
                "source": {
                    "title": "Example",
                    "region": "en",
                    "domain": "example.com",
                    "path": None,
                },
                "title": p.title,
                "published_at": p.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "slug": p.title.lower().replace(" ", "-")[:40],
                "id": 19000000 + i,
                "url": p.url,
                "created_at": p.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "votes": {
                    "negative": p.negative,
                    "positive": p.positive,
                    "important": 0,
                    "liked": 0,
                    "disliked": 0,
                    "lol": 0,
                    "toxic": 0,
                    "saved": 0,
                    "comments": 0,
                },
                "currencies": [
                    {
                        "code": c,
                        "title": c,
                        "slug": c.lower(),
                        "url": f"https://cryptopanic.com/news/{c.lower()}/",
                    }
                    for c in p.currencies
                ],
            }
            for i, p in enumerate(self.cryptopanic)
            if not wanted - {""} or wanted & set(p.currencies)
        ]
        return web.json_response(
            {"count": len(results), "next": None, "previous": None, "results": results}
        )

    def _listing(self, posts: list[Post], sub: str, kind: str) -> dict[str, Any]:
        children = []
        for i, p in enumerate(posts):
            data: dict[str, Any] = {
                "subreddit": sub,
                "created_utc": p.at.timestamp(),
                "score": p.score,
                "permalink": f"/r/{sub}/comments/abc{i}/post/",
                "id": f"abc{i}",
                "author": "someone",
            }
            if kind == "t3":
                data.update({"title": p.title, "selftext": p.body, "url": p.url})
            else:
                data.update({"body": p.title, "link_title": "Daily discussion"})
            children.append({"kind": kind, "data": data})
        return {
            "kind": "Listing",
            "data": {"after": None, "dist": len(children), "children": children, "before": None},
        }

    async def _reddit(self, request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        return web.json_response(self._listing(self.reddit.get(sub, []), sub, "t3"))

    async def _reddit_comments(self, request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        return web.json_response(self._listing(self.reddit_comments.get(sub, []), sub, "t1"))

    async def _global(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "data": {
                    "active_cryptocurrencies": 13690,
                    "markets": 1046,
                    "total_market_cap": {"usd": 2.71e12, "btc": 37_000_000},
                    "total_volume": {"usd": 1.12e11, "btc": 1_500_000},
                    "market_cap_percentage": {"btc": 52.104, "eth": 16.93, "usdt": 3.8},
                    "market_cap_change_percentage_24h_usd": self.global_change_pct,
                    "updated_at": int(self.global_updated.timestamp()),
                }
            }
        )

    async def _trending(self, request: web.Request) -> web.Response:
        coins = [
            {
                "item": {
                    "id": s.lower(),
                    "coin_id": i,
                    "name": s,
                    "symbol": s,
                    "market_cap_rank": i + 1,
                    "score": i,
                }
            }
            for i, s in enumerate(self.trending)
        ]
        return web.json_response({"coins": coins, "nfts": [], "categories": []})

    async def _fng(self, request: web.Request) -> web.Response:
        data = [
            {
                "value": str(v),
                "value_classification": _classify(v),
                "timestamp": str(int(at.timestamp())),
                "time_until_update": "3600",
            }
            for v, at in self.fear_greed
        ]
        return web.json_response(
            {"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}}
        )

    async def _difficulty(self, request: web.Request) -> web.Response:
        # As mempool.space answers: remainingTime and timeAvg in ms, the dates in ms since
        # the epoch, percentages as plain numbers.
        return web.json_response(
            {
                "progressPercent": 54.117063492063494,
                "difficultyChange": self.difficulty_change_pct,
                "estimatedRetargetDate": 1710763221000,
                "remainingBlocks": 925,
                "remainingTime": 551133000,
                "previousRetarget": -1.4751802497501456,
                "previousTime": 1709549040,
                "nextRetargetHeight": 834624,
                "timeAvg": 595822,
                "adjustedTimeAvg": 595822,
                "timeOffset": 0,
                "expectedBlocks": 1058.9766666666667,
            }
        )

    # -- LLMs -----------------------------------------------------------------------------------

    def _answer_text(self) -> str:
        answer = self.llm_answer
        return answer if isinstance(answer, str) else json.dumps(answer)

    async def _openai(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {OPENAI_KEY}":
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
                status=401,
            )
        body = await request.json()
        tokens_in, tokens_out = self.llm_usage
        return web.json_response(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 1710000000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {
                            "role": "assistant",
                            "content": self._answer_text(),
                            "refusal": None,
                        },
                    }
                ],
                "usage": {
                    "prompt_tokens": tokens_in,
                    "completion_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                },
            }
        )

    async def _anthropic(self, request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != ANTHROPIC_KEY:
            return web.json_response(
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
                status=401,
            )
        body = await request.json()
        tokens_in, tokens_out = self.llm_usage
        answer = self.llm_answer
        tool_input = json.loads(answer) if isinstance(answer, str) else answer
        return web.json_response(
            {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_test",
                        "name": body["tools"][0]["name"],
                        "input": tool_input,
                    }
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
            }
        )

    async def _ollama(self, request: web.Request) -> web.Response:
        body = await request.json()
        tokens_in, tokens_out = self.llm_usage
        return web.json_response(
            {
                "model": body["model"],
                "created_at": "2024-03-11T00:00:00Z",
                "message": {"role": "assistant", "content": self._answer_text()},
                "done_reason": "stop",
                "done": True,
                "total_duration": 1000000,
                "prompt_eval_count": tokens_in,
                "eval_count": tokens_out,
            }
        )


def _classify(value: int) -> str:
    if value <= 25:
        return "Extreme Fear"
    if value <= 45:
        return "Fear"
    if value <= 55:
        return "Neutral"
    if value <= 75:
        return "Greed"
    return "Extreme Greed"
