"""Review before render through real clients (`hushcut up`, both backends): upload, confirm
with review, REVIEW with analysis, peaks, exports and the input to play; render an edited
keep list; re-edit for one credit; expiry refunds once; isolation, CSRF and bad segments."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from sqlalchemy import select

from hushcut.core.models import CreditLedgerEntry, LedgerReason
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from tests.api.conftest import (
    Account,
    ApiServer,
    balance,
    error_codes,
    graphql,
    new_account,
    ws_transport,
)
from tests.api.test_flow import upload
from tests.api.test_signin import browser, oidc, sign_in
from tests.platform import wait_until
from tests.worker.media import (
    MARKER_FPS,
    MARKER_SECONDS,
    MARKERS,
    make_marker_talk,
    markers_seen,
    output_time,
)

__all__ = ["browser", "oidc"]  # test_signin's fixtures: a browser signed in with the fake IdP

FRAME = 1.0 / MARKER_FPS

CONFIRM_REVIEW = """
mutation($id: ID!) { confirmUpload(jobId: $id, review: true) { id status review } }"""
RENDER = """
mutation($id: ID!, $segments: [SegmentInput!], $options: CutOptionsInput) {
  renderJob(jobId: $id, segments: $segments, options: $options) {
    id status timeline { start end speed }
  }
}"""
REVIEWED = """
query($id: ID!) {
  job(id: $id) {
    id status stage review reviewExpiresAt inputUrl downloadUrl outputDurationS
    analysis {
      durationS thresholdDb noiseFloorDb speechDb detector
      silences { start end } segments { start end speed } peaksUrl
    }
    timeline { start end speed }
    exportFormats
    json: exportUrl(format: JSON)
  }
}"""
UPDATES = "subscription($id: ID!) { jobUpdates(jobId: $id) { status stage progress } }"


@pytest.fixture(scope="module")
def marker_talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_marker_talk(tmp_path_factory.mktemp("review") / "marker talk.mp4")


async def job_state(client: httpx.AsyncClient, account: Account, job_id: str) -> dict[str, Any]:
    result = await graphql(client, REVIEWED, {"id": job_id}, account.headers)
    assert "errors" not in result, result
    job: dict[str, Any] = result["data"]["job"]
    return job


async def wait_status(
    client: httpx.AsyncClient, account: Account, job_id: str, status: str
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update(await job_state(client, account, job_id))
        assert seen["status"] not in {"FAILED", "CANCELED"}, seen
        return bool(seen["status"] == status)

    await wait_until(reached, 90, f"job {job_id} {status}")
    return seen


async def reviewed_job(
    client: httpx.AsyncClient, account: Account, clip: Path
) -> tuple[str, dict[str, Any]]:
    ticket = await upload(client, account.headers, account.workspace_id, clip)
    job_id: str = ticket["job"]["id"]
    confirmed = await graphql(client, CONFIRM_REVIEW, {"id": job_id}, account.headers)
    assert confirmed["data"]["confirmUpload"] == {"id": job_id, "status": "QUEUED", "review": True}
    return job_id, await wait_status(client, account, job_id, "REVIEW")


def spans(segments: list[dict[str, float]]) -> list[tuple[float, float]]:
    return [(segment["start"], segment["end"]) for segment in segments]


def same_spans(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> bool:
    flat = [value for span in got for value in span]
    return flat == pytest.approx([value for span in want for value in span], abs=1e-6)


def rendered_spans(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> bool:
    """``want`` as rendered: each cut moved onto the start of the frame it falls in."""
    flat = [value for span in got for value in span]
    # (to the microsecond: the JSON export rounds there)
    on_frames = all(abs(v * MARKER_FPS - round(v * MARKER_FPS)) < 1e-4 for v in flat)
    near = flat == pytest.approx([value for span in want for value in span], abs=FRAME / 2)
    return on_frames and near


def check_render(path: Path, segments: list[tuple[float, float]]) -> None:
    """The output lasts the sum of the segments within one frame, and every marker kept
    shows its white frame and its beep together, where the segments put it."""
    flashes, beeps, video_s, audio_s = markers_seen(path)
    planned = sum(end - start for start, end in segments)
    assert video_s == pytest.approx(planned, abs=FRAME), (video_s, planned)
    assert audio_s == pytest.approx(planned, abs=FRAME), (audio_s, planned)
    expected = [t for t in (output_time(segments, m) for m in MARKERS) if t is not None]
    assert len(flashes) == len(expected), (flashes, expected)
    assert len(beeps) == len(expected), (beeps, expected)
    for want, flash, beep in zip(expected, flashes, beeps, strict=True):
        assert flash == pytest.approx(want, abs=FRAME), (flashes, expected)
        assert beep == pytest.approx(want, abs=FRAME), (beeps, expected)
        assert abs(flash - beep) <= FRAME, ("A/V out of sync", flash, beep)


async def test_review_edit_render_and_re_edit(
    server: ApiServer,
    runtime: Runtime,
    client: httpx.AsyncClient,
    marker_talk: Path,
    tmp_path: Path,
) -> None:
    account = await new_account(runtime, credits=3)
    ticket = await upload(client, account.headers, account.workspace_id, marker_talk)
    job_id = ticket["job"]["id"]

    history: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def follow() -> None:
        async with Client(transport=ws_transport(server, account.token)) as session:
            request = GraphQLRequest(UPDATES, variable_values={"id": job_id})
            async for result in session.subscribe(request):
                history.append(result["jobUpdates"])
                subscribed.set()

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(subscribed.wait(), 15)
    confirmed = await graphql(client, CONFIRM_REVIEW, {"id": job_id}, account.headers)
    assert confirmed["data"]["confirmUpload"]["status"] == "QUEUED", confirmed
    assert await balance(runtime, account.workspace_id) == 2

    # REVIEW: the analysis, with peaks, the input and the plan's exports to fetch.
    job = await wait_status(client, account, job_id, "REVIEW")
    await wait_until(lambda: any(s["status"] == "REVIEW" for s in history), 15, "REVIEW event")
    assert not follower.done(), "REVIEW is not final: the subscription goes on"
    assert {"analyze"} <= {s["stage"] for s in history if s["status"] == "PROCESSING"}
    analysis = job["analysis"]
    assert analysis["durationS"] == pytest.approx(MARKER_SECONDS, abs=0.05)
    assert analysis["detector"] == "loudness"
    assert analysis["noiseFloorDb"] < analysis["thresholdDb"] < analysis["speechDb"]
    silences = spans(analysis["silences"])
    assert [value for span in silences for value in span] == pytest.approx(
        [2.0, 3.5, 5.5, 7.0], abs=0.05
    )
    plan = spans(analysis["segments"])
    assert len(plan) == 3
    assert all(s["speed"] == 1.0 for s in analysis["segments"])
    assert job["timeline"] is None
    assert job["downloadUrl"] is None
    expires = datetime.fromisoformat(job["reviewExpiresAt"])
    assert expires > datetime.now().astimezone() + timedelta(hours=71)
    peaks = (await client.get(analysis["peaksUrl"])).json()
    assert peaks["peaksPerSecond"] == 50
    assert peaks["duration"] == pytest.approx(MARKER_SECONDS, abs=0.05)
    (wave,) = peaks["peaks"]
    assert len(wave) == pytest.approx(50 * MARKER_SECONDS, abs=2)
    assert all(0.0 <= value <= 1.0 for value in wave)
    assert min(wave[60:90]) > 0.05 > max(wave[110:165])  # speech vs. the first silence
    assert (await client.get(job["inputUrl"])).content == marker_talk.read_bytes()
    assert "JSON" in job["exportFormats"]
    exported = json.loads((await client.get(job["json"])).content)
    assert same_spans(spans(exported["segments"]), plan)
    assert exported["source"] == "marker talk.mp4"

    # The edit: one range of speech removed (no marker in it), the second pause kept.
    (first_start, first_end), (second_start, _), (_, third_end) = plan
    edited = [(first_start, 0.9), (1.2, first_end), (second_start, third_end)]
    rendered = await graphql(
        client,
        RENDER,
        {"id": job_id, "segments": [{"start": a, "end": b} for a, b in edited]},
        account.headers,
    )
    assert rendered["data"]["renderJob"]["status"] == "QUEUED", rendered
    await asyncio.wait_for(follower, 90)  # ends at COMPLETED
    assert [s["status"] for s in history][-1] == "COMPLETED", history
    job = await job_state(client, account, job_id)
    assert rendered_spans(spans(job["timeline"]), edited)
    assert job["outputDurationS"] == pytest.approx(sum(b - a for a, b in edited), abs=FRAME)
    output = tmp_path / "edited.mp4"
    output.write_bytes((await client.get(job["downloadUrl"])).content)
    check_render(output, edited)
    assert await balance(runtime, account.workspace_id) == 2, "the render from review was free"
    exported = json.loads((await client.get(job["json"])).content)
    assert rendered_spans(spans(exported["segments"]), edited)

    # A re-edit of the completed job, back to the plan as analyzed: one more credit.
    again = await graphql(client, RENDER, {"id": job_id}, account.headers)
    assert again["data"]["renderJob"]["status"] == "QUEUED", again
    job = await wait_status(client, account, job_id, "COMPLETED")
    assert rendered_spans(spans(job["timeline"]), plan)
    output = tmp_path / "plan.mp4"
    output.write_bytes((await client.get(job["downloadUrl"])).content)
    check_render(output, plan)
    assert await balance(runtime, account.workspace_id) == 1
    async with runtime.session() as session:
        charges = await session.scalars(
            select(CreditLedgerEntry.reference).where(
                CreditLedgerEntry.reference.like(f"{job_id}:%"),
                CreditLedgerEntry.reason == LedgerReason.JOB_CHARGE,
            )
        )
        assert sorted(charges.all()) == [f"{job_id}:1", f"{job_id}:2"]


async def test_review_expiry_cancels_and_refunds_once(
    runtime: Runtime, client: httpx.AsyncClient, marker_talk: Path
) -> None:
    account = await new_account(runtime, credits=2)
    job_id, job = await reviewed_job(client, account, marker_talk)
    assert await balance(runtime, account.workspace_id) == 1
    deadline = datetime.fromisoformat(job["reviewExpiresAt"])

    async def sweep(at: datetime) -> list[str]:
        async with runtime.session() as session:
            expired = await job_service.expire_reviews(session, runtime.storage, now=at)
        return [expired_job.id for expired_job in expired]

    assert await sweep(deadline - timedelta(seconds=5)) == []
    # Two sweeps at once past the deadline, as two workers would run them.
    first, second = await asyncio.gather(
        sweep(deadline + timedelta(seconds=1)), sweep(deadline + timedelta(seconds=1))
    )
    assert sorted(first + second) == [job_id]
    job = await job_state(client, account, job_id)
    assert job["status"] == "CANCELED"
    assert job["inputUrl"] is None
    assert job["json"] is None
    assert await balance(runtime, account.workspace_id) == 2
    input_key = f"input/{job_id}/marker_talk.mp4"
    assert await runtime.storage.head(input_key) is None
    again = await graphql(client, RENDER, {"id": job_id}, account.headers)
    assert error_codes(again) == ["CONFLICT"]


async def test_bad_edits_conflicts_and_other_workspaces_are_refused(
    runtime: Runtime, client: httpx.AsyncClient, marker_talk: Path
) -> None:
    account = await new_account(runtime, credits=2)
    job_id, _ = await reviewed_job(client, account, marker_talk)
    bad = {
        "overlapping": [{"start": 0.0, "end": 2.0}, {"start": 1.5, "end": 3.0}],
        "unordered": [{"start": 4.0, "end": 5.0}, {"start": 0.0, "end": 1.0}],
        "beyond the input": [{"start": 7.0, "end": 9.5}],
        "empty": [],
        "bad speed": [{"start": 0.0, "end": 1.0, "speed": 0.0}],
    }
    for reason, segments in bad.items():
        result = await graphql(
            client, RENDER, {"id": job_id, "segments": segments}, account.headers
        )
        assert error_codes(result) == ["BAD_USER_INPUT"], (reason, result)
    # 10,001 segments break the rule of core (tests/core/test_review.py), but first the
    # request's size: over GRAPHQL_MAX_REQUEST_BYTES it is refused before parsing.
    too_many = [{"start": i / 1000, "end": (i + 0.5) / 1000} for i in range(10_001)]
    response = await client.post(
        "/graphql",
        json={"query": RENDER, "variables": {"id": job_id, "segments": too_many}},
        headers=account.headers,
    )
    assert response.status_code == 413
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    options = await graphql(
        client, RENDER, {"id": job_id, "options": {"marginS": -1}}, account.headers
    )
    assert error_codes(options) == ["BAD_USER_INPUT"]
    unknown_plugin = await graphql(
        client, RENDER, {"id": job_id, "options": {"plugins": {"nope": {}}}}, account.headers
    )
    assert error_codes(unknown_plugin) == ["BAD_USER_INPUT"]

    intruder = await new_account(runtime, credits=2)
    for query, variables in (
        (RENDER, {"id": job_id}),
        (REVIEWED, {"id": job_id}),
        ("mutation($id: ID!) { cancelJob(jobId: $id) { id } }", {"id": job_id}),
    ):
        result = await graphql(client, query, variables, intruder.headers)
        assert error_codes(result) == ["NOT_FOUND"], result

    # Still in REVIEW, nothing charged or refunded by any of it.
    assert (await job_state(client, account, job_id))["status"] == "REVIEW"
    assert await balance(runtime, account.workspace_id) == 1
    assert await balance(runtime, intruder.workspace_id) == 2

    # A job that is not in REVIEW or COMPLETED cannot be rendered.
    ticket = await upload(client, account.headers, account.workspace_id, marker_talk)
    pending = await graphql(client, RENDER, {"id": ticket["job"]["id"]}, account.headers)
    assert error_codes(pending) == ["CONFLICT"]


async def test_cookie_sessions_need_the_csrf_token_for_review_operations(
    browser: httpx.AsyncClient, oidc: Any
) -> None:
    await sign_in(browser)
    unknown = {"id": str(uuid.uuid4())}
    for mutation in (CONFIRM_REVIEW, RENDER):
        refused = await graphql(browser, mutation, unknown)
        assert error_codes(refused) == ["FORBIDDEN"], refused
        # With the token the request gets past CSRF to the job lookup.
        csrf = {"X-CSRF-Token": browser.cookies["hushcut_csrf"]}
        checked = await graphql(browser, mutation, unknown, csrf)
        assert error_codes(checked) == ["NOT_FOUND"], checked
