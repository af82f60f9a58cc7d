"""API test fixtures: real `hushcut up`/`hushcut api` processes on free ports, the local
fakes of Google (OIDC) and Stripe, and small GraphQL helpers over httpx.

One platform (server + database + storage) is shared by the whole session; each test
makes its own users and workspaces, so tests stay independent without restarting it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from hushcut.core.runtime import Runtime
from hushcut.core.settings import Settings
from tests.api.fakes import FakeOidcProvider, FakeStripe
from tests.platform import balance, make_settings, new_member, runtime, settings_env

__all__ = ["balance", "runtime"]
from tests.servers import free_port

GOOGLE_CLIENT_ID = "hushcut-test-client.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "google-test-secret"
STRIPE_KEY = "sk_test_hushcut"
STRIPE_WEBHOOK_SECRET = "whsec_test_hushcut"
PACKS = {"small": {"price_id": "price_small", "credits": 10}}
MAX_UPLOAD_BYTES = 8 * 1024**3  # above 2 GiB (Int) and 5 GiB (one PUT), below the default
HUSHCUT = Path(sys.executable).with_name("hushcut")


@dataclass
class ApiServer:
    """A `hushcut` server subprocess; ``output`` collects its stdout and stderr."""

    settings: Settings
    command: str = "up"
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return self.settings.app_url

    def start(self, timeout: float = 60.0) -> ApiServer:
        env = {**os.environ, **settings_env(self.settings), **self.extra_env}
        env.pop("HUSHCUT_TEST_BACKEND", None)
        # Installed third-party plugins are not what these tests are about.
        env.setdefault("HUSHCUT_DISABLE_PLUGIN_AUTOLOAD", "1")
        handle, name = tempfile.mkstemp(prefix="hushcut-api-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        log = self.log_path.open("wb")
        argv = [
            str(HUSHCUT),
            self.command,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.settings.port),
        ]
        if self.command == "api":
            argv.append("--migrate")
        self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not answer within {timeout}s:\n{self.output}")
            time.sleep(0.1)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


@dataclass
class Fakes:
    oidc: FakeOidcProvider
    stripe: FakeStripe


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    oidc = FakeOidcProvider(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET).start()
    stripe = FakeStripe(STRIPE_KEY).start()
    yield Fakes(oidc=oidc, stripe=stripe)
    oidc.stop()
    stripe.stop()


def platform_settings(
    tmp: Path, backend: str, request: pytest.FixtureRequest, fakes: Fakes, **overrides: Any
) -> Settings:
    services = request.getfixturevalue("services") if backend == "services" else None
    port = free_port()
    values: dict[str, Any] = {
        "app_url": f"http://127.0.0.1:{port}",
        "host": "127.0.0.1",
        "port": port,
        "google_client_id": GOOGLE_CLIENT_ID,
        "google_client_secret": GOOGLE_CLIENT_SECRET,
        "oidc_issuer": fakes.oidc.issuer,
        "stripe_secret_key": STRIPE_KEY,
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
        "stripe_api_base": fakes.stripe.url,
        "credit_packs": PACKS,
        "starter_credits": 3,
        "max_upload_bytes": MAX_UPLOAD_BYTES,
        "rate_limit_per_minute": 1_000_000,
        "log_level": "WARNING",
        "log_json": True,
        "worker_concurrency": 2,
        # The sweeps run often, so a test sees them act within seconds; they touch only
        # data past its retention, which no test makes by accident.
        "sweep_interval_s": 2,
    }
    values.update(overrides)
    return make_settings(tmp, backend, services, **values)


def with_own_redis_database(settings: Settings, database: int) -> Settings:
    """``settings`` using an emptied Redis database of their own, when they use Redis.

    Rate-limit counters live in Redis, shared by every server using it: a database of its
    own keeps the other test servers' traffic out of a server that tests its limits. The
    worker tests use 1 and 2; each module that needs this takes another number.
    """
    if not settings.redis_url:
        return settings
    url = settings.redis_url.rsplit("/", 1)[0] + f"/{database}"
    redis.Redis.from_url(url).flushdb()
    return settings.model_copy(update={"redis_url": url})


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    request: pytest.FixtureRequest,
    fakes: Fakes,
) -> Iterator[ApiServer]:
    """`hushcut up` (API plus embedded worker) for the whole session."""
    settings = platform_settings(tmp_path_factory.mktemp("platform"), backend, request, fakes)
    started = ApiServer(settings, "up").start()
    yield started
    started.stop()


@pytest.fixture
def settings(server: ApiServer) -> Settings:
    """The session server's settings: ``runtime`` is then the test's own connection to
    the server's database, storage and event bus."""
    return server.settings


# --- accounts and GraphQL helpers ---------------------------------------------------------


@dataclass
class Account:
    """A user owning a workspace, with an API token for it."""

    user_id: str
    email: str
    workspace_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_account(runtime: Runtime, *, credits: int | None = None) -> Account:
    from hushcut.core.services import tokens

    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    actor, workspace_id = await new_member(runtime, email, credits=credits)
    async with runtime.session() as session:
        token, plaintext = await tokens.create_api_token(session, actor, workspace_id, "tests")
    return Account(actor.user_id, email, workspace_id, plaintext, token.id)


async def new_job(client: httpx.AsyncClient, account: Account, name: str = "job.mp4") -> str:
    """A PENDING job of the account's workspace (its upload never sent); its id."""
    from tests.api.test_flow import REQUEST_UPLOAD

    created = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": name, "size": 10, "type": "video/mp4"},
        account.headers,
    )
    return str(created["data"]["requestUpload"]["job"]["id"])


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code in (200, 400, 429), response.text
    result: dict[str, Any] = response.json()
    return result


def error_codes(result: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in result.get("errors") or []]


@pytest.fixture
async def client(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when == "call":
        server = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(server, ApiServer):
            report.sections.append(("hushcut server log (tail)", server.output[-6000:]))
    return report


def ws_close_code(exc: BaseException) -> int | None:
    """How the server refused a websocket: its close code, or the HTTP status of a refused
    handshake, from a gql transport error's cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        received = getattr(seen, "rcvd", None)
        if received is not None:
            return int(received.code)
        response = getattr(seen, "response", None)
        if response is not None and hasattr(response, "status_code"):
            return int(response.status_code)
        seen = seen.__cause__ or seen.__context__
    return None


def ws_transport(server: ApiServer, token: str) -> WebsocketsTransport:
    """A graphql-transport-ws client that authenticates in connection_init."""
    return WebsocketsTransport(
        url=server.url.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )


async def subscribe_all(
    server: ApiServer, token: str, query: str, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every result of a subscription until the server ends it."""
    results: list[dict[str, Any]] = []
    async with Client(transport=ws_transport(server, token)) as session:
        request = GraphQLRequest(query, variable_values=variables or {})
        async for result in session.subscribe(request):
            results.append(result)
    return results


async def follow_job(
    server: ApiServer, token: str, job_id: str, subscribed: asyncio.Event
) -> list[dict[str, Any]]:
    """Every state jobUpdates gives of the job until the server ends the subscription;
    ``subscribed`` is set at the first one."""
    from tests.api.test_flow import JOB_UPDATES

    history: list[dict[str, Any]] = []
    async with Client(transport=ws_transport(server, token)) as session:
        request = GraphQLRequest(JOB_UPDATES, variable_values={"id": job_id})
        async for result in session.subscribe(request):
            history.append(result["jobUpdates"])
            subscribed.set()
    return history
