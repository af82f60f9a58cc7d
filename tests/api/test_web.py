"""The web app and GraphiQL served by the API: pages, assets, cache headers, CSP, fallback."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from hushcut.api.cli import welcome
from hushcut.api.web import content_security_policy
from hushcut.core.settings import Settings


async def test_the_app_page_is_served_with_a_strict_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="app">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    # Inline styles only with this response's nonce, which the page carries for the
    # waveform editor; a new one each time, so the page is never cached.
    nonce = re.search(r'<meta name="style-nonce" content="([\w-]{20,})"', page.text)
    assert nonce, page.text
    assert f"style-src 'self' 'nonce-{nonce.group(1)}';" in csp
    assert page.headers["cache-control"] == "no-store"
    again = await client.get("/")
    assert nonce.group(1) not in again.text
    assert nonce.group(1) not in again.headers["content-security-policy"]
    head = await client.head("/")
    assert head.status_code == 200
    assert head.content == b""


async def test_graphiql_is_revalidated_by_etag(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.headers["cache-control"] == "no-cache"
    again = await client.get(
        "/graphql", headers={"Accept": "text/html", "If-None-Match": page.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_hashed_assets_are_cached_for_good_and_gzipped(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    script = re.search(r'src="(/assets/index-[\w-]+\.js)"', page)
    assert script, page
    plain = await client.get(script.group(1), headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    raw = await client.get(script.group(1), headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding"
    assert raw.content == plain.content  # httpx decoded it
    assert int(raw.headers["content-length"]) < len(plain.content)
    missing = await client.get("/assets/index-nothere.js")
    assert missing.status_code == 404


async def test_client_routes_get_the_app_and_api_paths_do_not(client: httpx.AsyncClient) -> None:
    for path in ("/invite/abc123", "/billing/success?session_id=cs_1", "/tokens", "/no/such/page"):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert '<div id="app">' in answer.text, path
    for path in ("/api/nothing", "/auth/nothing", "/storage/", "/storage", "/webhooks/x"):
        answer = await client.get(path)
        assert answer.status_code in (404, 405), path
        assert '<div id="app">' not in answer.text, path
    assert (await client.get("/favicon.svg")).headers["content-type"].startswith("image/svg+xml")
    assert (await client.get("/api/health")).status_code == 200


async def test_graphiql_is_served_from_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "GraphiQL" in page.text
    assert "unpkg.com" not in page.text
    assert "https://" not in page.text
    assert "content-security-policy" in page.headers
    for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text):
        assert (await client.get(asset)).status_code == 200, asset
    # Programs still get GraphQL from the same path.
    answer = await client.post("/graphql", json={"query": "{ __typename }"})
    assert answer.json() == {"data": {"__typename": "Query"}}


def test_the_policy_allows_the_storage_bucket(tmp_path: Path) -> None:
    local = content_security_policy(Settings(data_dir=tmp_path, app_url="https://app.example.com"))
    assert "connect-src 'self' wss://app.example.com;" in local
    r2 = content_security_policy(
        Settings(
            data_dir=tmp_path,
            app_url="https://app.example.com",
            s3_bucket="videos",
            s3_endpoint_url="https://acct.r2.cloudflarestorage.com",
        )
    )
    assert "connect-src 'self' wss://app.example.com https://acct.r2.cloudflarestorage.com;" in r2
    assert "media-src 'self' blob: https://acct.r2.cloudflarestorage.com;" in r2


def test_hushcut_up_says_where_to_go_and_how_to_sign_in(tmp_path: Path) -> None:
    local = welcome(Settings(data_dir=tmp_path, app_url="http://127.0.0.1:8000"))
    assert local[0] == "Hushcut is running at http://127.0.0.1:8000  (Ctrl+C to stop)"
    assert "Open http://127.0.0.1:8000 in your browser" in local[1]
    assert f"hushcut token create --email you@example.com --data-dir {tmp_path}" in local[2]
    with_google = welcome(
        Settings(data_dir=tmp_path, app_url="https://app.example.com", google_client_id="id")
    )
    assert not any("token create" in line for line in with_google)


def test_the_initial_javascript_stays_within_its_budget() -> None:
    # A size, not a timing: the budget holds for every build (bench/web.py reports it).
    from bench.web import INITIAL_JS_BUDGET, initial_javascript

    sizes = initial_javascript()
    assert sizes, "index.html loads no script?"
    assert sum(sizes.values()) <= INITIAL_JS_BUDGET, sizes
