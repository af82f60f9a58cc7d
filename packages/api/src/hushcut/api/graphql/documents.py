"""Each query text parsed and validated once, within the query-shape limits, for every transport."""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    Visitor,
    parse,
    validate,
    visit,
)
from strawberry.extensions import SchemaExtension

#: Documents longer than this (characters) are parsed and validated in a worker thread,
#: so that one large document cannot hold the event loop (and /api/health) for long.
OFFLOAD_CHARS = 4096
#: Fields, fragment spreads and inline fragments a document may select in all. Validating
#: repeated fields costs time quadratic in their number (800 take half a second).
MAX_SELECTIONS = 200

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


class DocumentCache:
    """Documents that parsed and validated, by query text (least recently used go first).

    Programs send the same few query texts over and over; parsing and validating them
    costs more than resolving a small query. Only valid documents are kept, so queries
    that fail cannot fill the cache; and the texts kept are bounded in number, in size
    each (``max_document_chars``) and in total (``max_chars``), because a parsed
    document takes about 200 bytes of memory per character of its text.
    """

    def __init__(
        self, size: int, *, max_document_chars: int = 16 * 1024, max_chars: int = 256 * 1024
    ) -> None:
        self.size = size
        self.max_document_chars = max_document_chars
        self.max_chars = max_chars
        self.chars = 0
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()

    def get(self, query: str) -> DocumentNode | None:
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
        return document

    def add(self, query: str, document: DocumentNode) -> None:
        if len(query) > self.max_document_chars or query in self._documents:
            return
        self._documents[query] = document
        self.chars += len(query)
        while len(self._documents) > self.size or self.chars > self.max_chars:
            dropped, _ = self._documents.popitem(last=False)
            self.chars -= len(dropped)

    def __len__(self) -> int:
        return len(self._documents)


class _SelectionCounter(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_field(self, node: FieldNode, *_: object) -> None:
        self.count += 1

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.count += 1

    def enter_inline_fragment(self, node: InlineFragmentNode, *_: object) -> None:
        self.count += 1


def too_many_selections(document: DocumentNode) -> GraphQLError | None:
    """The refusal of a document selecting more than MAX_SELECTIONS things, if it does."""
    counter = _SelectionCounter()
    visit(document, counter)
    if counter.count <= MAX_SELECTIONS:
        return None
    return GraphQLError(
        f"the document selects {counter.count} fields and fragments; at most "
        f"{MAX_SELECTIONS} are allowed"
    )


def check_document(
    types: GraphQLSchema, document: DocumentNode, rules: Sequence[type[ASTValidationRule]]
) -> list[GraphQLError]:
    """The document's errors: too many selections, or what the validation rules find."""
    refusal = too_many_selections(document)
    if refusal is not None:
        return [refusal]
    return validate(types, document, rules)


class PreparedDocuments(SchemaExtension):
    """Serves a known query text from the cache, skipping parse and validation; checks
    a new one with the token limit, the selection limit and the extra validation rules,
    and caches it if valid. Large new documents are parsed and validated in a thread.

    One instance per operation (Strawberry's rule), sharing one :class:`DocumentCache`.
    """

    def __init__(
        self,
        cache: DocumentCache,
        max_tokens: int,
        rules: Sequence[type[ASTValidationRule]],
        types: Callable[[], GraphQLSchema],
    ) -> None:
        super().__init__()
        self.cache = cache
        #: The schema's types, for validating in a thread (built from its SDL).
        self.types = types
        self.max_tokens = max_tokens
        self.rules = tuple(rules)
        self.cached = False
        #: The syntax error of a document parsed in a thread.
        self.refusal: GraphQLError | None = None

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        query = context.query
        document = self.cache.get(query) if query else None
        if document is not None:
            # Strawberry parses only when no document is set.
            context.graphql_document = document
            self.cached = True
        elif query and len(query) > OFFLOAD_CHARS:
            try:
                context.graphql_document = await asyncio.to_thread(
                    parse, query, max_tokens=self.max_tokens
                )
            except GraphQLError as error:
                # Reported at validation, as Strawberry reports its own parse errors;
                # until then the operation needs a document, so it gets a stand-in
                # (with the operation name asked for, if any) that is never run.
                self.refusal = error
                context.graphql_document = _stand_in(context.operation_name)
        else:
            context.parse_options["max_tokens"] = self.max_tokens
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if self.cached:
            # Validated when it was cached; Strawberry validates only when no result is set.
            context.pre_execution_errors = []
            yield
            return
        if self.refusal is not None:
            context.pre_execution_errors = [self.refusal]
            yield
            return
        document = context.graphql_document
        assert document is not None
        rules = (*context.validation_rules, *self.rules)
        if context.query and len(context.query) > OFFLOAD_CHARS:
            context.pre_execution_errors = await asyncio.to_thread(
                check_document, self.types(), document, rules
            )
        else:
            context.pre_execution_errors = check_document(self.types(), document, rules)
        yield
        valid = context.pre_execution_errors == []
        if valid and context.query and context.graphql_document is not None:
            self.cache.add(context.query, context.graphql_document)


def _stand_in(operation_name: str | None) -> DocumentNode:
    name = operation_name if operation_name and _NAME.match(operation_name) else ""
    return parse(f"query {name} {{ __typename }}")
