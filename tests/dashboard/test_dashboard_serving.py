"""How the API serves the built dashboard: the page, its hashed files, and a missing build."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sigmax.api.dashboard import DIST_DIR, dashboard_router

INDEX = "<!doctype html><title>SIGMAX</title><script src='/assets/index-abc123.js'></script>"


def _client(dist: Path) -> TestClient:
    app = FastAPI()
    app.include_router(dashboard_router(dist))
    return TestClient(app)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX, encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not an asset", encoding="utf-8")
    return tmp_path


def test_the_page_is_served_uncached_with_a_strict_content_policy(built: Path) -> None:
    response = _client(built).get("/")
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert _client(built).head("/").status_code == 200


def test_hashed_assets_are_cached_for_a_year(built: Path) -> None:
    response = _client(built).get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log(1)"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.headers["content-type"]


@pytest.mark.parametrize(
    "name", ["missing-1.js", "..%2Fsecret.txt", "..%2Findex.html", "secret.txt", "%2e%2e"]
)
def test_nothing_outside_the_assets_is_served(built: Path, name: str) -> None:
    response = _client(built).get(f"/assets/{name}")
    assert response.status_code == 404
    assert "not an asset" not in response.text


def test_a_missing_build_is_a_503_naming_make_dashboard(tmp_path: Path) -> None:
    client = _client(tmp_path / "nothing-here")
    as_json = client.get("/")
    assert as_json.status_code == 503
    error = as_json.json()["error"]
    assert error["rule"] == "dashboard_not_built"
    assert "make dashboard" in error["message"]
    as_html = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert as_html.status_code == 503
    assert as_html.headers["content-type"].startswith("text/html")
    assert "make dashboard" in as_html.text
    assert client.get("/assets/index-abc123.js").status_code == 503


def test_the_build_is_where_the_api_looks_for_it() -> None:
    # make dashboard (a dependency of make test) writes the page into the package.
    index = DIST_DIR / "index.html"
    assert index.is_file(), "run 'make dashboard' first"
    text = index.read_text(encoding="utf-8")
    assert "/assets/index-" in text
    assert "http://" not in text, "the page must load nothing remote"
    assert "https://" not in text, "the page must load nothing remote"
