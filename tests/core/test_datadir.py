"""The embedded data directory and its secret files are readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.core.cli import token
from hushcut.core.runtime import Runtime
from hushcut.core.settings import Settings

pytestmark = pytest.mark.embedded  # the data directory is the embedded backend's state


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_data_dir_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / ".hushcut"
    settings = Settings(data_dir=data_dir)
    settings.secret_key()
    runtime = await Runtime.start(settings)  # creates and migrates hushcut.db
    try:
        async with runtime.session() as session:
            from hushcut.core.services.workspaces import get_or_create_user

            await get_or_create_user(session, "someone@example.com")  # writes the WAL
    finally:
        await runtime.close()
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "hushcut.db") == 0o600
    assert mode(data_dir / "secret.key") == 0o600
    for extra in ("hushcut.db-wal", "hushcut.db-shm"):
        if (data_dir / extra).exists():
            assert mode(data_dir / extra) == 0o600, extra


async def test_an_existing_world_readable_data_dir_is_made_private_on_start(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / ".hushcut"
    settings = Settings(data_dir=data_dir)
    started = await Runtime.start(settings)
    await started.close()
    settings.secret_key()
    # As an older release (or a careless copy) left them.
    data_dir.chmod(0o755)
    (data_dir / "hushcut.db").chmod(0o644)
    (data_dir / "secret.key").chmod(0o644)
    again = await Runtime.start(Settings(data_dir=data_dir))
    await again.close()
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "hushcut.db") == 0o600
    assert mode(data_dir / "secret.key") == 0o600


def test_token_create_makes_a_private_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli-data"
    result = CliRunner().invoke(
        token,
        ["create", "--email", "ada@example.com", "--data-dir", str(data_dir)],
        env={"HUSHCUT_DATA_DIR": None, "DATABASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "hushcut.db") == 0o600
