"""Upload a video to a running Hushcut API, follow its progress and download the result.

    python examples/upload.py talk.mp4 --token hc_... [--url http://127.0.0.1:8000]

Uses only httpx: the same GraphQL calls any client makes (see docs/api.md). Files from
--multipart-threshold MiB (default 64; always above 5 GiB) go up in parts: each part is
sent (and retried) on its own, and an interrupted upload resumes where it stopped when
the same command is run again (the job is remembered in <video>.hushcut-upload.json).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import httpx

JOB_FIELDS = "id status stage progress error inputDurationS outputDurationS downloadUrl"
MiB = 1024 * 1024
#: One PUT carries at most this much; bigger files must go up in parts.
MAX_SINGLE_PUT = 5 * 1024 * MiB
#: Part URLs asked for at once (the API signs at most 100 a call).
SIGN_BATCH = 20
PART_ATTEMPTS = 4


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    reply = client.post("/graphql", json={"query": query, "variables": variables}).json()
    if reply.get("errors"):
        error = reply["errors"][0]
        raise ApiError(error.get("extensions", {}).get("code", "ERROR"), error["message"])
    data: dict[str, Any] = reply["data"]
    return data


def upload_whole(client: httpx.Client, workspace_id: str, video: Path, content_type: str) -> str:
    """One presigned PUT for the whole file; returns the job id."""
    ticket = graphql(
        client,
        """mutation($ws: ID!, $name: String!, $size: Long!, $type: String!) {
          requestUpload(workspaceId: $ws, filename: $name, sizeBytes: $size,
                        contentType: $type) {
            job { id } url method headers { name value } } }""",
        ws=workspace_id,
        name=video.name,
        size=video.stat().st_size,
        type=content_type,
    )["requestUpload"]
    upload_headers = {h["name"]: h["value"] for h in ticket["headers"]}
    with video.open("rb") as body:
        put = httpx.request(
            ticket["method"], ticket["url"], content=body, headers=upload_headers, timeout=600
        )
    put.raise_for_status()
    return str(ticket["job"]["id"])


class PartsUpload:
    """An upload in parts of ``video``, resumable through a small state file beside it."""

    def __init__(self, client: httpx.Client, video: Path) -> None:
        self.client = client
        self.video = video
        self.size = video.stat().st_size
        self.state = video.with_name(video.name + ".hushcut-upload.json")

    def start_or_resume(
        self, workspace_id: str, content_type: str, part_size: int | None
    ) -> tuple[str, int, int, set[int]]:
        """(job id, part size, part count, parts storage already holds)."""
        resumed = self._resume()
        if resumed is not None:
            return resumed
        upload = graphql(
            self.client,
            """mutation($ws: ID!, $name: String!, $size: Long!, $type: String!, $part: Long) {
              startMultipartUpload(workspaceId: $ws, filename: $name, sizeBytes: $size,
                                   contentType: $type, partSizeBytes: $part) {
                job { id } partSizeBytes partCount } }""",
            ws=workspace_id,
            name=self.video.name,
            size=self.size,
            type=content_type,
            part=part_size,
        )["startMultipartUpload"]
        job_id = str(upload["job"]["id"])
        self.state.write_text(json.dumps({"job": job_id, "size": self.size}))
        return job_id, int(upload["partSizeBytes"]), int(upload["partCount"]), set()

    def _resume(self) -> tuple[str, int, int, set[int]] | None:
        try:
            saved = json.loads(self.state.read_text())
        except (OSError, ValueError):
            return None
        if saved.get("size") != self.size:
            return None  # another file of the same name: start again
        try:
            job = graphql(
                self.client,
                """query($id: ID!) { job(id: $id) { status multipartUpload {
                     partSizeBytes partCount uploadedParts { partNumber } } } }""",
                id=saved["job"],
            )["job"]
        except ApiError:
            return None
        upload = job["multipartUpload"]
        if upload is None:
            return None  # confirmed, canceled or given up: start again
        held = {part["partNumber"] for part in upload["uploadedParts"]}
        print(f"resuming job {saved['job']}: {len(held)} of {upload['partCount']} parts uploaded")
        return str(saved["job"]), int(upload["partSizeBytes"]), int(upload["partCount"]), held

    def send(self, job_id: str, part_size: int, count: int, held: set[int]) -> None:
        """Send every part storage does not hold yet, each retried on its own."""
        missing = [number for number in range(1, count + 1) if number not in held]
        with self.video.open("rb") as source:
            for start in range(0, len(missing), SIGN_BATCH):
                batch = missing[start : start + SIGN_BATCH]
                for number, request in self._sign(job_id, batch).items():
                    source.seek((number - 1) * part_size)
                    body = source.read(int(request["sizeBytes"]))
                    self._send_part(job_id, number, request, body)
                    print(f"  part {number}/{count} uploaded")

    def _sign(self, job_id: str, numbers: list[int]) -> dict[int, dict[str, Any]]:
        signed = graphql(
            self.client,
            """mutation($id: ID!, $parts: [Int!]!) {
                 signUploadParts(jobId: $id, partNumbers: $parts) {
                   partNumber sizeBytes url method headers { name value } } }""",
            id=job_id,
            parts=numbers,
        )["signUploadParts"]
        return {int(request["partNumber"]): request for request in signed}

    def _send_part(self, job_id: str, number: int, request: dict[str, Any], body: bytes) -> None:
        for attempt in range(1, PART_ATTEMPTS + 1):
            headers = {h["name"]: h["value"] for h in request["headers"]}
            try:
                put = httpx.request(
                    request["method"], request["url"], content=body, headers=headers, timeout=600
                )
                put.raise_for_status()
                return
            except httpx.HTTPError as exc:
                if attempt == PART_ATTEMPTS:
                    raise
                print(f"  part {number} failed ({exc}); retrying it", file=sys.stderr)
                time.sleep(2**attempt)
                request = self._sign(job_id, [number])[number]  # the URL may have expired

    def done(self) -> None:
        self.state.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--token", required=True, help="from `hushcut token create`")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-o", "--output", type=Path, help="where to save the result")
    parser.add_argument(
        "--multipart-threshold",
        type=float,
        default=64,
        metavar="MiB",
        help="upload files this large or larger in parts (default 64)",
    )
    parser.add_argument(
        "--part-size",
        type=float,
        default=None,
        metavar="MiB",
        help="part size (default: the API's)",
    )
    args = parser.parse_args()

    video: Path = args.video
    content_type = mimetypes.guess_type(video.name)[0] or "video/mp4"
    headers = {"Authorization": f"Bearer {args.token}"}
    size = video.stat().st_size
    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as client:
        workspace = graphql(client, "{ me { workspaces { id name credits } } }")["me"][
            "workspaces"
        ][0]
        print(f"workspace {workspace['name']}: {workspace['credits']} credits")

        if size >= args.multipart_threshold * MiB or size > MAX_SINGLE_PUT:
            parts = PartsUpload(client, video)
            part_size = int(args.part_size * MiB) if args.part_size else None
            job_id, part_bytes, count, held = parts.start_or_resume(
                workspace["id"], content_type, part_size
            )
            parts.send(job_id, part_bytes, count, held)
        else:
            parts = None
            job_id = upload_whole(client, workspace["id"], video, content_type)

        graphql(client, "mutation($id: ID!) { confirmUpload(jobId: $id) { id } }", id=job_id)
        if parts is not None:
            parts.done()
        print(f"job {job_id} queued")

        while True:
            job = graphql(
                client, f"query($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}", id=job_id
            )["job"]
            print(f"  {job['status']:<10} {job['stage'] or '':<12} {job['progress']:.0%}")
            if job["status"] in {"COMPLETED", "FAILED", "CANCELED"}:
                break
            time.sleep(1)  # a program that wants every event subscribes to jobUpdates instead

        if job["status"] != "COMPLETED":
            sys.exit(f"error: job {job['status']}: {job['error']}")
        output = args.output or video.with_name(f"{video.stem}_hushcut.mp4")
        with httpx.stream("GET", job["downloadUrl"], timeout=600) as download:
            download.raise_for_status()
            with output.open("wb") as out:
                for chunk in download.iter_bytes():
                    out.write(chunk)
        print(f"{output}: {job['inputDurationS']:.1f}s -> {job['outputDurationS']:.1f}s")


if __name__ == "__main__":
    try:
        main()
    except ApiError as exc:
        sys.exit(f"error: {exc}")
    except httpx.HTTPError as exc:
        sys.exit(f"error: {exc}")
