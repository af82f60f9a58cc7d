"""The /graphql endpoint: Strawberry's Litestar controller with Hushcut's context and auth."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs

from graphql import GraphQLFormattedError
from litestar import MediaType, Request, Response, WebSocket, get, post
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException, ValidationException, WebSocketDisconnect
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Dependencies, Scope
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.litestar import make_graphql_controller
from strawberry.litestar.controller import LitestarWebSocketAdapter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types.unset import UnsetType

from hushcut.api.auth import authenticate, bearer_token, headers_of
from hushcut.api.graphql.context import Context
from hushcut.api.graphql.fastpath import run_post
from hushcut.api.graphql.schema import HushcutSchema
from hushcut.api.live import CREDENTIALS_ENDED
from hushcut.api.origins import same_origin
from hushcut.api.ratelimit import RATE_LIMITED_ERROR
from hushcut.api.sessions import CSRF_HEADER
from hushcut.api.state import ApiState
from hushcut.core.errors import BadUserInput, ServiceError, Unauthenticated
from hushcut.core.services.sessions import still_valid

logger = logging.getLogger("hushcut.api.graphql")

CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


def graphql_controller(
    schema: HushcutSchema,
    api_state: Callable[[], ApiState],
    max_bytes: int,
    graphiql: Callable[[Request[Any, Any, Any]], Response[bytes]],
) -> type[Any]:
    """A controller at /graphql whose context authenticates HTTP callers up front.

    ``graphiql`` answers ``GET /graphql`` from a browser (the local GraphiQL page;
    Strawberry's own loads its scripts from a CDN).

    The context getter takes the ASGI ``scope`` rather than a Request, because the same
    getter also serves the websocket route, where a Request cannot be built.
    ``max_bytes`` bounds a request's document and variables together, on every
    transport, before anything is parsed: 413 over HTTP, close code 1009 on a websocket.
    """

    async def get_context(scope: Scope) -> AsyncIterator[Context]:
        api = api_state()
        if scope["type"] == ScopeType.HTTP:
            context = await http_context(api, scope)
        else:
            context = Context(api=api, short_sessions=True)
        try:
            yield context
        finally:
            await context.close()

    base = make_graphql_controller(
        schema,
        path="/graphql",
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        keep_alive=False,
        max_subscriptions_per_connection=50,
    )
    too_large = _too_large_body(max_bytes)

    class HushcutGraphQLController(base):  # type: ignore[misc, valid-type]
        graphql_transport_ws_handler_class = GuardedTransportWSHandler
        websocket_adapter_class = GuardedWebSocketAdapter
        max_request_bytes = max_bytes

        def decode_json(self, data: str | bytes) -> object:
            # GET variables and websocket messages: JSON nested too deeply to parse is the
            # client's malformed input (400, or close 4400), not a server error.
            try:
                return json.loads(data)
            except RecursionError:
                raise json.JSONDecodeError("nested too deeply", "", 0) from None

        # Strawberry builds the sub-response in a worker thread (sync_to_thread); a
        # thread hop per request is a measurable share of a small query's cost.
        dependencies: ClassVar[Dependencies] = {
            **base.dependencies,
            "response": Provide(_sub_response),
        }

        @get(raises=[ValidationException, NotFoundException])
        async def handle_http_get(
            self,
            request: Request[Any, Any, Any],
            context: Any,
            root_value: Any,
            response: Response[Any],
        ) -> Response[Any]:
            if query_string_over_limit(request.scope["query_string"], max_bytes):
                return Response(too_large, status_code=413, media_type=MediaType.JSON)
            self.temporal_response = response
            result: Response[Any] = await self.execute_request(
                request=request, context=context, root_value=root_value
            )
            return result

        @post(status_code=200, request_max_body_size=max_bytes)
        async def handle_http_post(self, request: Request[Any, Any, Any]) -> Response[bytes]:
            content_type = request.headers.get("content-type", "")
            if not content_type.startswith("application/json"):
                return Response(
                    b'{"errors":[{"message":"send application/json"}]}',
                    status_code=415,
                    media_type=MediaType.JSON,
                )
            try:
                # Refused from Content-Length before reading, or as soon as more arrives.
                body = await request.body()
            except RequestEntityTooLarge:
                return Response(too_large, status_code=413, media_type=MediaType.JSON)
            context = await http_context(api_state(), request.scope)
            try:
                status, body = await run_post(body, context, schema)
            finally:
                await context.close()
            return Response(body, status_code=status, media_type=MediaType.JSON)

        async def render_graphql_ide(self, request: Request[Any, Any, Any]) -> Response[Any]:
            return graphiql(request)

        async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
            """Authenticate the socket from connection_init or the session cookie.

            The payload was checked by the handler (a malformed one never gets here).
            A cookie-authenticated socket may run mutations only if the payload carries
            the session's CSRF token, as a page's POST must carry it in a header.
            """
            params = ConnectionParams.parse(context.connection_params or {})
            socket = context.websocket
            headers = headers_of(socket.scope["headers"]) if socket is not None else {}
            api = context.api
            if (
                params.authorization is None
                and "cookie" in headers
                and not _same_origin(api, headers)
            ):
                # A cookie alone must not let another site's page open a socket as the
                # user (cross-site websocket hijacking): browsers do not block it.
                raise ConnectionRejectionError(
                    {"code": "FORBIDDEN", "message": "cross-origin websocket refused"}
                )
            try:
                if params.authorization is not None:
                    raw = params.authorization.strip()
                    token = bearer_token(raw) if " " in raw else raw
                    principal = await context.call(authenticate, api, {}, token=token)
                else:
                    if params.csrf_token is not None:
                        headers = {**headers, CSRF_HEADER: params.csrf_token}
                    principal = await context.call(authenticate, api, headers)
            except ServiceError as exc:
                raise ConnectionRejectionError({"code": exc.code, "message": str(exc)}) from None
            if principal is None:
                raise ConnectionRejectionError(
                    {
                        "code": "UNAUTHENTICATED",
                        "message": "send Authorization in the connection_init payload",
                    }
                )
            context.principal = principal
            context.csrf_missing = principal.via_cookie and not principal.csrf_ok
            return UnsetType()  # acknowledge without a payload

    return HushcutGraphQLController


@dataclass(frozen=True, slots=True)
class ConnectionParams:
    """What a socket's connection_init payload may say: its credentials.

    ``Authorization`` is an API token (``Bearer hc_...`` or the bare token); a socket
    authenticated by the session cookie may add ``X-CSRF-Token`` (the page's CSRF
    token) to run mutations. Other keys are ignored.
    """

    authorization: str | None = None
    csrf_token: str | None = None

    @classmethod
    def parse(cls, payload: Mapping[str, object]) -> ConnectionParams:
        """The params of ``payload``; ValueError (for people) if it is malformed."""
        return cls(
            authorization=_one_string(payload, "Authorization"),
            csrf_token=_one_string(payload, "X-CSRF-Token"),
        )


def _one_string(payload: Mapping[str, object], name: str) -> str | None:
    spellings = [key for key in payload if key.lower() == name.lower()]
    if len(spellings) > 1:
        raise ValueError(f"send {name} once in the connection_init payload")
    if not spellings:
        return None
    value = payload[spellings[0]]
    if not isinstance(value, str):
        raise ValueError(f"{name} in the connection_init payload must be a string")
    return value.strip() or None


class GuardedWebSocketAdapter(LitestarWebSocketAdapter):
    """Strawberry's Litestar websocket adapter, closing a socket once and bounding messages.

    After the socket is closed nothing more is read or sent: a message that crossed the
    close frame (a binary one, say) must not make the handler close it a second time,
    which the ASGI server reports as an error. A message over ``max_bytes`` closes the
    socket with 1009 (message too big) before it is parsed.
    """

    def __init__(
        self, view: Any, request: WebSocket[Any, Any, Any], response: WebSocket[Any, Any, Any]
    ) -> None:
        super().__init__(view, request, response)
        self.max_bytes: int = view.max_request_bytes
        self.closed = False

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while not self.closed and self.ws.connection_state != "disconnect":
                text = await self.ws.receive_text()
                if self.closed:
                    return
                if text == "":  # Litestar gives non-text messages as ""
                    raise NonTextMessageReceived
                if over_limit(text, self.max_bytes):
                    await self.close(1009, f"message over {self.max_bytes} bytes")
                    return
                try:
                    yield self.view.decode_json(text)
                except json.JSONDecodeError as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.closed:
            raise WebSocketDisconnected
        try:
            await super().send_json(message)
        except OSError as exc:  # the ASGI server's "client disconnected"
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        await super().close(code, reason)


def over_limit(text: str, max_bytes: int) -> bool:
    """Whether ``text`` takes more than ``max_bytes`` bytes in UTF-8 (without encoding it
    when its length alone decides)."""
    if len(text) > max_bytes:
        return True
    if len(text) * 4 <= max_bytes:
        return False
    return len(text.encode()) > max_bytes


class GuardedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws that checks each socket's connection_init payload, and every
    operation a socket starts: it counts against the rate limits of the socket's address
    and principal, as a request over HTTP would, and runs only while the credentials the
    socket opened with still hold (a token revoked, a session ended or a user deleted
    since then close the socket with 4403)."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})
        if isinstance(payload, dict):
            try:
                ConnectionParams.parse(payload)
            except ValueError as exc:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=4400, reason=str(exc))
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        socket = self.context.websocket
        principal = self.context.principal
        if self.connection_acknowledged and socket is not None:
            limits = self.context.api.limiter
            if not await limits.allow_websocket_operation(
                socket.scope, self.context.connection_params
            ):
                await self._refuse(message, RATE_LIMITED_ERROR)
                return
            if principal is not None and not await self.context.call(still_valid, principal.actor):
                await self._refuse(message, CREDENTIALS_ENDED_ERROR)
                await self.websocket.close(code=4403, reason="Forbidden")
                return
        await super().handle_subscribe(message)

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):
            return  # the client left while an operation was sending: nothing failed
        await super().handle_task_exception(error)

    async def _refuse(self, message: SubscribeMessage, error: GraphQLFormattedError) -> None:
        refusal: ErrorMessage = {"id": message["id"], "type": "error", "payload": [error]}
        await self.send_message(refusal)


CREDENTIALS_ENDED_ERROR: GraphQLFormattedError = {
    "message": CREDENTIALS_ENDED,
    "extensions": {"code": Unauthenticated.code},
}


async def http_context(api: ApiState, scope: Scope) -> Context:
    """The context of an HTTP request, with its caller authenticated up front."""
    context = Context(api=api)
    try:
        context.principal = await context.call(authenticate, api, headers_of(scope["headers"]))
    except ServiceError as exc:
        context.auth_error = exc
    principal = context.principal
    if principal is not None and principal.via_cookie and not principal.csrf_ok:
        context.csrf_missing = True
    return context


def _too_large_body(max_bytes: int) -> bytes:
    error = {
        "message": f"the request is larger than {max_bytes} bytes (query and variables "
        "together): send a smaller document",
        "extensions": {"code": BadUserInput.code},
    }
    return json.dumps({"data": None, "errors": [error]}).encode()


def query_string_over_limit(raw: bytes, max_bytes: int) -> bool:
    """Whether a GET's query, variables and operation name take more than ``max_bytes``
    once decoded (a percent-encoded byte takes at most three characters)."""
    if len(raw) <= max_bytes:
        return False
    if len(raw) > 3 * max_bytes:
        return True
    decoded = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
    return sum(len(value.encode()) for values in decoded.values() for value in values) > max_bytes


async def _sub_response() -> Response[Any]:
    return Response({}, background=BackgroundTasks([]))


def _same_origin(api: ApiState, headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        # Not a browser (browsers always send Origin on websockets).
        return True
    return same_origin(origin, api.settings.app_url)
