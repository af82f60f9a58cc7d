"""Who is calling: an API token (Authorization: Bearer) or a signed browser-session cookie."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.api.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_matches,
    headers_of,
    parse_cookies,
)
from hushcut.api.state import ApiState
from hushcut.core.errors import Unauthenticated
from hushcut.core.services.auth import Actor
from hushcut.core.services.sessions import verify_session
from hushcut.core.services.tokens import verify_api_token


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``via_cookie`` callers need the CSRF header to mutate."""

    actor: Actor
    via_cookie: bool
    csrf_ok: bool


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        # A malformed header is a failed login, not an anonymous request.
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return value.strip()


async def authenticate(
    session: AsyncSession,
    api: ApiState,
    headers: Mapping[str, str],
    *,
    token: str | None = None,
) -> Principal | None:
    """The caller named by ``token``, the Authorization header or the session cookie.

    Returns None when no credentials were sent at all; raises Unauthenticated when
    credentials were sent but are not valid (revoked token, ended session).
    """
    token = token or bearer_token(headers.get("authorization"))
    if token is not None:
        actor = await verify_api_token(session, token)
        return Principal(actor=actor, via_cookie=False, csrf_ok=True)
    cookie = parse_cookies(headers.get("cookie")).get(SESSION_COOKIE)
    browser = api.signer.read_session(cookie)
    if browser is None:
        return None
    # Signed sign-outs, expiry and deleted users all end the session on the server.
    actor = await verify_session(session, browser.token)
    if actor.user_id != browser.user_id:
        raise Unauthenticated("your session has ended: sign in again")
    return Principal(
        actor=actor,
        via_cookie=True,
        csrf_ok=csrf_matches(browser, headers.get(CSRF_HEADER)),
    )


__all__ = ["Principal", "authenticate", "bearer_token", "headers_of"]
