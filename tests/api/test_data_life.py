"""Deleting and expiring over the API: deleteJob, deleteWorkspace, deleteAccount remove the
files (checked in the S3 endpoint or on disk), and a job says when its output expires."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from gql import Client, GraphQLRequest

from hushcut.core.clock import ManualClock
from hushcut.core.models import Role
from hushcut.core.runtime import Runtime
from hushcut.core.scheduler import Sweeper
from hushcut.core.services import jobs, workspaces
from hushcut.core.services.auth import Actor
from hushcut.pipeline.testing import SampleMedia
from tests.api.conftest import ApiServer, Fakes, error_codes, graphql, new_account, ws_transport
from tests.api.test_flow import CONFIRM, JOB_UPDATES, upload
from tests.api.test_teams import browser_of, csrf, invite, member
from tests.platform import stored_keys, wait_until

JOB = """query($id: ID!) {
  job(id: $id) {
    id status finishedAt downloadUrl expiresAt outputExpired inputExpiresAt inputExpired
  }
}"""
JOBS = "query($ws: ID!) { workspace(id: $ws) { jobs(first: 50) { nodes { id } } } }"
DELETE_JOB = "mutation($id: ID!) { deleteJob(jobId: $id) }"
PREVIEW = """query($ws: ID!) {
  workspace(id: $ws) { deletionPreview { forfeitedCredits unfinishedJobs jobs members } }
}"""
DELETE_WORKSPACE = (
    "mutation($ws: ID!, $name: String!) { deleteWorkspace(id: $ws, confirmName: $name) }"
)
ACCOUNT = """{ me { accountDeletion {
  allowed deletedWorkspaces { id } leftWorkspaces { id } blockingWorkspaces { id }
} } }"""
DELETE_ACCOUNT = "mutation($email: String!) { deleteAccount(confirmEmail: $email) }"


async def job_files(runtime: Runtime, job_id: str) -> list[str]:
    return [
        key for prefix in jobs.job_prefixes(job_id) for key in await stored_keys(runtime, prefix)
    ]


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_completed_job_expires_then_is_deleted_with_its_files(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=2)
    ticket = await upload(client, account.headers, account.workspace_id, sample_media("short.mp4"))
    job_id = ticket["job"]["id"]
    confirmed = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert confirmed["data"]["confirmUpload"]["status"] == "QUEUED"

    async def completed() -> bool:
        result = await graphql(client, JOB, {"id": job_id}, account.headers)
        return result["data"]["job"]["status"] in {"COMPLETED", "FAILED"}

    await wait_until(completed, 90, "the job processed")
    job = (await graphql(client, JOB, {"id": job_id}, account.headers))["data"]["job"]
    assert job["status"] == "COMPLETED"
    assert job["downloadUrl"]
    assert (job["outputExpired"], job["inputExpired"]) == (False, False)
    finished = when(job["finishedAt"])
    assert when(job["expiresAt"]) == finished + timedelta(days=30)
    assert when(job["inputExpiresAt"]) == finished + timedelta(hours=24)
    files = await job_files(runtime, job_id)
    # The input, the output, the waveform peaks and the timeline exports.
    assert {key.split("/")[0] for key in files} == {"input", "output", "derived"}

    # A day later the upload goes; a month later the output.
    clock = ManualClock(finished)
    sweeper = Sweeper(runtime, clock)
    clock.advance(hours=25)
    await sweeper.run_all()
    job = (await graphql(client, JOB, {"id": job_id}, account.headers))["data"]["job"]
    assert (job["inputExpired"], job["outputExpired"]) == (True, False)
    assert job["downloadUrl"]
    assert await stored_keys(runtime, f"input/{job_id}/") == []
    clock.advance(days=30)
    await sweeper.run_all()
    job = (await graphql(client, JOB, {"id": job_id}, account.headers))["data"]["job"]
    assert (job["status"], job["outputExpired"], job["downloadUrl"]) == ("COMPLETED", True, None)
    assert await job_files(runtime, job_id) == []

    deleted = await graphql(client, DELETE_JOB, {"id": job_id}, account.headers)
    assert deleted["data"]["deleteJob"] == job_id
    gone = await graphql(client, JOB, {"id": job_id}, account.headers)
    assert error_codes(gone) == ["NOT_FOUND"]
    listed = await graphql(client, JOBS, {"ws": account.workspace_id}, account.headers)
    assert job_id not in [node["id"] for node in listed["data"]["workspace"]["jobs"]["nodes"]]
    again = await graphql(client, DELETE_JOB, {"id": job_id}, account.headers)
    assert error_codes(again) == ["NOT_FOUND"]


async def test_delete_job_removes_its_files_at_once_and_keeps_the_ledger(
    runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=2)
    ticket = await upload(
        client, account.headers, account.workspace_id, sample_media("mono.mp3"), "audio/mpeg"
    )
    job_id = ticket["job"]["id"]
    assert len(await job_files(runtime, job_id)) == 1
    # Not finished: refused.
    pending = await graphql(client, DELETE_JOB, {"id": job_id}, account.headers)
    assert error_codes(pending) == ["CONFLICT"]
    # Confirmed for review, so the cancel cannot lose a race with a fast worker: a job
    # in REVIEW can still be canceled (a completed one could not).
    await graphql(
        client,
        "mutation($id: ID!) { confirmUpload(jobId: $id, review: true) { id } }",
        {"id": job_id},
        account.headers,
    )
    await graphql(
        client,
        "mutation($id: ID!) { cancelJob(jobId: $id) { id } }",
        {"id": job_id},
        account.headers,
    )

    async def canceled() -> bool:
        result = await graphql(client, JOB, {"id": job_id}, account.headers)
        return result["data"]["job"]["status"] == "CANCELED"

    await wait_until(canceled, 30, "the job canceled")
    deleted = await graphql(client, DELETE_JOB, {"id": job_id}, account.headers)
    assert deleted["data"]["deleteJob"] == job_id
    assert await job_files(runtime, job_id) == []
    ledger = await graphql(
        client,
        """query($ws: ID!) {
          workspace(id: $ws) { credits ledger { nodes { reason jobId job { id } } } }
        }""",
        {"ws": account.workspace_id},
        account.headers,
    )
    workspace = ledger["data"]["workspace"]
    assert workspace["credits"] == 2
    assert workspace["ledger"]["nodes"][:2] == [
        {"reason": "JOB_REFUND", "jobId": job_id, "job": None},
        {"reason": "JOB_CHARGE", "jobId": job_id, "job": None},
    ]


async def test_delete_workspace_cancels_deletes_and_says_what_is_forfeited(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    owner = await new_account(runtime, credits=4)
    admin = await member(runtime, owner, Role.ADMIN)
    ticket = await upload(
        client, owner.headers, owner.workspace_id, sample_media("mono.mp3"), "audio/mpeg"
    )
    pending_id = ticket["job"]["id"]
    preview = await graphql(client, PREVIEW, {"ws": owner.workspace_id}, owner.headers)
    assert preview["data"]["workspace"]["deletionPreview"] == {
        "forfeitedCredits": 4,
        "unfinishedJobs": 1,
        "jobs": 1,
        "members": 2,
    }
    assert error_codes(
        await graphql(client, PREVIEW, {"ws": owner.workspace_id}, admin.headers)
    ) == ["FORBIDDEN"]

    # A subscriber to the unfinished job sees it end.
    events: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def follow() -> None:
        async with Client(transport=ws_transport(server, owner.token)) as session:
            request = GraphQLRequest(JOB_UPDATES, variable_values={"id": pending_id})
            async for result in session.subscribe(request):
                events.append(result["jobUpdates"])
                subscribed.set()

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(subscribed.wait(), 15)

    for who, name, code in [
        (admin, "Test workspace", "FORBIDDEN"),
        (owner, "test workspace", "BAD_USER_INPUT"),
    ]:
        refused = await graphql(
            client, DELETE_WORKSPACE, {"ws": owner.workspace_id, "name": name}, who.headers
        )
        assert error_codes(refused) == [code]
    deleted = await graphql(
        client,
        DELETE_WORKSPACE,
        {"ws": owner.workspace_id, "name": "Test workspace"},
        owner.headers,
    )
    assert deleted["data"]["deleteWorkspace"] == owner.workspace_id
    await asyncio.wait_for(follower, 15)
    assert [event["status"] for event in events] == ["PENDING", "CANCELED"]
    assert await job_files(runtime, pending_id) == []
    for who in (owner, admin):
        after = await graphql(
            client,
            "query($ws: ID!) { workspace(id: $ws) { id } }",
            {"ws": owner.workspace_id},
            who.headers,
        )
        # The workspace's tokens went with it.
        assert error_codes(after) == ["UNAUTHENTICATED"]


async def test_delete_account(
    server: ApiServer, fakes: Fakes, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    colleague = await new_account(runtime)
    address = f"leaving-{uuid.uuid4().hex[:8]}@example.com"
    _, token = await invite(client, runtime, colleague, address, "OWNER")
    async with browser_of(server, fakes, address) as browser:
        joined = await graphql(
            browser,
            "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
            {"t": token},
            csrf(browser),
        )
        assert "errors" not in joined, joined
        me = await graphql(browser, "{ me { id workspaces { id } } }")
        user_id = me["data"]["me"]["id"]
        personal = [
            w["id"] for w in me["data"]["me"]["workspaces"] if w["id"] != colleague.workspace_id
        ]
        preview = await graphql(browser, ACCOUNT)
        assert preview["data"]["me"]["accountDeletion"] == {
            "allowed": True,
            "deletedWorkspaces": [{"id": workspace_id} for workspace_id in personal],
            "leftWorkspaces": [{"id": colleague.workspace_id}],
            "blockingWorkspaces": [],
        }
        # An API token cannot delete the person; the email must be typed; CSRF is needed.
        by_token = await graphql(client, DELETE_ACCOUNT, {"email": address}, colleague.headers)
        assert error_codes(by_token) == ["FORBIDDEN"]
        wrong = await graphql(
            browser, DELETE_ACCOUNT, {"email": "other@example.com"}, csrf(browser)
        )
        assert error_codes(wrong) == ["BAD_USER_INPUT"]
        no_csrf = await graphql(browser, DELETE_ACCOUNT, {"email": address})
        assert error_codes(no_csrf) == ["FORBIDDEN"]
        deleted = await graphql(browser, DELETE_ACCOUNT, {"email": address.upper()}, csrf(browser))
        assert deleted["data"]["deleteAccount"] == user_id
        # Signed out for good: the session went with the account.
        after = await graphql(browser, "{ me { id } }")
        assert error_codes(after) == ["UNAUTHENTICATED"]
    members = await graphql(
        client,
        "query($ws: ID!) { workspace(id: $ws) { members { userId } } }",
        {"ws": colleague.workspace_id},
        colleague.headers,
    )
    assert [m["userId"] for m in members["data"]["workspace"]["members"]] == [colleague.user_id]


async def test_the_last_owner_of_a_shared_workspace_cannot_delete_the_account(
    server: ApiServer, fakes: Fakes, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    address = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    async with browser_of(server, fakes, address) as browser:
        me = await graphql(browser, "{ me { workspaces { id } } }")
        own = me["data"]["me"]["workspaces"][0]["id"]
        async with runtime.session() as session:
            user = await workspaces.get_or_create_user(session, address)
            await workspaces.add_member(
                session, Actor(user.id), own, f"x-{uuid.uuid4().hex[:6]}@example.com"
            )
        preview = await graphql(browser, ACCOUNT)
        assert preview["data"]["me"]["accountDeletion"]["allowed"] is False
        assert preview["data"]["me"]["accountDeletion"]["blockingWorkspaces"] == [{"id": own}]
        refused = await graphql(browser, DELETE_ACCOUNT, {"email": address}, csrf(browser))
        assert error_codes(refused) == ["CONFLICT"]
        still = await graphql(browser, "{ me { id } }")
        assert "errors" not in still
