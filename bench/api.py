"""API benchmark: GraphQL against a plain Litestar route doing the same read, on PostgreSQL.

Everything is a real process: PostgreSQL, Redis and an S3 endpoint (moto) on free ports,
one uvicorn worker serving `create_app(settings)` plus two plain JSON routes that do
exactly what the GraphQL fields do (authenticate the bearer token, read through the same
core service), and `wrk` as the load generator.

- Throughput and p99 at ``--connections`` connections for ``--duration`` seconds each, for
  ``job(id)`` and ``workspace.jobs(first: 20)``, alternating plain and GraphQL runs.
  Targets: GraphQL ``job(id)`` at least 0.6x the plain route's requests/s, and its p99 at
  most 1.5x the plain route's.
- p99 of a single client (one connection) on ``job(id)``. Target: under 20 ms.
- Delay from one job event (published on Redis, as a worker does) to each of
  ``--subscribers`` clients subscribed to ``jobUpdates`` over graphql-transport-ws.
  Target: p95 within 250 ms.

Needs ``wrk`` (``apt-get install -y wrk``). Results: bench/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

JOB_QUERY = "query($id: ID!) { job(id: $id) { id status stage progress filename createdAt } }"
JOBS_QUERY = (
    "query($ws: ID!) { workspace(id: $ws) { jobs(first: 20) { "
    "edges { cursor node { id status stage progress filename createdAt } } "
    "pageInfo { hasNextPage endCursor } } } }"
)
SUBSCRIPTION = "subscription($id: ID!) { jobUpdates(jobId: $id) { id status stage progress } }"


# --- the server process ---------------------------------------------------------------------


def plain_routes() -> list[Any]:
    """The comparison routes: what the GraphQL fields do, as plain Litestar JSON routes."""
    from litestar import Request, get

    from hushcut.api.auth import authenticate
    from hushcut.api.cursors import encode_cursor
    from hushcut.api.state import ApiState
    from hushcut.core.errors import ServiceError
    from hushcut.core.models import VideoJob
    from hushcut.core.services import jobs as job_service

    def as_json(job: VideoJob) -> dict[str, Any]:
        return {
            "id": job.id,
            "status": job.status.value,
            "stage": job.stage,
            "progress": job.progress,
            "filename": job.filename,
            "createdAt": job.created_at.isoformat(),
        }

    @get("/plain/job/{job_id:str}")
    async def plain_job(request: Request[Any, Any, Any], job_id: str) -> dict[str, Any]:
        api: ApiState = request.app.state.api
        async with api.runtime.sessionmaker() as session:
            try:
                principal = await authenticate(session, api, request.headers)
                assert principal is not None
                job = await job_service.get_job(session, principal.actor, job_id)
            except ServiceError as exc:
                return {"errors": [{"message": str(exc), "code": exc.code}]}
            return {"data": {"job": as_json(job)}}

    @get("/plain/workspace/{workspace_id:str}/jobs")
    async def plain_jobs(request: Request[Any, Any, Any], workspace_id: str) -> dict[str, Any]:
        api: ApiState = request.app.state.api
        async with api.runtime.sessionmaker() as session:
            try:
                principal = await authenticate(session, api, request.headers)
                assert principal is not None
                page = await job_service.list_jobs(session, principal.actor, workspace_id, 20)
            except ServiceError as exc:
                return {"errors": [{"message": str(exc), "code": exc.code}]}
            edges = [
                {"cursor": encode_cursor(job_service.JobPosition.of(job)), "node": as_json(job)}
                for job in page.items
            ]
            return {
                "data": {
                    "workspace": {
                        "jobs": {
                            "edges": edges,
                            "pageInfo": {
                                "hasNextPage": page.has_next,
                                "endCursor": encode_cursor(page.end) if page.end else None,
                            },
                        }
                    }
                }
            }

    return [plain_job, plain_jobs]


def gc_route() -> Any:
    """GET /plain/gc: garbage-collector pauses by generation since the last call."""
    import gc
    import time

    from litestar import get

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(watch)

    @get("/plain/gc")
    async def gc_stats() -> dict[str, Any]:
        stats = {
            f"gen{generation}": {
                "count": len(values),
                "total_ms": round(sum(values), 1),
                "max_ms": round(max(values, default=0.0), 1),
            }
            for generation, values in pauses.items()
        }
        for values in pauses.values():
            values.clear()
        return stats

    return gc_stats


def serve(port: int) -> None:
    """Run the API with the plain comparison routes (called in the server subprocess)."""
    import uvicorn

    from hushcut.api.app import create_app
    from hushcut.core.settings import load_settings

    app = create_app(load_settings())
    for route in plain_routes():
        app.register(route)
    app.register(gc_route())
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
    )


# --- load generation ------------------------------------------------------------------------


def wrk_script(path: Path, method: str, body: str | None, token: str) -> None:
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Authorization"] = "Bearer {token}"']
    if body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = {json.dumps(body)}")
    path.write_text("\n".join(lines) + "\n")


def _ms(value: str) -> float:
    found = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if found is None:
        return float("nan")  # wrk prints -nan when no request completed
    number, unit = found.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, script: Path, connections: int, duration: int, server_pid: int
) -> dict[str, float]:
    """One wrk run; also the server's CPU time per request, which (unlike throughput)
    stays meaningful when other work shares the machine."""
    import psutil

    server = psutil.Process(server_pid)
    before = server.cpu_times()
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = server.cpu_times()
    if "Non-2xx" in out:
        raise RuntimeError(f"error responses under load:\n{out}")
    found = re.search(r"timeout (\d+)", out)
    try:
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    except AttributeError:
        raise RuntimeError(f"unexpected wrk output:\n{out}") from None
    cpu = (after.user + after.system) - (before.user + before.system)
    return {
        "rps": round(rps, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "timeouts": int(found.group(1)) if found else 0,
        "server_cpu_ms_per_request": round(cpu * 1000 / max(requests, 1), 3),
    }


# --- setup ------------------------------------------------------------------------------------


def start_services() -> Any:
    from tests.conftest import Services
    from tests.servers import MotoServer, PostgresServer, RedisServer

    started: list[Any] = []
    try:
        for server in (PostgresServer(), RedisServer(), MotoServer()):
            started.append(server.start())
    except Exception:
        for server in started:
            server.stop()
        raise
    return Services(postgres=started[0], redis=started[1], s3=started[2])


async def seed(settings: Any, jobs: int) -> dict[str, Any]:
    """A user with a workspace holding ``jobs`` jobs, and an API token."""
    from hushcut.core.runtime import Runtime
    from hushcut.core.services import jobs as job_service
    from hushcut.core.services import tokens, workspaces
    from hushcut.core.services.auth import Actor

    runtime = await Runtime.start(settings, upgrade=False)
    try:
        async with runtime.session() as session:
            user = await workspaces.get_or_create_user(session, "bench@example.com", "Bench")
            actor = Actor(user.id)
            workspace = await workspaces.create_workspace(
                session, actor, "Bench", starter_credits=10
            )
            job_ids = []
            for index in range(jobs):
                job = await job_service.create_job(
                    session, actor, workspace.id, f"talk{index}.mp4", 1000, "video/mp4"
                )
                job_ids.append(job.id)
            _, token = await tokens.create_api_token(session, actor, workspace.id, "bench")
    finally:
        await runtime.close()
    return {"workspace_id": workspace.id, "job_id": job_ids[-1], "token": token}


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API server exited during startup")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API server did not become healthy")


# --- event delivery ---------------------------------------------------------------------------


async def event_delay(
    url: str, settings: Any, seeded: dict[str, Any], subscribers: int, events: int
) -> dict[str, float]:
    """Publish ``events`` job events on Redis; measure arrival at every subscriber."""
    import websockets

    from hushcut.core.events import JobEvent, RedisEventBus
    from hushcut.core.models import JobStatus

    ws_url = url.replace("http://", "ws://") + "/graphql"
    job_id = seeded["job_id"]
    delays: list[float] = []
    sent_at: dict[float, float] = {}
    sockets = []
    for _ in range(subscribers):
        socket = await websockets.connect(
            ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=None,
        )
        await socket.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"Authorization": f"Bearer {seeded['token']}"},
                }
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"id": job_id}},
                }
            )
        )
        first = json.loads(await socket.recv())
        assert first["type"] == "next", first
        sockets.append(socket)

    async def receive(socket: Any) -> None:
        for _ in range(events):
            message = json.loads(await socket.recv())
            arrived = time.perf_counter()
            progress = message["payload"]["data"]["jobUpdates"]["progress"]
            delays.append((arrived - sent_at[progress]) * 1000)

    bus = RedisEventBus.from_url(settings.redis_url)
    receivers = [asyncio.create_task(receive(socket)) for socket in sockets]
    try:
        for index in range(events):
            progress = round((index + 1) / (events + 1), 6)
            sent_at[progress] = time.perf_counter()
            await bus.publish(
                JobEvent(job_id=job_id, status=JobStatus.PENDING, stage="bench", progress=progress)
            )
            await asyncio.sleep(0.25)
        await asyncio.wait_for(asyncio.gather(*receivers), 30)
    finally:
        await bus.close()
        for socket in sockets:
            await socket.close()
    ordered = sorted(delays)
    return {
        "subscribers": subscribers,
        "events": events,
        "deliveries": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2], 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95)], 1),
        "max_ms": round(ordered[-1], 1),
    }


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=1, help="plain/GraphQL alternations per query"
    )
    parser.add_argument(
        "--single-duration", type=int, default=15, help="seconds of the single-client runs"
    )
    parser.add_argument(
        "--queries",
        nargs="+",
        choices=("job", "jobs"),
        default=["job", "jobs"],
        help="which load runs to make",
    )
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    if shutil.which("wrk") is None:
        print("wrk not found: install it with `apt-get install -y wrk`")
        return 2

    from hushcut.core.settings import Settings
    from tests.platform import create_bucket, create_database
    from tests.servers import free_port

    load_at_start = list(os.getloadavg())
    if load_at_start[0] > (os.cpu_count() or 1):
        print(
            f"  note: load average {load_at_start[0]:.1f} on {os.cpu_count()} CPUs; "
            "throughput and latency will reflect that, CPU per request much less"
        )
    services = start_services()
    work = Path(tempfile.mkdtemp(prefix="hushcut-bench-api-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = Settings(
            data_dir=work,
            database_url=create_database(services),
            redis_url=services.redis.url,
            s3_bucket=create_bucket(services),
            s3_endpoint_url=services.s3.url,
            s3_region=services.s3.region,
            s3_access_key_id=services.s3.access_key,
            s3_secret_access_key=services.s3.secret_key,
            app_url=url,
            session_secret="bench-secret-" + uuid.uuid4().hex,
            rate_limit_per_minute=10**9,
            log_level="WARNING",
        )
        seeded = asyncio.run(seed(settings, jobs=40))
        from tests.api.conftest import settings_env

        env = {
            **os.environ,
            **settings_env(settings),
            "HUSHCUT_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONPATH": str(ROOT),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bench", "api", "--serve", str(port)], env=env, cwd=ROOT
        )
        wait_ready(url, process)

        scripts = {
            ("job", "graphql"): (
                "POST",
                json.dumps({"query": JOB_QUERY, "variables": {"id": seeded["job_id"]}}),
                "/graphql",
            ),
            ("job", "plain"): ("GET", None, f"/plain/job/{seeded['job_id']}"),
            ("jobs", "graphql"): (
                "POST",
                json.dumps({"query": JOBS_QUERY, "variables": {"ws": seeded["workspace_id"]}}),
                "/graphql",
            ),
            ("jobs", "plain"): ("GET", None, f"/plain/workspace/{seeded['workspace_id']}/jobs"),
        }
        files: dict[tuple[str, str], tuple[Path, str]] = {}
        import httpx

        for key, (method, body, path) in scripts.items():
            script = work / f"{key[0]}-{key[1]}.lua"
            wrk_script(script, method, body, seeded["token"])
            files[key] = (script, url + path)
            # Same answer from both routes, and no errors, before measuring anything.
            response = httpx.request(
                method,
                url + path,
                content=body,
                headers={
                    "Authorization": f"Bearer {seeded['token']}",
                    "Content-Type": "application/json",
                },
            )
            if response.status_code != 200 or "errors" in response.json():
                raise RuntimeError(f"{path} does not answer cleanly: {response.text}")
            run_wrk(url + path, script, 10, 3, process.pid)  # warm-up

        load: dict[str, dict[str, list[dict[str, float]]]] = {}
        for query in args.queries:
            load[query] = {"plain": [], "graphql": []}
            for _ in range(args.rounds):
                for kind in ("plain", "graphql"):
                    script, target = files[(query, kind)]
                    httpx.get(url + "/plain/gc")  # reset the pause counters
                    result = run_wrk(target, script, args.connections, args.duration, process.pid)
                    gc_pauses = httpx.get(url + "/plain/gc").json()
                    result["gc_full_count"] = gc_pauses["gen2"]["count"]
                    result["gc_full_max_ms"] = gc_pauses["gen2"]["max_ms"]
                    result["gc_total_ms"] = sum(g["total_ms"] for g in gc_pauses.values())
                    load[query][kind].append(result)
                    print(
                        f"  {query:4} {kind:7} {args.connections} conns: "
                        f"{result['rps']:7.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                        f"p99 {result['p99_ms']:6.2f} ms  "
                        f"server CPU {result['server_cpu_ms_per_request']:.2f} ms/req  "
                        f"GC {result['gc_total_ms']:.0f} ms (full: {result['gc_full_count']}, "
                        f"max {result['gc_full_max_ms']} ms)",
                        flush=True,
                    )
        single: dict[str, dict[str, float]] = {}
        for kind in ("plain", "graphql"):
            script, target = files[("job", kind)]
            single[kind] = run_wrk(target, script, 1, args.single_duration, process.pid)
            print(
                f"  job  {kind:7} 1 client: {single[kind]['rps']:7.1f} req/s  "
                f"p99 {single[kind]['p99_ms']:6.2f} ms  "
                f"server CPU {single[kind]['server_cpu_ms_per_request']:.2f} ms/req",
                flush=True,
            )
        events = asyncio.run(event_delay(url, settings, seeded, args.subscribers, args.events))
        print(
            f"  event delay to {events['subscribers']} subscribers: p50 {events['p50_ms']} ms, "
            f"p95 {events['p95_ms']} ms, max {events['max_ms']} ms",
            flush=True,
        )
    finally:
        if process is not None:
            process.terminate()
            process.wait(20)
        for server in (services.s3, services.redis, services.postgres):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    def mean(runs: list[dict[str, float]], key: str) -> float:
        return sum(run[key] for run in runs) / len(runs)

    summary: dict[str, Any] = {}
    for query in load:
        plain, graphql = load[query]["plain"], load[query]["graphql"]
        summary[query] = {
            "throughput_ratio": round(mean(graphql, "rps") / mean(plain, "rps"), 2),
            "p99_ratio": round(mean(graphql, "p99_ms") / mean(plain, "p99_ms"), 2),
            # Throughput a CPU-bound server reaches is the inverse of CPU per request.
            "cpu_throughput_ratio": round(
                mean(plain, "server_cpu_ms_per_request")
                / mean(graphql, "server_cpu_ms_per_request"),
                2,
            ),
        }
    targets = {
        "single-client p99 < 20 ms": single["graphql"]["p99_ms"] < 20,
        "event delay p95 <= 250 ms": events["p95_ms"] <= 250,
    }
    if "job" in summary:  # not measured with --queries jobs
        targets["job throughput >= 0.6x plain"] = summary["job"]["throughput_ratio"] >= 0.6
        targets["job p99 <= 1.5x plain"] = summary["job"]["p99_ratio"] <= 1.5
    for query, ratios in summary.items():
        print(
            f"  {query}: GraphQL/plain throughput {ratios['throughput_ratio']}x "
            f"(from server CPU per request {ratios['cpu_throughput_ratio']}x), "
            f"p99 {ratios['p99_ratio']}x"
        )
    for name, met in targets.items():
        print(f"  target {name}: {'met' if met else 'MISSED'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "api",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": list(os.getloadavg()),
        },
        "connections": args.connections,
        "duration_s": args.duration,
        "load": load,
        "single_client": single,
        "event_delay": events,
        "summary": summary,
        "targets": targets,
    }
    (RESULTS / "api.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
