"""examples/upload.py against a running server: a file big enough goes up in parts, and a
run interrupted mid-upload resumes with the parts storage already holds."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hushcut.core.runtime import Runtime
from hushcut.core.storage import MIN_PART_SIZE
from hushcut.pipeline.testing import SampleMedia
from tests.api.conftest import ApiServer, balance, new_account
from tests.api.test_multipart import put_part, sign, start
from tests.conftest import ROOT
from tests.worker.media import TALK_CLIP, media_duration

EXAMPLE = ROOT / "examples" / "upload.py"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory, sample_media: SampleMedia) -> Path:
    """Six seconds of talk (with pauses), then an MP4 `free` box that players skip:
    a valid video of 2 parts of 5 MiB and a bit."""
    clip = tmp_path_factory.mktemp("example") / "big talk.mp4"
    shutil.copy(sample_media("talk", **TALK_CLIP), clip)
    filler = 2 * MIN_PART_SIZE + 4096 - clip.stat().st_size
    with clip.open("ab") as out:
        out.write(struct.pack(">I", filler) + b"free" + bytes(filler - 8))
    return clip


def run_example(server: ApiServer, token: str, video: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            str(video),
            "--token",
            token,
            "--url",
            server.url,
            "--multipart-threshold",
            "1",
            "--part-size",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
        check=False,
    )


async def test_the_example_uploads_in_parts_and_resumes(
    server: ApiServer,
    runtime: Runtime,
    client: httpx.AsyncClient,
    big_clip: Path,
    tmp_path: Path,
) -> None:
    account = await new_account(runtime, credits=3)
    video = tmp_path / big_clip.name
    video.write_bytes(big_clip.read_bytes())

    # A first run got as far as part 1 before the connection dropped.
    size = video.stat().st_size
    upload = await start(client, account, size)
    assert upload["partCount"] == 3
    job_id = upload["job"]["id"]
    requests = await sign(client, account, job_id, [1])
    await put_part(client, requests[1], video.read_bytes()[:MIN_PART_SIZE])
    state = video.with_name(video.name + ".hushcut-upload.json")
    state.write_text(json.dumps({"job": job_id, "size": size}))

    done = await asyncio.to_thread(run_example, server, account.token, video)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming job {job_id}: 1 of 3 parts uploaded" in done.stdout
    assert "part 1/3" not in done.stdout  # not sent again
    assert "part 2/3 uploaded" in done.stdout
    assert "part 3/3 uploaded" in done.stdout
    assert "COMPLETED" in done.stdout
    assert not state.exists()
    result = video.with_name("big talk_hushcut.mp4")
    assert media_duration(result) < 6 - 1.5  # the pause is gone
    assert await balance(runtime, account.workspace_id) == 2

    # From scratch, the same file goes up in parts again, as a new job.
    again = await asyncio.to_thread(run_example, server, account.token, video)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming" not in again.stdout
    assert "part 1/3 uploaded" in again.stdout
    assert await balance(runtime, account.workspace_id) == 1
