"""Project sessions: the same locally and in CI. Plain `nox` runs the default set.

Sessions run inside the uv workspace environment (`uv run nox`), except those that must
prove something about a clean environment (`pipeline_standalone`).
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = [
    "lint",
    "imports",
    "types",
    "web",
    "tests",
    "plugins",
    "pipeline_standalone",
]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PACKAGES = [
    "packages/core",
    "packages/pipeline",
    "packages/api",
    "packages/worker",
    "packages/platform",
]
WEB = ROOT / "packages" / "web"
#: The web app's build, checked into hushcut-api so `hushcut up` needs no Node.
WEB_DIST = ROOT / "packages" / "api" / "src" / "hushcut" / "api" / "web_dist"
# Tests that do not depend on the platform backend run once, with the embedded backend.
BACKEND_TESTS = ["tests/core", "tests/api", "tests/worker"]


def plugin_dirs() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").glob("*") if (p / "pyproject.toml").exists())


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=False)
def imports(session: nox.Session) -> None:
    """What each package may import (import-linter contracts in pyproject.toml)."""
    session.run("lint-imports")


@nox.session(python=False)
def types(session: nox.Session) -> None:
    """mypy over every package and plugin."""
    sources = [f"{p}/src" for p in PACKAGES] + [
        str(p / "src") for p in plugin_dirs() if (p / "src").exists()
    ]
    session.run("mypy", *sources)


@nox.session(python=False)
def web(session: nox.Session) -> None:
    """The web app: npm ci, prettier, type-check (every GraphQL document against
    docs/schema.graphql), vitest, build, and fail if hushcut-api's checked-in build differs
    from a fresh one."""
    if shutil.which("npm") is None:
        session.error(
            "npm is missing: install Node.js and npm (Debian: apt-get install nodejs npm)"
        )
    fresh = Path(session.create_tmp()).resolve() / "web_dist"
    session.chdir(WEB)
    session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run("npm", "run", "format:check", external=True)
    session.run("npm", "run", "typecheck", external=True)
    session.run("npx", "vitest", "run", external=True)
    session.run(
        "npx",
        "vite",
        "build",
        "--outDir",
        str(fresh),
        "--emptyOutDir",
        "--logLevel",
        "warn",
        external=True,
    )
    stale = differing_files(WEB_DIST, fresh)
    if stale:
        session.error(
            "the checked-in web build differs from a fresh one; run `npm run build` in "
            f"packages/web and commit {WEB_DIST.relative_to(ROOT)}: " + ", ".join(stale[:10])
        )


def differing_files(checked_in: Path, fresh: Path) -> list[str]:
    """Paths (relative) present in only one tree or with different contents."""
    found: list[str] = []

    def walk(compare: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(prefix + name for name in compare.left_only + compare.right_only)
        _, mismatch, errors = filecmp.cmpfiles(
            compare.left, compare.right, compare.common_files, shallow=False
        )
        found.extend(prefix + name for name in mismatch + errors)
        for name, sub in compare.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(checked_in, fresh), "")
    return sorted(found)


@nox.session(python=False)
@nox.parametrize("backend", ["embedded", "services"])
def tests(session: nox.Session, backend: str) -> None:
    """The test suite on one backend: embedded (SQLite, in-process, disk) or services."""
    env = {"HUSHCUT_TEST_BACKEND": backend}
    paths = session.posargs or (
        ["tests"] if backend == "embedded" else [p for p in BACKEND_TESTS if Path(p).exists()]
    )
    session.run("pytest", *paths, env=env)


@nox.session(python=False)
def plugins(session: nox.Session) -> None:
    """Each plugin's own tests, against the workspace's current packages."""
    dirs = [p for p in plugin_dirs() if (p / "tests").exists()]
    if not dirs:
        session.skip("no plugins with tests yet")
    for plugin in dirs:
        session.run(
            "pytest", str(plugin / "tests"), "-p", "no:cacheprovider", "--rootdir", str(plugin)
        )


@nox.session(venv_backend="uv", python="3.11")
def pipeline_standalone(session: nox.Session) -> None:
    """Build the hushcut-pipeline wheel, install only it in a clean venv, and use it."""
    dist = Path(session.create_tmp()) / "dist"
    session.run(
        "uv",
        "build",
        "--wheel",
        "--package",
        "hushcut-pipeline",
        "--out-dir",
        str(dist),
        external=True,
    )
    wheel = next(dist.glob("hushcut_pipeline-*.whl"))
    session.install(str(wheel))
    session.run(
        "python",
        "-c",
        "import hushcut.pipeline, importlib.util as u; "
        "assert all(u.find_spec(m) is None for m in "
        "('hushcut.core', 'hushcut.api', 'hushcut.worker')); print('standalone ok')",
    )
    # -P: the script's folder (tests/, whose platform.py would shadow the stdlib's) stays
    # off sys.path; media come from the wheel's own test kit.
    session.run("python", "-P", str(ROOT / "tests" / "standalone_check.py"))


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (not in the default run): see bench/README.md."""
    session.run("python", "-m", "bench", *session.posargs, env={"PYTHONPATH": str(ROOT)})


if os.environ.get("CI"):
    nox.options.reuse_existing_virtualenvs = False
