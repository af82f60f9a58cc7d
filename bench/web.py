"""Web app benchmark: initial JavaScript size, and how soon the dashboard is usable.

- Initial JavaScript: the scripts ``index.html`` loads before anything else (its module
  script and modulepreloads), gzipped as the server sends them. Budget: 200 KB.
- Dashboard interactive: `hushcut up` (embedded, one process) on loopback with a workspace
  of 20 jobs; a signed-in Chromium (Debian's, through Playwright) opens ``/`` with a cold
  cache, ``--runs`` times. Interactive = the upload input is on the page and the first page
  of jobs is shown, read from ``performance.now()`` in the page (milliseconds since the
  navigation started). Budget: under 1 s (median and p90). Beside it, in the same run and
  the same browser, a bare navigation to a static file of the same server: the ratio says
  how much the app adds to what any page costs on this machine.

Results: bench/results/web.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WEB_DIST = ROOT / "packages" / "api" / "src" / "hushcut" / "api" / "web_dist"
CHROMIUM = os.environ.get("HUSHCUT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
INITIAL_JS_BUDGET = 200 * 1024
INTERACTIVE_BUDGET_MS = 1000.0

#: Runs in the page before its own scripts: notes when the dashboard can be used.
MARK_INTERACTIVE = """
new MutationObserver((_, observer) => {
  const input = document.querySelector('input#video-file');
  const jobs = document.querySelector('ul.jobs li.job, .empty');
  if (input && jobs && window.__interactive === undefined) {
    window.__interactive = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true});
"""


def initial_javascript(dist: Path = WEB_DIST) -> dict[str, int]:
    """Gzipped bytes of each script index.html loads up front."""
    page = (dist / "index.html").read_text()
    scripts = re.findall(r'<script type="module"[^>]*src="([^"]+)"', page)
    scripts += re.findall(r'<link rel="modulepreload"[^>]*href="([^"]+)"', page)
    return {
        src: len(gzip.compress((dist / src.lstrip("/")).read_bytes(), compresslevel=9, mtime=0))
        for src in scripts
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    hushcut = Path(sys.executable).with_name("hushcut")
    env = {**os.environ, "HUSHCUT_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env.setdefault("HUSHCUT_DISABLE_PLUGIN_AUTOLOAD", "1")
    process = subprocess.Popen(
        [str(hushcut), "up", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("hushcut up exited early")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("hushcut up did not answer within 90 s")


async def seed(data_dir: Path, jobs: int) -> str:
    """A user with a workspace of ``jobs`` jobs (most completed, some failed); its token."""
    from sqlalchemy import update

    from hushcut.core.models import JobStatus, VideoJob, utcnow
    from hushcut.core.runtime import Runtime
    from hushcut.core.services import jobs as job_service
    from hushcut.core.services import tokens, workspaces
    from hushcut.core.services.auth import Actor
    from hushcut.core.settings import load_settings

    runtime = await Runtime.start(load_settings(data_dir), upgrade=False)
    try:
        async with runtime.session() as session:
            user = await workspaces.get_or_create_user(session, "bench@example.com", "Bench")
            actor = Actor(user.id)
            workspace = await workspaces.create_workspace(
                session, actor, "Bench", starter_credits=50
            )
            _, token = await tokens.create_api_token(session, actor, workspace.id, "bench")
            for index in range(jobs):
                name = f"talk-{index:02d}.mp4"
                job = await job_service.create_job(
                    session, actor, workspace.id, name, 50_000_000, "video/mp4", {}
                )
                failed = index % 4 == 3
                await session.execute(
                    update(VideoJob)
                    .where(VideoJob.id == job.id)
                    .values(
                        status=JobStatus.FAILED if failed else JobStatus.COMPLETED,
                        error="talk.mp4 cannot be read as media" if failed else None,
                        input_duration_s=None if failed else 600.0,
                        output_duration_s=None if failed else 431.5,
                        output_key=None if failed else f"output/{job.id}/talk_hushcut.mp4",
                        progress=1.0,
                        finished_at=utcnow(),
                    )
                )
            await session.commit()
        return token
    finally:
        await runtime.close()


async def measure(url: str, token: str, runs: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=url) as client:
        signed_in = await client.post("/auth/token", json={"token": token})
        signed_in.raise_for_status()
        cookies = [
            {"name": name, "value": value, "url": url} for name, value in client.cookies.items()
        ]
    found: dict[str, list[float]] = {"dashboard_interactive_ms": [], "bare_navigation_ms": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for run in range(runs + 1):  # the first run warms the server, not measured
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                await context.add_cookies(cookies)  # type: ignore[arg-type]
                await context.add_init_script(MARK_INTERACTIVE)
                page = await context.new_page()
                await page.goto(f"{url}/robots.txt")
                bare = await page.evaluate(
                    "() => performance.getEntriesByType('navigation')[0].responseEnd"
                )
                await page.goto(f"{url}/")
                await page.wait_for_function("() => window.__interactive !== undefined")
                interactive = await page.evaluate("() => window.__interactive")
                await context.close()
                if run > 0:
                    found["dashboard_interactive_ms"].append(float(interactive))
                    found["bare_navigation_ms"].append(float(bare))
        finally:
            await browser.close()
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="cold dashboard loads (default 15)")
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the workspace (default 20)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        return 2

    sizes = initial_javascript()
    initial = sum(sizes.values())
    print(f"initial JavaScript: {initial / 1024:.1f} KB gzipped in {len(sizes)} files "
          f"(budget {INITIAL_JS_BUDGET // 1024} KB)")  # fmt: skip
    for src, size in sizes.items():
        print(f"  {src}: {size / 1024:.1f} KB")

    data_dir = Path(tempfile.mkdtemp(prefix="hushcut-bench-web-"))
    port = free_port()
    server = None
    try:
        subprocess.run(  # migrate the embedded database before seeding it
            [str(Path(sys.executable).with_name("hushcut")), "db", "upgrade",
             "--data-dir", str(data_dir)],
            check=True, capture_output=True,
        )  # fmt: skip
        token = asyncio.run(seed(data_dir, args.jobs))
        server = start_server(data_dir, port)
        load = os.getloadavg()
        found = asyncio.run(measure(f"http://127.0.0.1:{port}", token, args.runs))
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        shutil.rmtree(data_dir, ignore_errors=True)

    interactive = found["dashboard_interactive_ms"]
    bare = found["bare_navigation_ms"]
    median, p90 = statistics.median(interactive), percentile(interactive, 0.9)
    bare_median = statistics.median(bare)
    print(f"dashboard interactive over {len(interactive)} cold loads, {args.jobs} jobs: "
          f"median {median:.0f} ms, p90 {p90:.0f} ms, max {max(interactive):.0f} ms "
          f"(budget {INTERACTIVE_BUDGET_MS:.0f} ms)")  # fmt: skip
    print(f"bare navigation (/robots.txt), same run: median {bare_median:.1f} ms; "
          f"dashboard / bare = {median / bare_median:.1f}x")  # fmt: skip
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    met = {
        "initial_js": initial <= INITIAL_JS_BUDGET,
        "interactive_median": median < INTERACTIVE_BUDGET_MS,
        "interactive_p90": p90 < INTERACTIVE_BUDGET_MS,
    }
    for name, ok in met.items():
        print(f"  target {name}: {'met' if ok else 'MISSED'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "initial_js_gzip_bytes": initial,
        "initial_js_files": sizes,
        "runs": len(interactive),
        "jobs": args.jobs,
        "dashboard_interactive_ms": {"median": median, "p90": p90, "all": interactive},
        "bare_navigation_ms": {"median": bare_median, "all": bare},
        "ratio_dashboard_to_bare": median / bare_median,
        "load_average": load,
        "targets": met,
    }
    (RESULTS / "web.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(met.values()) else 1
