"""The per-request GraphQL context: who is calling, their DB session and request-scoped loaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext

from hushcut.api.auth import Principal
from hushcut.api.graphql.errors import ApiError
from hushcut.api.state import ApiState
from hushcut.core.errors import Forbidden, NotFound, ServiceError, Unauthenticated
from hushcut.core.models import Membership, Role
from hushcut.core.services.auth import Actor, memberships_of

P = ParamSpec("P")
T = TypeVar("T")


class Context(BaseContext, kw_only=True):
    """Built for each HTTP request and each websocket connection.

    ``principal`` is None for anonymous callers; on websockets it is filled in once, by
    ``on_ws_connect``. Resolvers reach the database only through :meth:`call`, which
    serialises use of the one session: sibling fields resolve concurrently, and an
    AsyncSession must never be used by two coroutines at once.
    """

    api: ApiState
    principal: Principal | None = None
    #: A mutation arrived with cookie credentials but without the CSRF header.
    csrf_missing: bool = False
    connection_params: dict[str, Any] | None = None
    #: Credentials were sent but refused; raised when a field needs the caller.
    auth_error: ServiceError | None = None
    #: Websockets live long: each service call then gets a session of its own, so an
    #: idle connection holds no database connection.
    short_sessions: bool = False
    _session: AsyncSession | None = None
    _lock: asyncio.Lock | None = None
    _memberships: dict[str, Role] | None = None
    _loaders: dict[str, DataLoader[Any, Any]] | None = None

    # --- identity --------------------------------------------------------------------
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
            raise ApiError(
                "missing or wrong X-CSRF-Token header for a cookie session", Forbidden.code
            )
        return actor

    async def role_in(self, workspace_id: str) -> Role:
        """The caller's role in a workspace they reach (NotFound otherwise)."""
        if self._memberships is None:
            rows: list[Membership] = await self.call(memberships_of, self.actor)
            self._memberships = {row.workspace_id: row.role for row in rows}
        role = self._memberships.get(workspace_id)
        if role is None:
            raise NotFound("workspace not found")
        return role

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

    def loader(
        self, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> DataLoader[Any, Any]:
        """The request's DataLoader called ``name`` (created on first use, never shared)."""
        if self._loaders is None:
            self._loaders = {}
        found = self._loaders.get(name)
        if found is None:
            found = self._loaders[name] = DataLoader(load_fn=load)
        return found

    # --- storage ---------------------------------------------------------------------
    async def download_url(self, key: str) -> str:
        storage = self.api.runtime.storage
        ttl = self.api.settings.download_url_ttl_s
        return (await storage.presign_get(key, ttl, filename=key.rsplit("/", 1)[-1])).url
