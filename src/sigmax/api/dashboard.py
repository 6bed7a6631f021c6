"""The web dashboard: the built page (``web/``, built by ``make dashboard``) served at ``/``.

``index.html`` is served without caching, so a rebuilt page is picked up at the next load; the
files under ``/assets/`` carry a hash of their content in their name and are cached for a year.
The page itself holds no data and no secret, so it is served to anyone who can reach the API:
what it shows comes from the API's routes, behind their own access rules.

When the build is missing the routes answer 503 with a message naming ``make dashboard``
(HTML for a browser, SIGMAX's JSON error body otherwise) rather than some other page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

#: Where ``npm run build`` (``web/vite.config.ts``) writes the page, inside the package.
DIST_DIR: Final = Path(__file__).with_name("dashboard_dist")
#: Hashed asset names: the content decides the name, so they never change under a client.
_ASSET_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]+\.(js|css|svg|png|woff2)$")
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
#: The page loads only its own files and talks only to this API (and its WebSocket).
_CSP: Final = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
_NOT_BUILT: Final = (
    "The SIGMAX dashboard is not built: run 'make dashboard' (it needs Node.js 20.19 or later "
    "and npm) in the SIGMAX source tree, then reload. The API itself works: see /api/status."
)


def _not_built(request: Request, dist: Path) -> Response:
    message = f"{_NOT_BUILT} (looked in {dist})"
    if "text/html" in request.headers.get("accept", ""):
        body = (
            "<!doctype html><html lang='en'><meta charset='utf-8'>"
            "<title>SIGMAX: dashboard not built</title>"
            "<h1>The dashboard is not built</h1>"
            "<p>Run <code>make dashboard</code> (Node.js 20.19+ and npm), then reload.</p>"
            "<p>The API works without it: <a href='/api/status'>/api/status</a>.</p>"
        )
        return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
    error = {"field": None, "rule": "dashboard_not_built", "message": message}
    return JSONResponse({"error": error}, status_code=503, headers={"Cache-Control": "no-store"})


def dashboard_router(dist: Path = DIST_DIR) -> APIRouter:
    """``/`` (the page) and ``/assets/{name}`` (its hashed files) from ``dist``."""
    router = APIRouter(include_in_schema=False)
    index = dist / "index.html"
    assets = dist / "assets"

    @router.api_route("/", methods=["GET", "HEAD"])
    def page(request: Request) -> Response:
        if not index.is_file():
            return _not_built(request, dist)
        return FileResponse(
            index,
            media_type="text/html",
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": _CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @router.api_route("/assets/{name}", methods=["GET", "HEAD"])
    def asset(name: str, request: Request) -> Response:
        if not index.is_file():
            return _not_built(request, dist)
        path = assets / name
        # The name is checked before the disk is: no path ever leaves the assets folder.
        if _ASSET_NAME.fullmatch(name) is None or not path.is_file():
            error = {"field": "name", "rule": "not_found", "message": f"no asset {name!r}"}
            return JSONResponse({"error": error}, status_code=404)
        return FileResponse(
            path, headers={"Cache-Control": _IMMUTABLE, "X-Content-Type-Options": "nosniff"}
        )

    return router
