"""GraphQL errors: expected refusals carry extensions.code, anything else is masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

from hushcut.core.errors import ServiceError

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


def classify(error: GraphQLError) -> GraphQLError:
    """The error a client may see for ``error``: coded if expected, masked if not."""
    original = error.original_error
    if original is None:
        if not (error.extensions or {}).get("code"):
            # Parse and validation errors: the client's query is wrong; say how.
            error.extensions = {**(error.extensions or {}), "code": VALIDATION_CODE}
        return error
    if isinstance(original, ServiceError):
        error.extensions = {**(error.extensions or {}), "code": original.code}
        return error
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), **(original.extensions or {})}
        return error
    if isinstance(original, ValueError) and "Int cannot represent" in str(original):
        error.extensions = {"code": "BAD_USER_INPUT"}
        return error
    logger.error(
        "unexpected error in GraphQL field %s",
        ".".join(str(part) for part in error.path or ()),
        exc_info=original,
    )
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": INTERNAL_CODE},
    )


class ErrorCodes(SchemaExtension):
    """Applies :func:`classify` to every result, subscriptions included."""

    count: Callable[[str], None] | None = None

    def _process(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if not errors:
            return
        processed = [classify(error) for error in errors]
        if self.count is not None:
            for error in processed:
                self.count(str((error.extensions or {}).get("code", INTERNAL_CODE)))
        result.errors = processed  # type: ignore[attr-defined]

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, (GraphQLExecutionResult, ExecutionResult)):
            self._process(result)
