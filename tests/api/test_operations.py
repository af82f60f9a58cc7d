"""Operations: health with per-dependency checks, Prometheus metrics, request ids in JSON
logs, rate limits, query depth and page-size limits, and the `hushcut up` announcement."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator

import httpx
import pytest

from hushcut.core.runtime import Runtime
from tests.api.conftest import (
    ApiServer,
    Fakes,
    error_codes,
    graphql,
    new_account,
    platform_settings,
    with_own_redis_database,
)
from tests.platform import wait_until


async def test_health_reports_every_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "up"
    assert set(body["checks"]) == {"database", "queue", "storage"}
    assert all(check["status"] == "up" for check in body["checks"].values())


@pytest.fixture(scope="module")
def broken_server(
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    request: pytest.FixtureRequest,
    fakes: Fakes,
) -> Iterator[ApiServer]:
    """`hushcut api` whose storage is unusable, with a limit of 5 requests a minute."""
    settings = platform_settings(
        tmp_path_factory.mktemp("broken"), backend, request, fakes, rate_limit_per_minute=5
    )
    settings = with_own_redis_database(settings, 15)
    if settings.s3_bucket:
        settings = settings.model_copy(update={"s3_bucket": settings.s3_bucket + "-missing"})
    else:
        shutil.rmtree(settings.storage_dir, ignore_errors=True)
        settings.storage_dir.write_text("a file where the storage directory should be")
    started = ApiServer(settings, "api").start()
    yield started
    started.stop()


async def test_health_is_degraded_naming_the_failing_dependency(
    broken_server: ApiServer,
) -> None:
    async with httpx.AsyncClient(base_url=broken_server.url) as http:
        response = await http.get("/api/health")
    # The API still serves what needs no storage: a load balancer keeps it in rotation.
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failing"] == ["storage"]
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["storage"]["error"]


async def test_rate_limit_answers_429_with_rate_limited(broken_server: ApiServer) -> None:
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=broken_server.url) as http:
        # 12 requests exceed a limit of 5 a minute even if a minute boundary falls between.
        for _ in range(12):
            response = await http.post("/graphql", json={"query": "{ __typename }"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert error_codes(response.json()) == ["RATE_LIMITED"]
                assert int(response.headers["retry-after"]) <= 60
        # Health checks stay reachable for the infrastructure.
        assert (await http.get("/api/health")).json()["status"] == "degraded"
    assert 429 in statuses
    assert statuses[0] == 200


async def test_metrics_in_prometheus_format(server: ApiServer, client: httpx.AsyncClient) -> None:
    await client.get("/api/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        'hushcut_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/health"',
        'hushcut_jobs{status="QUEUED"}',
        "hushcut_queue_depth ",
        "hushcut_jobs_failed ",
        "hushcut_job_processing_seconds_bucket",
        "hushcut_job_event_subscribers ",
        "hushcut_worker_jobs_total",  # the embedded worker's own metrics
    ):
        assert name in text, name


async def test_request_id_is_echoed_and_logged(
    server: ApiServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/webhooks/stripe", content=b"{}", headers={"X-Request-ID": "req-test-42"}
    )
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "req-test-42"
    generated = await client.get("/api/health")
    assert len(generated.headers["x-request-id"]) == 32

    def logged() -> list[dict[str, object]]:
        lines = [line for line in server.output.splitlines() if line.startswith("{")]
        return [
            entry for entry in map(json.loads, lines) if entry.get("request_id") == "req-test-42"
        ]

    async def appears() -> bool:
        return bool(logged())

    await wait_until(appears, timeout=5, message="appears")
    assert logged()[0]["logger"] == "hushcut.api.webhooks"
    assert logged()[0]["level"] == "warning"


async def test_query_cost_and_page_size_limits(runtime: Runtime, client: httpx.AsyncClient) -> None:
    account = await new_account(runtime)
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(40))
    result = await graphql(client, f"{{ {aliases} }}", headers=account.headers)
    assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in result["errors"][0]["message"]
    huge = "{ me { " + "id " * 3000 + "} }"
    assert error_codes(await graphql(client, huge, headers=account.headers)) == [
        "GRAPHQL_VALIDATION_FAILED"
    ]
    page = await graphql(
        client,
        "query($ws: ID!) { workspace(id: $ws) { jobs(first: 101) { edges { cursor } } } }",
        {"ws": account.workspace_id},
        account.headers,
    )
    assert error_codes(page) == ["BAD_USER_INPUT"]


async def test_a_bad_cursor_is_the_callers_mistake(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime)
    result = await graphql(
        client,
        'query($ws: ID!) { workspace(id: $ws) { jobs(after: "%%%") { edges { cursor } } } }',
        {"ws": account.workspace_id},
        account.headers,
    )
    assert error_codes(result) == ["BAD_USER_INPUT"]


async def test_unexpected_errors_are_masked_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from types import SimpleNamespace

    from hushcut.api.auth import Principal
    from hushcut.api.graphql.context import Context
    from hushcut.api.graphql.schema import build_schema
    from hushcut.core.services.auth import Actor

    def broken_sessionmaker() -> None:
        raise RuntimeError("connection to db-password-hunter2 failed")

    api = SimpleNamespace(runtime=SimpleNamespace(sessionmaker=broken_sessionmaker))
    context = Context(api=api, principal=Principal(Actor("u1"), False, True))  # type: ignore[arg-type]
    result = await build_schema().execute("{ me { id } }", context_value=context)
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in json.dumps(error)
    assert "hunter2" in caplog.text  # the operator sees what the client does not


def test_up_announces_its_url(server: ApiServer) -> None:
    assert f"Hushcut is running at {server.url}" in server.output


async def test_workspace_fields_resolve_once_per_request(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime)
    result = await graphql(
        client,
        """query($ws: ID!) {
          a: workspace(id: $ws) { members { email role } apiTokens { name prefix } }
          b: workspace(id: $ws) { members { email } payments { credits } role }
          me { workspaces { id members { email } } }
        }""",
        {"ws": account.workspace_id},
        account.headers,
    )
    assert "errors" not in result, result
    data = result["data"]
    assert data["a"]["members"] == [{"email": account.email, "role": "OWNER"}]
    assert data["a"]["apiTokens"] == [{"name": "tests", "prefix": account.token[:11]}]
    assert data["b"] == {"members": [{"email": account.email}], "payments": [], "role": "OWNER"}
    assert data["me"]["workspaces"] == [
        {"id": account.workspace_id, "members": [{"email": account.email}]}
    ]


async def test_malformed_posts_and_graphiql(client: httpx.AsyncClient) -> None:
    wrong_type = await client.post(
        "/graphql", content=b"{ me { id } }", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    not_json = await client.post(
        "/graphql", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert error_codes(not_json.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    syntax = await graphql(client, "{ me { id ")
    assert error_codes(syntax) == ["GRAPHQL_VALIDATION_FAILED"]
    unknown = await graphql(client, "{ me { password } }")
    assert error_codes(unknown) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "password" in unknown["errors"][0]["message"]
    over_http = await graphql(client, 'subscription { jobUpdates(jobId: "x") { id } }')
    assert "websocket" in over_http["errors"][0]["message"]
    unnamed = await client.post(
        "/graphql",
        json={"query": "query A { __typename } query B { __typename }", "operationName": "C"},
    )
    assert error_codes(unnamed.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "operationName" in unnamed.json()["errors"][0]["message"]
    chosen = await client.post(
        "/graphql",
        json={"query": "query A { __typename } query B { __typename }", "operationName": "B"},
    )
    assert chosen.json() == {"data": {"__typename": "Query"}}
    wrong_shape = await client.post("/graphql", json={"query": 42})
    assert wrong_shape.status_code == 400
    assert error_codes(wrong_shape.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    ide = await client.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200
    assert "graphiql" in ide.text.lower()


DEEP = b"[" * 20_000 + b"]" * 20_000  # nested far beyond any parser, within the byte limit


async def test_deeply_nested_json_is_the_callers_mistake(
    server: ApiServer, client: httpx.AsyncClient
) -> None:
    as_body = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }", "variables": {"a": ' + DEEP + b"}}",
        headers={"Content-Type": "application/json"},
    )
    assert as_body.status_code == 400, as_body.text
    assert error_codes(as_body.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    bare = await client.post("/graphql", content=DEEP, headers={"Content-Type": "application/json"})
    assert bare.status_code == 400
    in_query_string = await client.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": '{"a": ' + DEEP.decode()[:20_000] + "}"},
    )
    assert in_query_string.status_code < 500, in_query_string.text
    assert "unhandled error" not in server.output


async def test_deeply_nested_websocket_message_closes_the_socket_as_malformed(
    server: ApiServer, runtime: Runtime
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    account = await new_account(runtime)
    url = server.url.replace("http://", "ws://") + "/graphql"
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {account.token}"}}
    async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send('{"type": "subscribe", "payload": ' + DEEP.decode() + "}")
        async with asyncio.timeout(10):
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400, closed.value.rcvd
    assert "unhandled error" not in server.output


async def test_variables_that_cannot_be_coerced_are_bad_user_input(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from tests.api.test_flow import REQUEST_UPLOAD

    account = await new_account(runtime)
    base = {"ws": account.workspace_id, "name": "big.mp4", "type": "video/mp4"}
    for size in (2**63, "abc", None, 1.5, True):
        result = await graphql(client, REQUEST_UPLOAD, {**base, "size": size}, account.headers)
        assert error_codes(result) == ["BAD_USER_INPUT"], result
        assert "$size" in result["errors"][0]["message"]
    assert "unexpected error" not in server.output
