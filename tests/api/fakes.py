"""Local HTTP fakes for the third parties: an OIDC provider and the Stripe API.

Both speak the real wire format on a loopback port, so the production clients (authlib,
httpx, the stripe library) talk to them unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from joserfc import jwt
from joserfc.jwk import RSAKey

Handler = Callable[["_Request"], tuple[int, dict[str, str], bytes]]


class _Request:
    def __init__(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


class _HttpFake:
    """A threaded HTTP server dispatching to ``self.route(request)``."""

    def __init__(self) -> None:
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = _Request(
                    self.command,
                    parsed.path,
                    dict(urllib.parse.parse_qsl(parsed.query)),
                    self.headers,
                    self.rfile.read(length) if length else b"",
                )
                status, headers, body = fake.route(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, request: _Request) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


def _json(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(data).encode()


class FakeOidcProvider(_HttpFake):
    """An OpenID provider that signs in whoever ``next_identity`` names, without a login page.

    ``/authorize`` remembers the nonce and PKCE challenge and redirects straight back with a
    code; ``/token`` checks the client secret and code_verifier and returns an RS256 id_token.
    ``tamper`` lets a test make the provider misbehave (wrong audience, stale token, ...).
    """

    def __init__(self, client_id: str, client_secret: str, *, bare_issuer: bool = False) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = self.url
        # Google writes iss without the scheme in some tokens; tests flip this on.
        self.bare_issuer = bare_issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.next_identity: dict[str, Any] = {
            "sub": "google-sub-1",
            "email": "creator@example.com",
            "email_verified": True,
            "name": "Creator",
        }
        self.tamper: dict[str, Any] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        self.token_requests = 0

    def route(self, request: _Request) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/.well-known/openid-configuration":
            return _json(
                200,
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if request.path == "/jwks":
            return _json(200, {"keys": [self.key.as_dict(private=False)]})
        if request.path == "/authorize":
            q = request.query
            if q.get("client_id") != self.client_id or q.get("code_challenge_method") != "S256":
                return _json(400, {"error": "invalid_request"})
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                "nonce": q.get("nonce"),
                "challenge": q["code_challenge"],
                "redirect_uri": q["redirect_uri"],
                "identity": dict(self.next_identity),
            }
            target = (
                q["redirect_uri"]
                + "?"
                + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
            )
            return 302, {"location": target}, b""
        if request.path == "/token" and request.method == "POST":
            self.token_requests += 1
            return self._token(request)
        return _json(404, {"error": "not_found"})

    def _token(self, request: _Request) -> tuple[int, dict[str, str], bytes]:
        form = request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
            client_id = urllib.parse.unquote(client_id)
            client_secret = urllib.parse.unquote(client_secret)
        if client_id != self.client_id or client_secret != self.client_secret:
            return _json(401, {"error": "invalid_client"})
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return _json(400, {"error": "invalid_grant"})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return _json(400, {"error": "invalid_grant", "error_description": "PKCE"})
        now = int(time.time())
        issuer = self.issuer.removeprefix("http://") if self.bare_issuer else self.issuer
        claims = {
            "iss": issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 3600,
            "nonce": grant["nonce"],
            **grant["identity"],
            **self.tamper,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        return _json(
            200,
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
                "scope": "openid email profile",
            },
        )


class FakeStripe(_HttpFake):
    """The Stripe endpoints Hushcut calls: creating and reading Checkout sessions."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.sessions: dict[str, dict[str, Any]] = {}

    def route(self, request: _Request) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(
                401,
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
            )
        if request.path == "/v1/checkout/sessions" and request.method == "POST":
            return self._create_session(request.form())
        if request.path.startswith("/v1/checkout/sessions/") and request.method == "GET":
            session = self.sessions.get(request.path.rsplit("/", 1)[1])
            if session is None:
                return _json(
                    404,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "No such checkout session",
                        }
                    },
                )
            return _json(200, session)
        return _json(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL {request.path}",
                }
            },
        )

    def _create_session(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if form.get("line_items[0][price]") is None or form.get("mode") != "payment":
            return _json(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Missing required param: line_items.",
                    }
                },
            )
        session_id = "cs_test_" + secrets.token_hex(12)
        metadata = {
            key[len("metadata[") : -1]: value
            for key, value in form.items()
            if key.startswith("metadata[")
        }
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "line_items_price": form.get("line_items[0][price]"),
            "payment_intent": "pi_" + secrets.token_hex(12),
            "amount_total": 1000,
            "currency": "usd",
        }
        self.sessions[session_id] = session
        return _json(200, session)
