"""The web app at ``/`` and GraphiQL at ``GET /graphql``: the built assets in ``web_dist/``
(from packages/web), served from memory with cache headers, gzip and a Content-Security-Policy.

The build is checked into this package, so a server runs the app with no Node installed.
Hashed files under ``/assets/`` are cached for a year; pages are revalidated on every
visit (ETag), so a deploy is picked up at once. The app's page is the exception: it
carries a fresh style nonce per response (the waveform editor's library puts a
``<style>`` in its shadow root, which the policy admits by that nonce only), so it is
sent whole every time (it is under a kilobyte). Any other ``GET`` path that is not an API
route answers the app's page (``/invite/<token>``, ``/billing``...): the app routes it.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import secrets
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import urlsplit

from litestar import HttpMethod, Request, route
from litestar.handlers import BaseRouteHandler
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED, HTTP_404_NOT_FOUND

from hushcut.api.origins import origin_of
from hushcut.core.settings import Settings

AnyRequest = Request[Any, Any, Any]

APP_PAGE = "index.html"
GRAPHIQL_PAGE = "graphiql.html"
#: First path segments the app never routes: an unknown path there is a plain 404, not
#: the app's page.
SERVER_SEGMENTS = frozenset({"api", "auth", "storage", "webhooks", "assets", "graphql"})
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SHORT = "public, max-age=3600"
COMPRESSIBLE = ("text/", "application/json", "image/svg+xml")
#: HEAD answers the same headers as GET (the server leaves the body out).
READ = [HttpMethod.GET, HttpMethod.HEAD]
#: Below this, gzip's framing costs more than it saves.
MIN_GZIP_BYTES = 512
#: Where a page takes its per-response style nonce (``<meta name="style-nonce">``).
NONCE_SLOT = b"__HUSHCUT_STYLE_NONCE__"


@dataclass(frozen=True, slots=True)
class Asset:
    """One built file, ready to send."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str
    cache_control: str


def load_assets(root: Traversable) -> dict[str, Asset]:
    """Every file under ``root`` by its URL path (``/assets/index-1a2b.js``)."""
    found: dict[str, Asset] = {}

    def walk(directory: Traversable, prefix: str) -> None:
        for entry in directory.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.is_file():
                found[f"{prefix}{entry.name}"] = _asset(f"{prefix}{entry.name}", entry.read_bytes())

    if root.is_dir():
        walk(root, "/")
    return found


def _asset(path: str, body: bytes) -> Asset:
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    gzipped = None
    if media_type.startswith(COMPRESSIBLE) and len(body) >= MIN_GZIP_BYTES:
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    if path.startswith("/assets/"):
        cache = IMMUTABLE  # content-hashed names: a new build has new names
    elif path.endswith(".html"):
        cache = REVALIDATE
    else:
        cache = SHORT
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, gzipped, media_type, etag, cache)


def content_security_policy(settings: Settings, style_nonce: str | None = None) -> str:
    """Scripts, styles and fonts only from this origin; network and media also from the
    bucket that presigned upload and download URLs point to. ``style_nonce`` admits the
    inline styles carrying it (the page hands it to the waveform library)."""
    storage = _storage_origins(settings)
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'" + (f" 'nonce-{style_nonce}'" if style_nonce else ""),
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "media-src": f"'self' blob: {storage}",
        "connect-src": f"'self' {_websocket_origin(settings.app_url)} {storage}",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


def _storage_origins(settings: Settings) -> str:
    if not settings.s3_bucket:
        return ""  # local storage: URLs on this origin
    if settings.s3_endpoint_url:
        return origin_of(settings.s3_endpoint_url)  # path-style URLs (R2, MinIO...)
    return "https://*.amazonaws.com"  # AWS S3 picks virtual-host or path style


def _websocket_origin(app_url: str) -> str:
    # Browsers match ws:/wss: against 'self' too, but not all did; naming it costs nothing.
    parts = urlsplit(app_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}".lower()


class WebApp:
    """The built web app of ``settings``' deployment: its routes and its pages."""

    def __init__(self, settings: Settings, root: Traversable | None = None) -> None:
        self.assets = load_assets(root or resources.files("hushcut.api") / "web_dist")
        self.settings = settings
        self.security_headers = {
            "Content-Security-Policy": content_security_policy(settings),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
        }

    def respond(self, request: AnyRequest, path: str) -> Response[bytes]:
        """The asset at ``path``, gzipped if the client accepts it, or 304 if unchanged."""
        asset = self.assets.get(path)
        if asset is None:
            return _not_found()
        if NONCE_SLOT in asset.body:
            return self._with_nonce(asset)
        headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag}
        if asset.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
        if path.endswith(".html"):
            headers.update(self.security_headers)
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        body = asset.body
        if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = asset.gzipped, "gzip"
        return Response(body, status_code=HTTP_200_OK, media_type=asset.media_type, headers=headers)

    def _with_nonce(self, asset: Asset) -> Response[bytes]:
        """A page with a style nonce of its own: never the same twice, so never cached."""
        nonce = secrets.token_urlsafe(18)
        headers = {
            **self.security_headers,
            "Content-Security-Policy": content_security_policy(self.settings, style_nonce=nonce),
            "Cache-Control": "no-store",
        }
        body = asset.body.replace(NONCE_SLOT, nonce.encode())
        return Response(body, status_code=HTTP_200_OK, media_type=asset.media_type, headers=headers)

    def page(self, request: AnyRequest, name: str = APP_PAGE) -> Response[bytes]:
        if f"/{name}" not in self.assets:
            return Response(
                f"the web app is not built ({name} missing): run `npm run build` in "
                "packages/web".encode(),
                status_code=HTTP_404_NOT_FOUND,
                media_type="text/plain",
            )
        return self.respond(request, f"/{name}")

    def graphiql(self, request: AnyRequest) -> Response[bytes]:
        return self.page(request, GRAPHIQL_PAGE)

    def routes(self) -> list[BaseRouteHandler]:
        web = self

        @route("/assets/{path:path}", http_method=READ, include_in_schema=False)
        async def asset(request: AnyRequest, path: str) -> Response[bytes]:
            return web.respond(request, f"/assets/{path.lstrip('/')}")

        @route(["/", "/{path:path}"], http_method=READ, include_in_schema=False)
        async def app_page(request: AnyRequest, path: str | None = None) -> Response[bytes]:
            target = "/" + (path or "").lstrip("/")
            if target.split("/")[1] in SERVER_SEGMENTS:
                return _not_found()
            if target != "/" and target in web.assets and not target.endswith(".html"):
                return web.respond(request, target)  # favicon.svg, robots.txt
            return web.page(request)

        return [asset, app_page]


def _not_found() -> Response[bytes]:
    return Response(b"not found", status_code=HTTP_404_NOT_FOUND, media_type="text/plain")
