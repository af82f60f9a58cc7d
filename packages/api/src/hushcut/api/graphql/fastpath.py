"""POST /graphql without Strawberry's HTTP layer: cached documents, graphql-core execution.

Strawberry's HTTP view and extension runner cost more CPU than resolving a small query
does. Programs send the same few query texts over and over, so this path parses and
validates each text once (with the same limits the schema's extensions apply) and runs
the operation straight on the schema graphql-core holds. Resolvers, types, the context
and the error policy are the very same; GET (GraphiQL) and websockets stay Strawberry's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.pyutils import is_awaitable

from hushcut.api.graphql.context import Context
from hushcut.api.graphql.errors import VALIDATION_CODE, process_errors


class Prepared(msgspec.Struct, frozen=True):
    """A query text, parsed and validated once."""

    document: DocumentNode | None
    errors: list[GraphQLError]


class DocumentCache:
    """Parsed and validated documents by query text (LRU, bounded)."""

    def __init__(self, schema: GraphQLSchema, rules: list[Any], max_tokens: int, size: int) -> None:
        all_rules = [*specified_rules, *rules]

        @lru_cache(maxsize=size)
        def prepare(query: str) -> Prepared:
            try:
                document = parse(query, max_tokens=max_tokens)
            except GraphQLError as error:
                return Prepared(None, [error])
            return Prepared(document, validate(schema, document, all_rules))

        self.prepare = prepare


def _error_body(message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": VALIDATION_CODE}}]}


async def run_post(
    body: bytes,
    context: Context,
    schema: GraphQLSchema,
    documents: DocumentCache,
    count_error: Callable[[str], None] | None,
) -> tuple[int, bytes]:
    """Execute one POSTed GraphQL request; returns the status code and the JSON body."""
    try:
        request = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):  # not JSON, or nested beyond any use
        return 400, msgspec.json.encode(_error_body("the body is not JSON"))
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return 400, msgspec.json.encode(_error_body("the body must have a query string"))
    variables = request.get("variables") or {}
    operation_name = request.get("operationName")
    if not isinstance(variables, dict) or not isinstance(operation_name, str | None):
        return 400, msgspec.json.encode(
            _error_body("variables must be an object and operationName a string")
        )
    prepared = documents.prepare(request["query"])
    errors: list[GraphQLError] = list(prepared.errors)
    data: Any = None
    if prepared.document is not None and not errors:
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            errors.append(GraphQLError("name the operation to run (operationName)"))
        elif operation.operation is OperationType.SUBSCRIPTION:
            errors.append(
                GraphQLError("subscriptions run over the websocket (graphql-transport-ws)")
            )
        else:
            result = execute(
                schema,
                prepared.document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
            )
            if is_awaitable(result):
                result = await result
            data = result.data  # type: ignore[union-attr]
            errors = list(result.errors or ())  # type: ignore[union-attr]
    response: dict[str, Any] = {"data": data}
    if errors:
        # The cached validation errors are shared between requests: classify copies.
        fresh = [
            GraphQLError(
                error.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=error.original_error,
                extensions=error.extensions,
            )
            for error in errors
        ]
        process_errors(fresh, count_error)
        response["errors"] = [error.formatted for error in fresh]
    return 200, msgspec.json.encode(response)
