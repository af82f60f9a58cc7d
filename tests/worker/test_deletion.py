"""A job whose workspace is deleted while a worker runs it: the worker stops, and
nothing it wrote stays in storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hushcut.core.services import deletion
from hushcut.core.services import jobs as job_service
from hushcut.core.services.auth import Actor
from hushcut.core.services.retention import RetentionPolicy
from tests.platform import stored_keys, wait_until
from tests.worker.conftest import Gate, Platform


async def delete_workspace(platform: Platform, actor: Actor, workspace: str) -> list[str]:
    async with platform.runtime.sessionmaker() as session:
        deleted = await deletion.delete_workspace(
            session,
            actor,
            workspace,
            "Test workspace",
            storage=platform.runtime.storage,
            policy=RetentionPolicy.from_settings(platform.settings),
        )
    return [job.id for job in deleted.canceled_jobs]


async def nothing_stored(platform: Platform, job_id: str) -> None:
    for prefix in job_service.job_prefixes(job_id):
        assert await stored_keys(platform.runtime, prefix) == []


async def test_deleting_the_workspace_stops_its_running_job(
    platform: Platform, talk_clip: Path, gate: Gate
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    worker = await platform.worker(cut=gate.cut)
    await platform.wait_for(job_id, lambda job: job.stage == "render")
    assert await delete_workspace(platform, actor, workspace) == [job_id]
    assert worker.processor is not None
    processor = worker.processor
    await wait_until(lambda: processor.running == 0, timeout=10, message="worker stopped the job")
    await nothing_stored(platform, job_id)

    # The worker is free for other workspaces' jobs.
    gate.open()
    other_actor, other_workspace = await platform.workspace(credits=1)
    next_id = await platform.submit(other_actor, other_workspace, talk_clip)
    done = await platform.wait_for(next_id, lambda job: job.status.is_final)
    assert done.status.value == "COMPLETED"


async def test_an_output_uploaded_after_the_deletion_is_removed_by_the_worker(
    platform: Platform, talk_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    storage: Any = platform.runtime.storage
    upload = storage.upload_file
    deleted: list[str] = []

    async def upload_during_deletion(path: Path, key: str, content_type: str) -> None:
        # The workspace goes while the output is on its way to storage.
        if key.startswith("output/") and not deleted:
            deleted.extend(await delete_workspace(platform, actor, workspace))
        await upload(path, key, content_type)

    monkeypatch.setattr(storage, "upload_file", upload_during_deletion)
    worker = await platform.worker()
    await wait_until(lambda: bool(deleted), timeout=60, message="the deletion during the upload")
    assert deleted == [job_id]
    assert worker.processor is not None
    processor = worker.processor
    await wait_until(lambda: processor.running == 0, timeout=10, message="worker done with it")
    await nothing_stored(platform, job_id)
