"""`hushcut db upgrade` and `hushcut token create` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.core.cli import db, token
from hushcut.core.db import create_engine, create_sessionmaker, known_revisions
from hushcut.core.services import credits, tokens, workspaces
from hushcut.core.settings import Settings
from tests.conftest import Services
from tests.platform import create_database, drop_database, run_sync


def cli_env(settings: Settings) -> dict[str, str | None]:
    return {"HUSHCUT_DATA_DIR": None, "DATABASE_URL": settings.database_url}


async def token_owner(settings: Settings, plaintext: str) -> tuple[str, int, str]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            actor = await tokens.verify_api_token(session, plaintext)
            [workspace] = await workspaces.list_workspaces(session, actor)
            user = await workspaces.get_user(session, actor.user_id)
            assert await credits.ledger_sum(session, workspace.id) == workspace.credits
            return user.email, workspace.credits, workspace.name
    finally:
        await engine.dispose()


def test_token_create(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = str(settings.data_dir)
    args = ["create", "--email", "Ada@Example.com", "--data-dir", data_dir]
    first = runner.invoke(token, [*args, "--credits", "12"], env=cli_env(settings))
    assert first.exit_code == 0, first.output
    plaintext = first.output.strip().splitlines()[-1]
    assert plaintext.startswith("hc_")
    assert run_sync(token_owner(settings, plaintext)) == ("ada@example.com", 12, "Personal")

    again = runner.invoke(token, [*args, "--workspace", "Studio"], env=cli_env(settings))
    assert again.exit_code == 0, again.output
    second = again.output.strip().splitlines()[-1]
    assert second != plaintext
    assert run_sync(token_owner(settings, second)) == ("ada@example.com", 5, "Studio")


def test_token_create_refuses_bad_email(settings: Settings) -> None:
    result = CliRunner().invoke(
        token,
        ["create", "--email", "nobody", "--data-dir", str(settings.data_dir)],
        env=cli_env(settings),
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: not an email address: 'nobody'"


def test_token_create_on_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    result = CliRunner().invoke(
        token,
        ["create", "--email", "a@example.com"],
        env={"HUSHCUT_DATA_DIR": str(data_dir), "DATABASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    assert (data_dir / "hushcut.db").exists()
    settings = Settings(data_dir=data_dir)
    assert run_sync(token_owner(settings, result.output.strip().splitlines()[-1]))[1] == 5


def test_db_upgrade(settings: Settings) -> None:
    result = CliRunner().invoke(
        db, ["upgrade", "--data-dir", str(settings.data_dir)], env=cli_env(settings)
    )
    assert result.exit_code == 0, result.output
    revisions = known_revisions()
    head = max(revisions, key=revisions.__getitem__)
    assert result.output.strip().endswith(f"database at revision {head}")


def test_db_upgrade_unreachable_database(tmp_path: Path) -> None:
    from tests.servers import free_port

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    result = CliRunner().invoke(db, ["upgrade"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot reach the database")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.services
def test_production_database_needs_the_release_step(tmp_path: Path, services: Services) -> None:
    url = create_database(services, migrated=False)
    env: dict[str, str | None] = {"DATABASE_URL": url, "HUSHCUT_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    try:
        refused = runner.invoke(token, ["create", "--email", "a@example.com"], env=env)
        assert refused.exit_code == 1
        assert refused.output.strip().splitlines() == [
            'Error: database error: relation "users" does not exist '
            "(is the schema up to date? run `hushcut db upgrade`)"
        ]
        assert runner.invoke(db, ["upgrade"], env=env).exit_code == 0
        created = runner.invoke(token, ["create", "--email", "a@example.com"], env=env)
        assert created.exit_code == 0, created.output
        assert created.output.strip().splitlines()[-1].startswith("hc_")
        # Nothing was written to the data directory: the database is PostgreSQL.
        assert not (tmp_path / "hushcut.db").exists()
    finally:
        drop_database(services, url)
