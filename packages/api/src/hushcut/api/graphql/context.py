"""The GraphQL context: who is calling, one DB session, DataLoaders (memberships included)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Concatenate, ParamSpec, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext

from hushcut.api.auth import Principal
from hushcut.api.state import ApiState
from hushcut.core.errors import Forbidden, NotFound, ServiceError, Unauthenticated
from hushcut.core.models import ApiToken, Invitation, JobAnalysis, Membership, Payment, Role, User
from hushcut.core.services.auth import Actor, roles_by_workspace
from hushcut.core.services.invitations import invitations_by_workspace
from hushcut.core.services.jobs import KeptSegment, analyses_by_job, timelines_by_job
from hushcut.core.services.payments import payments_by_workspace
from hushcut.core.services.tokens import api_tokens_by_workspace
from hushcut.core.services.workspaces import members_by_workspace

P = ParamSpec("P")
T = TypeVar("T")
V = TypeVar("V")

#: A core batch read: what each of many workspaces (or jobs) holds, for those the actor
#: reaches (the others are left out of the answer).
BatchRead = Callable[[AsyncSession, Actor, Iterable[str]], Awaitable[Mapping[str, V]]]


class Context(BaseContext, kw_only=True):
    """Built for each HTTP request and each websocket connection.

    ``principal`` is None for anonymous callers; on websockets it is filled in once, by
    ``on_ws_connect``. Resolvers reach the database only through :meth:`call`, which
    serialises use of the one session: sibling fields resolve concurrently, and an
    AsyncSession must never be used by two coroutines at once. What is read for the
    caller (the DataLoaders, memberships included) lives for one operation:
    :meth:`begin_operation`.
    """

    api: ApiState
    principal: Principal | None = None
    #: A mutation arrived with cookie credentials but without the CSRF header.
    csrf_missing: bool = False
    #: The connection_init payload of a websocket (set by Strawberry).
    connection_params: dict[str, object] | None = None
    #: Credentials were sent but refused; raised when a field needs the caller.
    auth_error: ServiceError | None = None
    #: Websockets live long: each service call then gets a session of its own, so an
    #: idle connection holds no database connection.
    short_sessions: bool = False
    _session: AsyncSession | None = None
    _lock: asyncio.Lock | None = None
    _loaders: Loaders | None = None

    # --- the caller ------------------------------------------------------------------
    @property
    def actor(self) -> Actor:
        if self.principal is None:
            if self.auth_error is not None:
                raise self.auth_error
            raise Unauthenticated("sign in or send an API token (Authorization: Bearer)")
        return self.principal.actor

    def mutating_actor(self) -> Actor:
        """The actor, for a mutation: cookie callers must also have sent the CSRF token."""
        actor = self.actor
        if self.csrf_missing:
            raise Forbidden("missing or wrong X-CSRF-Token header for a cookie session")
        return actor

    async def role_in(self, workspace_id: str) -> Role:
        """The caller's role in a workspace they reach (NotFound otherwise)."""
        return await self.loaders.roles.load(workspace_id)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    def begin_operation(self) -> None:
        """Forget what was read for the previous operation on this context.

        An HTTP context serves one operation; a websocket's serves every operation the
        socket starts, and a membership changed meanwhile must show in the next one.
        """
        self._loaders = None

    # --- database --------------------------------------------------------------------
    async def call(
        self,
        service: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a core service with this request's session, one call at a time."""
        if self.short_sessions:
            async with self.api.runtime.sessionmaker() as session:
                return await service(session, *args, **kwargs)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._session is None:
                self._session = self.api.runtime.sessionmaker()
            return await service(self._session, *args, **kwargs)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class Loaders:
    """The DataLoaders of one operation, keyed by workspace id (or job id).

    However many workspaces a query names (``me { workspaces { members { ... } } }``),
    each loader reads them in one batch: one ``IN (...)`` query through a core service
    that also applies the membership rule. Never shared between callers.
    """

    def __init__(self, context: Context) -> None:
        #: The caller's own memberships: their role in each workspace.
        self.roles: DataLoader[str, Role] = _per_workspace(context, roles_by_workspace)
        self.members: DataLoader[str, list[tuple[Membership, User]]] = _per_workspace(
            context, members_by_workspace
        )
        self.payments: DataLoader[str, list[Payment]] = _per_workspace(
            context, payments_by_workspace
        )
        self.api_tokens: DataLoader[str, list[ApiToken]] = _per_workspace(
            context, api_tokens_by_workspace
        )
        #: Pending invitations, of workspaces the caller manages (resolvers check the role).
        self.invitations: DataLoader[str, list[Invitation]] = _per_workspace(
            context, invitations_by_workspace
        )
        #: By job id; a job without one (or out of reach) gets None.
        self.analyses: DataLoader[str, JobAnalysis | None] = _per_job(context, analyses_by_job)
        self.timelines: DataLoader[str, list[KeptSegment] | None] = _per_job(
            context, timelines_by_job
        )


def _per_workspace(context: Context, read: BatchRead[V]) -> DataLoader[str, V]:
    async def load(workspace_ids: list[str]) -> list[V | BaseException]:
        found = await context.call(read, context.actor, workspace_ids)
        # Another workspace's id and an unknown one look the same: nothing leaks.
        return [
            found[key] if key in found else NotFound("workspace not found") for key in workspace_ids
        ]

    return DataLoader(load_fn=load)


def _per_job(context: Context, read: BatchRead[V]) -> DataLoader[str, V | None]:
    async def load(job_ids: list[str]) -> list[V | BaseException | None]:
        found = await context.call(read, context.actor, job_ids)
        return [found.get(key) for key in job_ids]

    # Batched but not cached: a subscription's operation lives while the job changes,
    # and each of its results must show the job's analysis and timeline as they are now.
    return DataLoader(load_fn=load, cache=False)


#: What every resolver receives as ``info``.
Info = strawberry.Info[Context, None]
