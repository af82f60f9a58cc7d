"""Browser sessions: signed HttpOnly SameSite cookies, a CSRF token, and the OAuth round trip."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "hushcut_session"
CSRF_COOKIE = "hushcut_csrf"
CSRF_HEADER = "x-csrf-token"
OAUTH_COOKIE = "hushcut_oauth"
SESSION_MAX_AGE_S = 30 * 24 * 3600
OAUTH_MAX_AGE_S = 600


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """Who is signed in, and the CSRF token their page must echo in X-CSRF-Token.

    A session opened with an API token (``POST /auth/token``) carries that token's id: it
    reaches only the token's workspace and ends when the token is revoked.
    """

    user_id: str
    csrf: str
    token_id: str | None = None


class SessionSigner:
    """Signs and reads the session and OAuth-state cookies with the deployment's secret key."""

    def __init__(self, secret: bytes, *, secure: bool) -> None:
        self.secure = secure
        self._sessions = URLSafeTimedSerializer(secret, salt="hushcut.session")
        self._oauth = URLSafeTimedSerializer(secret, salt="hushcut.oauth")

    def new_session(
        self, user_id: str, *, token_id: str | None = None
    ) -> tuple[BrowserSession, str]:
        session = BrowserSession(user_id=user_id, csrf=secrets.token_urlsafe(24), token_id=token_id)
        data = {"u": user_id, "c": session.csrf}
        if token_id is not None:
            data["t"] = token_id
        return session, self._sessions.dumps(data)

    def read_session(self, cookie: str | None) -> BrowserSession | None:
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        token_id = data.get("t")
        return BrowserSession(
            user_id=data["u"],
            csrf=str(data.get("c", "")),
            token_id=token_id if isinstance(token_id, str) else None,
        )

    def dump_oauth(self, data: dict[str, Any]) -> str:
        return self._oauth.dumps(data)

    def read_oauth(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            data = self._oauth.loads(cookie, max_age=OAUTH_MAX_AGE_S)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def cookie_options(self, *, http_only: bool = True, max_age: int) -> dict[str, Any]:
        return {
            "httponly": http_only,
            "secure": self.secure,
            "samesite": "lax",
            "path": "/",
            "max_age": max_age,
        }


def csrf_matches(session: BrowserSession, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(session.csrf, header_value or "")


def parse_cookies(raw: str | None) -> dict[str, str]:
    """Cookie header parsing without building a Request (used on the hot path and on sockets)."""
    cookies: dict[str, str] = {}
    if not raw:
        return cookies
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            cookies[name] = value.strip('"')
    return cookies
