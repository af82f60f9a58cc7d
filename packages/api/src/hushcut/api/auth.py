"""Who is calling: an API token (Authorization: Bearer) or a signed browser-session cookie."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.api.sessions import CSRF_HEADER, SESSION_COOKIE, csrf_matches, parse_cookies
from hushcut.api.state import ApiState
from hushcut.core.errors import NotFound, Unauthenticated
from hushcut.core.services.auth import Actor
from hushcut.core.services.tokens import verify_api_token, verify_api_token_id
from hushcut.core.services.workspaces import get_user


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
    credentials were sent but are not valid (revoked token, unknown user).
    """
    token = token or bearer_token(headers.get("authorization"))
    if token is not None:
        actor = await verify_api_token(session, token)
        return Principal(actor=actor, via_cookie=False, csrf_ok=True)
    cookie = parse_cookies(headers.get("cookie")).get(SESSION_COOKIE)
    browser = api.signer.read_session(cookie)
    if browser is None:
        return None
    if browser.token_id is not None:
        # Opened with an API token: as far as the token reaches, and no longer.
        actor = await verify_api_token_id(session, browser.token_id, browser.user_id)
    else:
        try:
            await get_user(session, browser.user_id)
        except NotFound:
            # The user was deleted after the cookie was signed.
            raise Unauthenticated("your session has ended: sign in again") from None
        actor = Actor(user_id=browser.user_id)
    return Principal(
        actor=actor,
        via_cookie=True,
        csrf_ok=csrf_matches(browser, headers.get(CSRF_HEADER)),
    )


def headers_of(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a dict (lower-case names; the last value of a repeated header)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
