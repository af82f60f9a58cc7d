"""Each query text parsed and validated once, within the query-shape limits, for every transport."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence

from graphql import ASTValidationRule, DocumentNode
from strawberry.extensions import SchemaExtension


class DocumentCache:
    """Documents that parsed and validated, by query text (least recently used go first).

    Programs send the same few query texts over and over; parsing and validating them
    costs more than resolving a small query. Only valid documents are kept, so queries
    that fail cannot fill the cache.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()

    def get(self, query: str) -> DocumentNode | None:
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
        return document

    def add(self, query: str, document: DocumentNode) -> None:
        self._documents[query] = document
        self._documents.move_to_end(query)
        while len(self._documents) > self.size:
            self._documents.popitem(last=False)

    def __len__(self) -> int:
        return len(self._documents)


class PreparedDocuments(SchemaExtension):
    """Serves a known query text from the cache, skipping parse and validation; checks
    a new one with the token limit and the extra validation rules, and caches it if valid.

    One instance per operation (Strawberry's rule), sharing one :class:`DocumentCache`.
    """

    def __init__(
        self,
        cache: DocumentCache,
        max_tokens: int,
        rules: Sequence[type[ASTValidationRule]],
    ) -> None:
        super().__init__()
        self.cache = cache
        self.max_tokens = max_tokens
        self.rules = tuple(rules)
        self.cached = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        document = self.cache.get(context.query) if context.query else None
        if document is not None:
            # Strawberry parses only when no document is set.
            context.graphql_document = document
            self.cached = True
        else:
            context.parse_options["max_tokens"] = self.max_tokens
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.cached:
            # Validated when it was cached; Strawberry validates only when no result is set.
            context.pre_execution_errors = []
            yield
            return
        context.validation_rules = (*context.validation_rules, *self.rules)
        yield
        valid = context.pre_execution_errors == []
        if valid and context.query and context.graphql_document is not None:
            self.cache.add(context.query, context.graphql_document)
