"""Query, Mutation and Subscription of the Hushcut GraphQL API, and the schema built from them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing

import strawberry
from graphql import ASTValidationRule, GraphQLError, GraphQLSchema
from graphql import build_schema as build_graphql_schema
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from hushcut.api import operations
from hushcut.api.graphql import catalog
from hushcut.api.graphql.context import Context, Info
from hushcut.api.graphql.documents import DocumentCache, PreparedDocuments
from hushcut.api.graphql.errors import process_errors
from hushcut.api.graphql.fields import field, mutation, subscription
from hushcut.api.graphql.types import (
    LONG_SCALAR,
    ApiToken,
    CheckoutSession,
    CutOptionsInput,
    Invitation,
    Job,
    Long,
    Member,
    MultipartUpload,
    NewApiToken,
    SegmentInput,
    UploadPartRequest,
    UploadTicket,
    User,
    Workspace,
)
from hushcut.core.errors import NotFound
from hushcut.core.models import Role, VideoJob
from hushcut.core.services import invitations as invitation_service
from hushcut.core.services import jobs as job_service
from hushcut.core.services import tokens as token_service
from hushcut.core.services import workspaces as workspace_service

MAX_DEPTH = 8
MAX_TOKENS = 2000
MAX_ALIASES = 30
CACHE_SIZE = 1024


@strawberry.type
class Query:
    @field(description="The signed-in person.")
    async def me(self, info: Info) -> User:
        ctx = info.context
        return User.from_model(await ctx.call(workspace_service.get_user, ctx.actor.user_id))

    @field(description="A workspace you belong to; null with NOT_FOUND if there is none such.")
    async def workspace(self, info: Info, id: strawberry.ID) -> Workspace | None:
        ctx = info.context
        # Another workspace's id and an unknown id both answer NOT_FOUND: nothing leaks.
        return Workspace.from_model(await ctx.call(workspace_service.get_workspace, ctx.actor, id))

    @field(
        description="A job of one of your workspaces; null with NOT_FOUND if there is none such."
    )
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        ctx = info.context
        return Job.from_model(await ctx.call(job_service.get_job, ctx.actor, id))

    @field(
        description="The options a cut accepts here, plugins' included, as the workers offer them."
    )
    async def cut_options(self, info: Info) -> list[catalog.CutOption]:
        return await catalog.cut_options(info.context)

    @field(description="Credit packs on sale; empty when billing is off.")
    def credit_packs(self, info: Info) -> list[catalog.CreditPack]:
        return catalog.credit_packs(info.context)


@strawberry.type
class Mutation:
    @mutation(description="A new workspace that you own, with starter credits.")
    async def create_workspace(self, info: Info, name: str) -> Workspace:
        ctx = info.context
        row = await ctx.call(
            workspace_service.create_workspace,
            ctx.mutating_actor(),
            name,
            starter_credits=ctx.api.settings.starter_credits,
        )
        return Workspace.from_model(row)

    @mutation(
        description="Create a PENDING job and a presigned upload for its input. "
        "Send the bytes with exactly the returned method and headers, then confirmUpload."
    )
    async def request_upload(
        self,
        info: Info,
        workspace_id: strawberry.ID,
        filename: str,
        size_bytes: Long,
        content_type: str,
        options: CutOptionsInput | None = None,
    ) -> UploadTicket:
        new = new_job(workspace_id, filename, size_bytes, content_type, options)
        row, upload = await operations.request_upload(info.context, new)
        return UploadTicket.for_upload(row, upload)

    @mutation(
        description="Create a PENDING job whose input goes to storage in parts: for any "
        "file, and the only way above 5 GiB. Then signUploadParts, PUT each part, and "
        "confirmUpload. partSizeBytes (5 MiB to 5 GiB, default 64 MiB; larger when the "
        "file would need more than 10,000 parts) is the size of every part but the last."
    )
    async def start_multipart_upload(
        self,
        info: Info,
        workspace_id: strawberry.ID,
        filename: str,
        size_bytes: Long,
        content_type: str,
        options: CutOptionsInput | None = None,
        part_size_bytes: Long | None = None,
    ) -> MultipartUpload:
        new = new_job(workspace_id, filename, size_bytes, content_type, options)
        row = await operations.start_multipart_upload(info.context, new, part_size_bytes)
        return MultipartUpload.of(Job.from_model(row))

    @mutation(
        description="Presigned PUTs for parts of an upload in parts (at most 100 part "
        "numbers a call; ask again for a part to retry it alone, or when its URL expired)."
    )
    async def sign_upload_parts(
        self, info: Info, job_id: strawberry.ID, part_numbers: list[int]
    ) -> list[UploadPartRequest]:
        signed = await operations.sign_upload_parts(info.context, job_id, part_numbers)
        return [UploadPartRequest.of(number, length, request) for number, length, request in signed]

    @mutation(
        description="Give up an upload in parts: its parts are dropped and the job is "
        "CANCELED (it was never charged)."
    )
    async def abort_multipart_upload(self, info: Info, job_id: strawberry.ID) -> Job:
        return Job.from_model(await operations.abort_multipart_upload(info.context, job_id))

    @mutation(
        description="Check the upload landed with the promised size (assembling an upload "
        "in parts first), charge one credit and queue the job; the input can no longer be "
        "replaced. A second call for the same job is a CONFLICT and charges nothing. With "
        "review: true the worker only analyzes the input and the job waits in REVIEW for "
        "renderJob (which costs nothing more)."
    )
    async def confirm_upload(
        self, info: Info, job_id: strawberry.ID, review: bool | None = False
    ) -> Job:
        row = await operations.confirm_upload(info.context, job_id, bool(review))
        return Job.from_model(row)

    @mutation(
        description="Render a job in REVIEW (free) or re-edit a COMPLETED one (one credit) "
        "from its analysis, with no second detection: segments null renders the plan as "
        "analyzed, otherwise exactly the given segments (in order, not overlapping, inside "
        "the input, at most 10000). Options change the job's options field by field."
    )
    async def render_job(
        self,
        info: Info,
        job_id: strawberry.ID,
        segments: list[SegmentInput] | None = None,
        options: CutOptionsInput | None = None,
    ) -> Job:
        kept = None if segments is None else [segment.to_kept() for segment in segments]
        mapping = None if options is None else options.to_mapping()
        row = await operations.render_job(info.context, job_id, kept, mapping)
        return Job.from_model(row)

    @mutation(description="Cancel a job that has not finished; its credit is refunded.")
    async def cancel_job(self, info: Info, job_id: strawberry.ID) -> Job:
        return Job.from_model(await operations.cancel_job(info.context, job_id))

    @mutation(description="Queue a FAILED or CANCELED job again (one more credit).")
    async def retry_job(self, info: Info, job_id: strawberry.ID) -> Job:
        return Job.from_model(await operations.retry_job(info.context, job_id))

    @mutation(description="A Stripe Checkout session for a credit pack (owners).")
    async def create_checkout_session(
        self, info: Info, workspace_id: strawberry.ID, pack: str | None = None
    ) -> CheckoutSession:
        session_id, url = await operations.create_checkout_session(info.context, workspace_id, pack)
        return CheckoutSession(id=session_id, url=url)

    @mutation(description="A new API token for a workspace; the token is shown once.")
    async def create_api_token(
        self, info: Info, workspace_id: strawberry.ID, name: str
    ) -> NewApiToken:
        ctx = info.context
        row, plaintext = await ctx.call(
            token_service.create_api_token, ctx.mutating_actor(), workspace_id, name
        )
        return NewApiToken(api_token=ApiToken.from_model(row), token=plaintext)

    @mutation(description="Revoke an API token: yours, or any of it as owner/admin.")
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiToken:
        ctx = info.context
        try:
            row = await ctx.call(token_service.revoke_api_token, ctx.mutating_actor(), id)
        except NotFound:
            # Another workspace's token must look exactly like one that does not exist.
            raise NotFound("token not found") from None
        return ApiToken.from_model(row)

    # --- teams --------------------------------------------------------------------------
    @mutation(
        description="Invite someone to a workspace by email (owners and admins; only an owner "
        "can invite an owner). They get a link APP_URL/invite/<token> that works once, for "
        "INVITATION_TTL_HOURS, for a person signed in with that address. Inviting the same "
        "address again replaces the earlier link."
    )
    async def invite_member(
        self,
        info: Info,
        workspace_id: strawberry.ID,
        email: str,
        role: Role = Role.MEMBER,
    ) -> Invitation:
        row = await operations.invite_member(info.context, workspace_id, email, role)
        return Invitation.from_model(row)

    @mutation(description="Withdraw a pending invitation: its link stops working.")
    async def revoke_invitation(self, info: Info, id: strawberry.ID) -> Invitation:
        ctx = info.context
        row = await ctx.call(invitation_service.revoke_invitation, ctx.mutating_actor(), id)
        return Invitation.from_model(row)

    @mutation(
        description="Join the workspace an invitation's link names, with its role. Only a "
        "signed-in person (not an API token) whose email is the invited one can, once, "
        "before it expires; any other attempt is NOT_FOUND, whatever the reason."
    )
    async def accept_invitation(self, info: Info, token: str) -> Workspace:
        ctx = info.context
        row = await ctx.call(invitation_service.accept_invitation, ctx.mutating_actor(), token)
        return Workspace.from_model(row)

    @mutation(
        description="Give a member another role (owners and admins; only an owner makes an "
        "owner or changes an owner's role; a workspace always keeps an owner)."
    )
    async def change_member_role(
        self, info: Info, workspace_id: strawberry.ID, user_id: strawberry.ID, role: Role
    ) -> Member:
        membership, user = await operations.change_member_role(
            info.context, workspace_id, user_id, role
        )
        return Member.from_model(membership, user)

    @mutation(
        description="Remove another member (owners and admins; only an owner removes an "
        "owner). Their API tokens for the workspace are revoked."
    )
    async def remove_member(
        self, info: Info, workspace_id: strawberry.ID, user_id: strawberry.ID
    ) -> Workspace:
        return Workspace.from_model(
            await operations.remove_member(info.context, workspace_id, user_id)
        )

    @mutation(description="Leave a workspace (its last owner cannot: CONFLICT).")
    async def leave_workspace(self, info: Info, workspace_id: strawberry.ID) -> bool:
        ctx = info.context
        await ctx.call(workspace_service.leave_workspace, ctx.mutating_actor(), workspace_id)
        return True

    @mutation(description="Give a workspace a new name (owners and admins).")
    async def rename_workspace(self, info: Info, id: strawberry.ID, name: str) -> Workspace:
        ctx = info.context
        row = await ctx.call(workspace_service.rename_workspace, ctx.mutating_actor(), id, name)
        return Workspace.from_model(row)

    # --- deleting -----------------------------------------------------------------------
    @mutation(
        description="Delete a finished job (COMPLETED, FAILED or CANCELED): its input, output "
        "and derived files are deleted from storage at once and it leaves every listing; the "
        "credit ledger keeps its entries. Its creator, an owner or an admin may. Returns its id."
    )
    async def delete_job(self, info: Info, job_id: strawberry.ID) -> strawberry.ID:
        await operations.delete_job(info.context, job_id)
        return job_id

    @mutation(
        description="Delete a workspace (owners), typing its exact name in confirmName: "
        "unfinished jobs are canceled, every file deleted, members removed. Its remaining "
        "credits are forfeited, not refunded (Workspace.deletionPreview shows them first). "
        "Returns its id."
    )
    async def delete_workspace(
        self, info: Info, id: strawberry.ID, confirm_name: str
    ) -> strawberry.ID:
        await operations.delete_workspace(info.context, id, confirm_name)
        return id

    @mutation(
        description="Delete your account (signed-in browsers), typing its email address in "
        "confirmEmail: you leave shared workspaces, and those where you are the only member "
        "are deleted. Refused (CONFLICT) while you are the last owner of a shared workspace; "
        "User.accountDeletion shows what would happen. Returns your user id."
    )
    async def delete_account(self, info: Info, confirm_email: str) -> strawberry.ID:
        return strawberry.ID(await operations.delete_account(info.context, confirm_email))


def new_job(
    workspace_id: str,
    filename: str,
    size_bytes: int,
    content_type: str,
    options: CutOptionsInput | None,
) -> operations.NewJob:
    mapping = options.to_mapping() if options is not None else {}
    return operations.NewJob(workspace_id, filename, size_bytes, content_type, mapping)


@strawberry.type
class Subscription:
    @subscription(
        description="The job's current state at once, then every change (REVIEW "
        "included); ends after a final state (COMPLETED, FAILED, CANCELED)."
    )
    async def job_updates(self, info: Info, job_id: strawberry.ID) -> AsyncGenerator[Job, None]:
        current: Job | None = None
        # aclosing: a client that goes away closes the stream here and now, which runs
        # its teardown (the event-bus subscription) without waiting for the collector.
        async with aclosing(operations.job_updates(info.context, job_id)) as states:
            async for state in states:
                if isinstance(state, VideoJob):
                    current = Job.from_model(state)
                else:
                    assert current is not None, "the stream starts with the job itself"
                    current = current.updated_by(state)
                yield current


class OperationScope(SchemaExtension):
    """Each operation starts with nothing cached from the previous one.

    A websocket's context serves every operation the socket starts; what was read for
    the caller (memberships, DataLoaders) must not outlive the operation.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.begin_operation()
        yield


class HushcutSchema(strawberry.Schema):
    """Strawberry's schema with Hushcut's error policy (see :mod:`.errors`)."""

    count_error: Callable[[str], None] | None = None
    #: The parsed documents kept for reuse (see :class:`DocumentCache`).
    documents: DocumentCache | None = None

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Codes expected refusals, masks and logs the rest; refusals are not logged.
        process_errors(errors, self.count_error, execution_context)


def validation_rules() -> list[type[ASTValidationRule]]:
    """The query-shape limits, beyond the spec's rules.

    The limiters build a new rule class per instance: built once per schema.
    """
    return [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]


def build_schema(count_error: Callable[[str], None] | None = None) -> HushcutSchema:
    """The schema, with its query-shape limits and its cache of valid documents.

    Every transport (POST, GET, websocket) executes through it, so the limits, the
    cache and the error policy are the same everywhere.
    """
    documents = DocumentCache(CACHE_SIZE)
    rules = validation_rules()
    types: list[GraphQLSchema] = []

    def schema_types() -> GraphQLSchema:
        # Validation needs the types only: built once from the schema's own SDL, so
        # that documents can be validated in a thread without Strawberry's internals.
        if not types:
            types.append(build_graphql_schema(str(schema)))
        return types[0]

    def prepared_documents() -> SchemaExtension:
        return PreparedDocuments(documents, MAX_TOKENS, rules, schema_types)

    schema = HushcutSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True, scalar_map={Long: LONG_SCALAR}),
        extensions=[prepared_documents, OperationScope],
    )
    schema.count_error = count_error
    schema.documents = documents
    return schema
