"""`hushcut up` runs the scheduled sweeps in its own process, and its /metrics counts
what they delete."""

from __future__ import annotations

import re

import httpx

from hushcut.core.models import JobStatus
from hushcut.core.runtime import Runtime
from tests.core.test_retention import current
from tests.core.test_scheduler import abandoned_upload
from tests.platform import stored_keys, wait_until

ABANDONED = re.compile(r'^hushcut_deletions_total\{kind="upload_abandoned"\} (\S+)$', re.M)


async def abandoned_count(client: httpx.AsyncClient) -> float:
    found = ABANDONED.search((await client.get("/metrics")).text)
    return float(found.group(1)) if found else 0.0


async def test_hushcut_up_sweeps_and_counts_in_metrics(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    before = await abandoned_count(client)
    job = await abandoned_upload(runtime)

    async def canceled() -> bool:
        return (await current(runtime, job.id)).status is JobStatus.CANCELED

    await wait_until(canceled, 30, "the abandoned upload canceled by hushcut up")
    assert await stored_keys(runtime, f"input/{job.id}/") == []
    assert await abandoned_count(client) >= before + 1
    metrics = (await client.get("/metrics")).text
    assert 'hushcut_sweeps_total{outcome="ok",sweep="abandoned_uploads"}' in metrics
