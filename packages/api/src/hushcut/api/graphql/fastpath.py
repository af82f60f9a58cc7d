"""POST /graphql without Strawberry's HTTP layer: msgspec JSON around ``Schema.execute``.

Strawberry's HTTP view (content negotiation, multipart, a sub-response built per request)
costs more CPU than resolving a small query does. A POST here is decoded into a typed
request, executed by the same public ``Schema.execute`` GET and websockets use (so the
limits, the document cache, the context and the error policy are the very same) and
encoded once. GET (GraphiQL) and websockets stay Strawberry's.
"""

from __future__ import annotations

from typing import Any

import msgspec
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from hushcut.api.graphql.context import Context
from hushcut.api.graphql.schema import HushcutSchema

#: Subscriptions run over the websocket only.
HTTP_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})


class GraphQLRequest(msgspec.Struct, frozen=True, rename="camel"):
    """The body of a POST (fields other than these, such as ``extensions``, are ignored)."""

    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None


_decode_request = msgspec.json.Decoder(GraphQLRequest).decode
_encode = msgspec.json.Encoder().encode


async def run_post(body: bytes, context: Context, schema: HushcutSchema) -> tuple[int, bytes]:
    """Execute one POSTed GraphQL request; returns the status code and the JSON body."""
    try:
        request = _decode_request(body)
    except msgspec.ValidationError as exc:
        return 400, _refusal(
            schema, f"the body must be {{query, variables?, operationName?}}: {exc}"
        )
    except (msgspec.DecodeError, RecursionError):  # not JSON, or nested beyond any use
        return 400, _refusal(schema, "the body is not JSON")
    try:
        result = await schema.execute(
            request.query,
            variable_values=request.variables,
            context_value=context,
            operation_name=request.operation_name,
            allowed_operation_types=HTTP_OPERATIONS,
        )
    except MissingQueryError:
        return 400, _refusal(schema, "the query is empty")
    except CannotGetOperationTypeError:
        return 200, _refusal(schema, "name the operation to run (operationName)")
    except InvalidOperationTypeError:
        return 200, _refusal(schema, "subscriptions run over the websocket (graphql-transport-ws)")
    response: dict[str, object] = {"data": result.data}
    if result.errors:
        # Already coded or masked by the schema's process_errors.
        response["errors"] = [error.formatted for error in result.errors]
    return 200, _encode(response)


def _refusal(schema: HushcutSchema, message: str) -> bytes:
    """The body refusing a request before execution, coded and counted like any other."""
    error = GraphQLError(message)
    schema.process_errors([error])
    return _encode({"data": None, "errors": [error.formatted]})
