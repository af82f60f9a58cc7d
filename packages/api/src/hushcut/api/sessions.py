"""Browser sessions: signed HttpOnly SameSite cookies, a CSRF token, and the OAuth round trip."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
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
class SessionCookie:
    """What a valid session cookie says: who signed in, the token of their session on the
    server (which sign-out ends), and the CSRF token their page must echo in X-CSRF-Token.

    The signature proves the cookie was issued here; only the server-side session
    (:mod:`hushcut.core.services.sessions`) says it still counts.
    """

    user_id: str
    token: str
    csrf: str


class SessionSigner:
    """Signs and reads the session and OAuth-state cookies with the deployment's secret key."""

    def __init__(self, secret: bytes, *, secure: bool) -> None:
        self.secure = secure
        self._sessions = URLSafeTimedSerializer(secret, salt="hushcut.session")
        self._oauth = URLSafeTimedSerializer(secret, salt="hushcut.oauth")

    def new_session(self, user_id: str, token: str) -> tuple[SessionCookie, str]:
        """The cookie for the server-side session ``token`` of ``user_id``, and its value."""
        session = SessionCookie(user_id=user_id, token=token, csrf=secrets.token_urlsafe(24))
        return session, self._sessions.dumps({"u": user_id, "s": token, "c": session.csrf})

    def read_session(self, cookie: str | None) -> SessionCookie | None:
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        user_id, token = data.get("u"), data.get("s")
        if not isinstance(user_id, str) or not isinstance(token, str):
            return None  # signed before sessions lived on the server: sign in again
        return SessionCookie(user_id=user_id, token=token, csrf=str(data.get("c", "")))

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


def csrf_matches(session: SessionCookie, header_value: str | None) -> bool:
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


def headers_of(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a dict (lower-case names; the last value of a repeated header)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
