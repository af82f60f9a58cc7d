"""A broken installed plugin is left out of a worker, named once, and not offered: jobs using
it are refused by the API or wait for a worker that has it; other jobs run."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hushcut.core.errors import BadUserInput
from hushcut.core.models import JobStatus, LedgerReason
from hushcut.core.services import jobs as job_service
from hushcut.core.services.workers import OfferedOptions
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV
from tests.platform import balance
from tests.worker.conftest import Platform

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}
BROKEN_IMPORT = "import no_such_module_anywhere\n"
MISSPELT = (
    "from hushcut.pipeline import hookimpl\n\n"
    "@hookimpl\n"
    "def hushcut_audio_filter(options, media):\n"
    "    return ['volume=2']\n"
)


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., None]]:
    """Install a throwaway distribution providing one ``hushcut.pipeline`` entry point,
    visible to importlib.metadata (a dist-info directory on sys.path) and to imports."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(distribution: str, entry_point: str, module: str, code: str) -> None:
        (site / f"{module}.py").write_text(code)
        info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[hushcut.pipeline]\n{entry_point} = {module}\n")

    yield install
    for module in [m for m in sys.modules if m.startswith("hushcut_worker_test_plugin")]:
        del sys.modules[module]


async def test_a_worker_with_broken_plugins_runs_other_jobs_and_leaves_those_selecting_them(
    platform: Platform,
    talk_clip: Path,
    install_plugin: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_plugin("hushcut-broken", "broken", "hushcut_worker_test_plugin_broken", BROKEN_IMPORT)
    install_plugin("hushcut-typo", "typo", "hushcut_worker_test_plugin_typo", MISSPELT)
    actor, workspace = await platform.workspace(credits=5)
    normal = await platform.submit(actor, workspace, talk_clip)
    by_detector = await platform.submit(actor, workspace, talk_clip, options={"detector": "broken"})
    by_options = await platform.submit(
        actor, workspace, talk_clip, options={"plugins": {"typo": {"gain": 2}}}
    )

    with caplog.at_level(logging.ERROR, logger="hushcut.worker"):
        worker = await platform.worker(concurrency=1)
    # One line per broken plugin at start, naming it and why it was left out.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, errors
    assert errors[0].startswith("plugin 'broken' (hushcut-broken 1.0"), errors
    assert "No module named 'no_such_module_anywhere'" in errors[0]
    assert errors[1].startswith("plugin 'typo' (hushcut-typo 1.0"), errors
    assert "hushcut_audio_filter" in errors[1]
    assert all("\n" not in line for line in errors)

    job = await platform.wait_for(normal, FINAL, timeout=90)
    assert job.status is JobStatus.COMPLETED, job.error
    assert await platform.outputs(normal) == platform.written_for(job)

    # The worker does not offer what it left out, so it never takes the jobs needing it:
    # they wait, charged once, for a worker that has the plugin (or a cancel).
    assert await worker.reconcile_once(min_queued_age_s=0) == 0
    for job_id in (by_detector, by_options):
        job = await platform.job(job_id)
        assert (job.status, job.attempts, job.lease_owner) == (JobStatus.QUEUED, 0, None)
    assert await balance(platform.runtime, workspace) == 2

    # The API refuses new jobs selecting them, saying why, before any charge.
    options = OfferedOptions(platform.runtime.sessionmaker)
    for selection, name, reason in [
        ({"detector": "broken"}, "broken", "failed to import: ModuleNotFoundError"),
        ({"plugins": {"typo": {"gain": 2}}}, "typo", "implements unknown hooks"),
    ]:
        with pytest.raises(BadUserInput) as refused:
            await options.validate(selection)
        message = str(refused.value)
        assert message.startswith(f"plugin {name!r} is unavailable on every worker: "), message
        assert reason in message
        assert "\n" not in message
    await options.validate({"threshold_db": -40})

    async with platform.runtime.sessionmaker() as session:
        await job_service.cancel_job(session, actor, by_detector)
    assert await platform.ledger(by_detector) == {
        LedgerReason.JOB_CHARGE: 1,
        LedgerReason.JOB_REFUND: 1,
    }
    assert await platform.outputs(by_detector) == []
