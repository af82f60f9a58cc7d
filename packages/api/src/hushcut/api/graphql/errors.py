"""GraphQL errors: expected refusals carry extensions.code, anything else is masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

from graphql.error import GraphQLError
from graphql.language import VariableDefinitionNode

from hushcut.core.errors import BadUserInput, ServiceError

logger = logging.getLogger("hushcut.api.graphql")

MASKED_MESSAGE = "Unexpected error; it has been logged."
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"
VALIDATION_CODE = "GRAPHQL_VALIDATION_FAILED"


class ApiError(GraphQLError):
    """A refusal raised by the API layer itself (not a service), with its code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def as_graphql_error(exc: ServiceError) -> ApiError:
    return ApiError(exc.message, exc.code)


def classify(error: GraphQLError) -> None:
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
    logger.error(
        "unexpected error in GraphQL field %s",
        ".".join(str(part) for part in error.path or ()) or "(operation)",
        exc_info=original,
    )
    error.message = MASKED_MESSAGE
    error.original_error = None
    error.extensions = {"code": INTERNAL_CODE}


def process_errors(errors: list[GraphQLError], count: Callable[[str], None] | None) -> None:
    for error in errors:
        classify(error)
        if count is not None:
            count(str((error.extensions or {}).get("code", INTERNAL_CODE)))
