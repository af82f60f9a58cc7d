"""`hushcut up` runs the scheduled sweeps in its own process, and its /metrics counts
what they delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hushcut.core.models import JobStatus
from hushcut.core.runtime import Runtime
from tests.api.conftest import ApiServer, Fakes, platform_settings
from tests.core.test_retention import current
from tests.core.test_scheduler import abandoned_upload
from tests.platform import stored_keys, wait_until


@pytest.fixture
def sweeping_server(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, fakes: Fakes
) -> Iterator[ApiServer]:
    settings = platform_settings(tmp_path, backend, request, fakes, sweep_interval_s=1)
    started = ApiServer(settings, "up").start()
    yield started
    started.stop()


async def test_hushcut_up_sweeps_and_counts_in_metrics(sweeping_server: ApiServer) -> None:
    runtime = await Runtime.start(sweeping_server.settings, upgrade=False)
    try:
        job = await abandoned_upload(runtime)

        async def canceled() -> bool:
            return (await current(runtime, job.id)).status is JobStatus.CANCELED

        await wait_until(canceled, 30, "the abandoned upload canceled by hushcut up")
        assert await stored_keys(runtime, f"input/{job.id}/") == []
    finally:
        await runtime.close()
    async with httpx.AsyncClient(base_url=sweeping_server.url, timeout=10) as http:
        metrics = (await http.get("/metrics")).text
    assert 'hushcut_deletions_total{kind="upload_abandoned"} 1.0' in metrics
    assert 'hushcut_sweeps_total{outcome="ok",sweep="abandoned_uploads"}' in metrics
