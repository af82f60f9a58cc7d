"""The API's request ids: each request logs under its caller's X-Request-ID (or a new one)."""

from __future__ import annotations

import uuid

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Logging itself is shared with the worker; re-exported for the API's callers.
from hushcut.core.logging_setup import configure_logging, request_id_var

__all__ = ["REQUEST_ID_HEADER", "configure_logging", "request_id_middleware", "request_id_var"]

REQUEST_ID_HEADER = "x-request-id"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Takes the caller's X-Request-ID (or makes one), logs under it and echoes it back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")[:64]
                break
        request_id = incoming or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

    return middleware
