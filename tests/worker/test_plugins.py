"""A broken installed plugin is left out of a worker, named once, and fails only jobs using it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hushcut.core.models import JobStatus, LedgerReason
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV
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


async def test_a_worker_with_broken_plugins_runs_other_jobs_and_fails_those_selecting_them(
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
        await platform.worker(concurrency=1)
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
    assert len(await platform.outputs(normal)) == 1

    for job_id, name, reason in [
        (by_detector, "broken", "failed to import: ModuleNotFoundError"),
        (by_options, "typo", "implements unknown hooks: hushcut_audio_filter"),
    ]:
        job = await platform.wait_for(job_id, FINAL)
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert job.error.startswith(f"plugin {name!r} is unavailable on this worker: "), job.error
        assert reason in job.error
        assert "\n" not in job.error
        assert job.attempts == 1, "a job needing a missing plugin is not retried"
        assert await platform.ledger(job_id) == {
            LedgerReason.JOB_CHARGE: 1,
            LedgerReason.JOB_REFUND: 1,
        }
        assert await platform.outputs(job_id) == []
        (email,) = await platform.sent_emails(job_id, 1)
        assert job.error in email.text
    assert await platform.balance(workspace) == 4
