"""Upload a video to a running Hushcut API, follow its progress and download the result.

    python examples/upload.py talk.mp4 --token hc_... [--url http://127.0.0.1:8000]

Uses only httpx: the same GraphQL calls any client makes (see docs/api.md).
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import httpx

JOB_FIELDS = "id status stage progress error inputDurationS outputDurationS downloadUrl"


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    reply = client.post("/graphql", json={"query": query, "variables": variables}).json()
    if reply.get("errors"):
        error = reply["errors"][0]
        code = error.get("extensions", {}).get("code", "ERROR")
        sys.exit(f"error: {code}: {error['message']}")
    return reply["data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--token", required=True, help="from `hushcut token create`")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-o", "--output", type=Path, help="where to save the result")
    args = parser.parse_args()

    video: Path = args.video
    content_type = mimetypes.guess_type(video.name)[0] or "video/mp4"
    headers = {"Authorization": f"Bearer {args.token}"}
    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as client:
        workspace = graphql(client, "{ me { workspaces { id name credits } } }")["me"][
            "workspaces"
        ][0]
        print(f"workspace {workspace['name']}: {workspace['credits']} credits")

        ticket = graphql(
            client,
            """mutation($ws: ID!, $name: String!, $size: Int!, $type: String!) {
              requestUpload(workspaceId: $ws, filename: $name, sizeBytes: $size,
                            contentType: $type) {
                job { id } url method headers { name value } } }""",
            ws=workspace["id"],
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

        job_id = ticket["job"]["id"]
        graphql(client, "mutation($id: ID!) { confirmUpload(jobId: $id) { id } }", id=job_id)
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
    except httpx.HTTPError as exc:
        sys.exit(f"error: {exc}")
