"""Query, Mutation and Subscription of the Hushcut GraphQL API, and the schema built from them."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from hushcut.api import operations
from hushcut.api.graphql import catalog
from hushcut.api.graphql.context import Context
from hushcut.api.graphql.errors import process_errors
from hushcut.api.graphql.types import (
    ApiToken,
    CheckoutSession,
    CutOptionsInput,
    Job,
    NewApiToken,
    UploadTicket,
    User,
    Workspace,
)

logger = logging.getLogger("hushcut.api.graphql")

MAX_DEPTH = 8
MAX_TOKENS = 2000
MAX_ALIASES = 30
CACHE_SIZE = 1024

Info = strawberry.Info[Context, None]


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in person.")
    async def me(self, info: Info) -> User:
        return await operations.me(info.context)

    @strawberry.field(
        description="A workspace you belong to; null with NOT_FOUND if there is none such."
    )
    async def workspace(self, info: Info, id: strawberry.ID) -> Workspace | None:
        return await operations.workspace(info.context, str(id))

    @strawberry.field(
        description="A job of one of your workspaces; null with NOT_FOUND if there is none such."
    )
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        return await operations.job(info.context, str(id))

    @strawberry.field(description="The options a cut accepts here, plugins' included.")
    def cut_options(self, info: Info) -> list[catalog.CutOption]:
        return catalog.cut_options(info.context)

    @strawberry.field(description="Credit packs on sale; empty when billing is off.")
    def credit_packs(self, info: Info) -> list[catalog.CreditPack]:
        return catalog.credit_packs(info.context)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A new workspace that you own, with starter credits.")
    async def create_workspace(self, info: Info, name: str) -> Workspace:
        return await operations.create_workspace(info.context, name)

    @strawberry.mutation(
        description="Create a PENDING job and a presigned upload for its input. "
        "Send the bytes with exactly the returned method and headers, then confirmUpload."
    )
    async def request_upload(
        self,
        info: Info,
        workspace_id: strawberry.ID,
        filename: str,
        size_bytes: int,
        content_type: str,
        options: CutOptionsInput | None = None,
    ) -> UploadTicket:
        return await operations.request_upload(
            info.context, str(workspace_id), filename, size_bytes, content_type, options
        )

    @strawberry.mutation(
        description="Check the upload landed with the promised size, charge one credit and "
        "queue the job. A second call for the same job is a CONFLICT and charges nothing."
    )
    async def confirm_upload(self, info: Info, job_id: strawberry.ID) -> Job:
        return await operations.confirm_upload(info.context, str(job_id))

    @strawberry.mutation(description="Cancel a job that has not finished; its credit is refunded.")
    async def cancel_job(self, info: Info, job_id: strawberry.ID) -> Job:
        return await operations.cancel_job(info.context, str(job_id))

    @strawberry.mutation(description="Queue a FAILED or CANCELED job again (one more credit).")
    async def retry_job(self, info: Info, job_id: strawberry.ID) -> Job:
        return await operations.retry_job(info.context, str(job_id))

    @strawberry.mutation(description="A Stripe Checkout session for a credit pack (owners).")
    async def create_checkout_session(
        self, info: Info, workspace_id: strawberry.ID, pack: str | None = None
    ) -> CheckoutSession:
        return await operations.create_checkout_session(info.context, str(workspace_id), pack)

    @strawberry.mutation(description="A new API token for a workspace; the token is shown once.")
    async def create_api_token(
        self, info: Info, workspace_id: strawberry.ID, name: str
    ) -> NewApiToken:
        return await operations.create_api_token(info.context, str(workspace_id), name)

    @strawberry.mutation(description="Revoke an API token: yours, or any of it as owner/admin.")
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiToken:
        return await operations.revoke_api_token(info.context, str(id))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The job's current state at once, then every change; "
        "ends after a final state (COMPLETED, FAILED, CANCELED)."
    )
    async def job_updates(self, info: Info, job_id: strawberry.ID) -> AsyncGenerator[Job, None]:
        async for job in operations.job_updates(info.context, str(job_id)):
            yield job


class HushcutSchema(strawberry.Schema):
    """Strawberry's schema with Hushcut's error policy (see :mod:`.errors`)."""

    count_error: Callable[[str], None] | None = None
    #: The query-shape rules the schema validates with (shared with the POST fast path).
    shape_rules: list[Any] = []  # noqa: RUF012 - set per instance by build_schema

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        # Codes expected refusals, masks and logs the rest; refusals are not logged.
        process_errors(errors, self.count_error)


def validation_rules() -> list[Any]:
    """The query-shape limits, beyond the spec's rules.

    The limiters build a new rule class per instance, and the validation cache is keyed
    by the rule classes: built once per schema, every request hits the cache.
    """
    return [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]


def build_schema(count_error: Callable[[str], None] | None = None) -> HushcutSchema:
    """The schema with its protective and caching extensions.

    Parse and validation results are cached by query text, which removes most of
    GraphQL's per-request cost for the repeated queries programs send.
    """
    rules = validation_rules()
    schema = HushcutSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
        ],
    )
    schema.count_error = count_error
    schema.shape_rules = rules
    return schema
