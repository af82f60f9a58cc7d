"""GraphQL errors: expected refusals carry extensions.code, anything else is masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

from graphql.error import GraphQLError
from graphql.language import VariableDefinitionNode
from strawberry.types import ExecutionContext

from hushcut.api.graphql.context import Context
from hushcut.core.errors import BadUserInput, ServiceError

logger = logging.getLogger("hushcut.api.graphql")

MASKED_MESSAGE = "Unexpected error; it has been logged."
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"
VALIDATION_CODE = "GRAPHQL_VALIDATION_FAILED"


def classify(error: GraphQLError, execution_context: ExecutionContext | None = None) -> None:
    """Make ``error`` fit for a client, in place: coded if expected, masked if not.

    In place, because Strawberry hands errors to ``process_errors`` from several paths
    (parse, validation, execution, each subscription result) but returns its own result.
    """
    original = error.original_error
    extensions = dict(error.extensions or {})
    if extensions.get("code"):
        return
    if any(isinstance(node, VariableDefinitionNode) for node in error.nodes or ()):
        # A variable the operation cannot use (missing, wrong type, out of range): the
        # caller's input, whatever the scalar raised while coercing it.
        error.extensions = {**extensions, "code": BadUserInput.code}
        error.original_error = None
        return
    if original is None:
        # Parse and validation errors: the client's query is wrong, and the message
        # says how.
        error.extensions = {**extensions, "code": VALIDATION_CODE}
        return
    if isinstance(original, ServiceError):
        error.extensions = {**extensions, "code": original.code}
        return
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        error.extensions = {**extensions, **(original.extensions or {})}
        return
    path = ".".join(str(part) for part in error.path or ()) or "(operation)"
    where = _operation_of(execution_context)
    logger.error(
        "unexpected error in GraphQL operation %s, field %s",
        where.get("graphql_operation") or "(unnamed)",
        path,
        exc_info=original,
        extra={"graphql_path": path, **where},
    )
    error.message = MASKED_MESSAGE
    error.original_error = None
    error.extensions = {"code": INTERNAL_CODE}


def process_errors(
    errors: list[GraphQLError],
    count: Callable[[str], None] | None,
    execution_context: ExecutionContext | None = None,
) -> None:
    for error in errors:
        classify(error, execution_context)
        if count is not None:
            count(str((error.extensions or {}).get("code", INTERNAL_CODE)))


def _operation_of(execution_context: ExecutionContext | None) -> dict[str, str | None]:
    """What the operator needs beside the traceback: which operation, and whose.

    Never the variables: they may hold what the caller wants kept secret.
    """
    if execution_context is None:
        return {}
    context = execution_context.context
    principal = context.principal if isinstance(context, Context) else None
    return {
        "graphql_operation": execution_context.operation_name,
        "user_id": principal.actor.user_id if principal is not None else None,
        "token_id": principal.actor.token_id if principal is not None else None,
    }
