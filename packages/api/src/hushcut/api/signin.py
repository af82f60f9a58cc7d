"""Browser sign-in routes: Google (/auth/google/...), an API token (/auth/token), the
methods on offer (/auth/methods), /auth/logout and /auth/logout-everywhere."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import SerializationException
from litestar.params import Parameter
from litestar.response import Redirect, Response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.api.oidc import SignInError
from hushcut.api.origins import same_origin
from hushcut.api.sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    OAUTH_COOKIE,
    OAUTH_MAX_AGE_S,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    csrf_matches,
)
from hushcut.api.state import ApiState
from hushcut.core.errors import ServiceError
from hushcut.core.services import sessions as session_service
from hushcut.core.services import workspaces as workspace_service
from hushcut.core.services.auth import Actor
from hushcut.core.services.identities import sign_in_with_identity
from hushcut.core.services.tokens import verify_api_token

logger = logging.getLogger("hushcut.api.signin")

AnyRequest = Request[Any, Any, Any]


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after sign-in is a phishing tool.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@get("/auth/google/login", include_in_schema=False)
async def google_login(
    request: AnyRequest, next_path: str | None = Parameter(query="next", default=None)
) -> Response[object]:
    api: ApiState = request.app.state.api
    if api.oidc is None:
        return Response(
            {"error": "Google sign-in is not configured"}, status_code=HTTP_404_NOT_FOUND
        )
    url, pending = await api.oidc.authorization_url()
    pending["next"] = _safe_next(next_path)
    response: Response[object] = Redirect(url)
    response.set_cookie(
        OAUTH_COOKIE,
        api.signer.dump_oauth(pending),
        **api.signer.cookie_options(max_age=OAUTH_MAX_AGE_S),
    )
    return response


@get("/auth/google/callback", include_in_schema=False)
async def google_callback(
    request: AnyRequest,
    code: str | None = None,
    oauth_state: str | None = Parameter(query="state", default=None),
    error: str | None = None,
) -> Response[object]:
    api: ApiState = request.app.state.api
    if api.oidc is None:
        return Response(
            {"error": "Google sign-in is not configured"}, status_code=HTTP_404_NOT_FOUND
        )
    pending = api.signer.read_oauth(request.cookies.get(OAUTH_COOKIE))
    if error:
        return _refuse(f"sign-in was not completed: {error}")
    if pending is None:
        return _refuse("the sign-in attempt expired; start again")
    if not code or not oauth_state or oauth_state != pending.get("state"):
        return _refuse("the sign-in response does not match this browser's attempt")
    try:
        identity = await api.oidc.exchange(code, pending["verifier"], pending["nonce"])
    except SignInError as exc:
        logger.warning("sign-in refused: %s", exc)
        return _refuse(str(exc))
    async with api.runtime.sessionmaker() as session:
        try:
            user = await sign_in_with_identity(
                session,
                issuer=identity.issuer,
                subject=identity.subject,
                email=identity.email,
                email_verified=identity.email_verified,
                name=identity.name or "",
            )
            actor = Actor(user_id=user.id)
            if not await workspace_service.list_workspaces(session, actor):
                # First sign-in: a personal workspace with the starter credits.
                await workspace_service.create_workspace(
                    session,
                    actor,
                    f"{identity.name or identity.email.split('@')[0]}'s workspace",
                    starter_credits=api.settings.starter_credits,
                )
        except ServiceError as exc:
            logger.warning("sign-in refused: %s", exc)
            return _refuse(str(exc))
        response: Response[object] = Redirect(_safe_next(pending.get("next")))
        await start_browser_session(api, session, response, user.id)
    response.delete_cookie(OAUTH_COOKIE, path="/")
    return response


@get("/auth/methods", include_in_schema=False)
async def sign_in_methods(request: AnyRequest) -> dict[str, bool]:
    """How a person can sign in here (the sign-in page shows Google only when configured)."""
    api: ApiState = request.app.state.api
    return {"google": api.oidc is not None, "token": True}


@post("/auth/token", include_in_schema=False, status_code=200, request_max_body_size=4096)
async def token_sign_in(request: AnyRequest) -> Response[dict[str, str]]:
    """Trade an API token for a browser session: ``{"token": "hc_..."}`` in a JSON body.

    The session reaches what the token reaches (its workspace) and ends when the token is
    revoked or its user leaves that workspace; the page never keeps the token itself.
    Only JSON from the app's own origin is accepted: a cross-site form cannot sign a
    visitor into someone else's account.
    """
    api: ApiState = request.app.state.api
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, api.settings.app_url):
        return _error(HTTP_403_FORBIDDEN, "cross-origin sign-in refused")
    if not request.headers.get("content-type", "").startswith("application/json"):
        return _error(HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the token as JSON")
    try:
        body = await request.json()
    except SerializationException:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        return _error(HTTP_400_BAD_REQUEST, 'send {"token": "<your API token>"}')
    async with api.runtime.sessionmaker() as session:
        try:
            actor = await verify_api_token(session, token.strip())
        except ServiceError as exc:
            return _error(HTTP_401_UNAUTHORIZED, str(exc))
        response: Response[dict[str, str]] = Response({"status": "signed in"})
        await start_browser_session(
            api, session, response, actor.user_id, api_token_id=actor.token_id
        )
    return response


async def start_browser_session(
    api: ApiState,
    session: AsyncSession,
    response: Response[Any],
    user_id: str,
    *,
    api_token_id: str | None = None,
) -> None:
    """Sign ``user_id`` in on this browser: a session on the server, and its cookies on
    ``response`` (the session cookie, and the CSRF token the page's script reads).

    A session opened with an API token (``api_token_id``) reaches only that token's
    workspace and ends with the token.
    """
    token = await session_service.start_session(session, user_id, api_token_id=api_token_id)
    browser, cookie = api.signer.new_session(user_id, token)
    response.set_cookie(
        SESSION_COOKIE, cookie, **api.signer.cookie_options(max_age=SESSION_MAX_AGE_S)
    )
    # Readable by the page's script, which echoes it in X-CSRF-Token on mutations.
    response.set_cookie(
        CSRF_COOKIE,
        browser.csrf,
        **api.signer.cookie_options(http_only=False, max_age=SESSION_MAX_AGE_S),
    )


def _signed_out(body: dict[str, Any], status_code: int = 200) -> Response[dict[str, Any]]:
    response = Response(body, status_code=status_code)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@post("/auth/logout", include_in_schema=False, status_code=200)
async def logout(request: AnyRequest) -> Response[dict[str, Any]]:
    """Sign this browser out: its session ends on the server, so the cookie is dead even
    if a copy of it survives. Always succeeds (signing out twice is harmless)."""
    api: ApiState = request.app.state.api
    browser = api.signer.read_session(request.cookies.get(SESSION_COOKIE))
    if browser is not None:
        async with api.runtime.sessionmaker() as session:
            await session_service.end_session(session, browser.token)
    return _signed_out({"status": "signed out"})


@post("/auth/logout-everywhere", include_in_schema=False, status_code=200)
async def logout_everywhere(request: AnyRequest) -> Response[dict[str, Any]]:
    """End every session of the signed-in user (every browser and device), this one too.

    Needs a live session and its X-CSRF-Token header, as it changes more than this browser.
    """
    api: ApiState = request.app.state.api
    browser = api.signer.read_session(request.cookies.get(SESSION_COOKIE))
    if browser is None:
        return _signed_out({"error": "you are not signed in"}, HTTP_401_UNAUTHORIZED)
    if not csrf_matches(browser, request.headers.get(CSRF_HEADER)):
        return Response(
            {"error": "missing or wrong X-CSRF-Token header"}, status_code=HTTP_403_FORBIDDEN
        )
    async with api.runtime.sessionmaker() as session:
        try:
            actor = await session_service.verify_session(session, browser.token)
        except ServiceError as exc:
            return _signed_out({"error": str(exc)}, HTTP_401_UNAUTHORIZED)
        ended = await session_service.end_all_sessions(session, actor.user_id)
    logger.info("signed user %s out of %d sessions", actor.user_id, ended)
    return _signed_out({"status": "signed out everywhere", "sessions": ended})


def _refuse(message: str) -> Response[object]:
    return Response({"error": message}, status_code=HTTP_400_BAD_REQUEST)


def _error(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"error": message}, status_code=status)
