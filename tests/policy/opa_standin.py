"""A local stand-in for an OPA server: OPA's Data API on 127.0.0.1, evaluated by rego-cpp.

``POST /v1/data/<path>`` with ``{"input": ...}`` answers ``{"result": <document>}`` for the
``sigmax/orders`` package of the given policy folder, or ``{}`` when the path is undefined, as
OPA does; a body that is not JSON gets OPA's 400 error object. ``mode`` makes it misbehave for
the failure tests.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from sigmax.safety.policy import PolicyEngine

Mode = Literal["normal", "error", "slow", "garbage", "undefined", "not_a_verdict"]


class OpaStandIn:
    def __init__(self, policy_dir: Path) -> None:
        self.engine = PolicyEngine.load(policy_dir)
        self.mode: Mode = "normal"
        self.requests = 0
        #: After this many requests every answer is an evaluation error (None: never).
        self.fail_after: int | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OpaStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            return 400, {
                "code": "invalid_parameter",
                "message": f"body contains malformed JSON: {error}",
            }
        if self.mode == "error" or (
            self.fail_after is not None and self.requests > self.fail_after
        ):
            return 500, {"code": "internal_error", "message": "evaluation failed"}
        if self.mode == "slow":
            time.sleep(1.0)
        if self.mode == "undefined" or path != "/v1/data/sigmax/orders":
            return 200, {}
        if self.mode == "not_a_verdict":
            return 200, {"result": {"allow": "yes"}}
        document = self.engine.evaluate_document(request.get("input", {}))
        return 200, ({} if document is None else {"result": document})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if standin.mode == "garbage":
                    self._send(200, b"<html>proxy error</html>", "text/html")
                    return
                status, answer = standin._answer(self.path, body)
                self._send(status, json.dumps(answer).encode(), "application/json")

            def _send(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests read the answers, not the access log."""

        return Handler
