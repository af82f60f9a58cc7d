"""The checked-in SDL (docs/schema.graphql) is exactly what the server serves."""

from __future__ import annotations

from pathlib import Path

from hushcut.api.schema_export import export_sdl

SDL = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"


def test_checked_in_schema_is_current() -> None:
    assert SDL.exists(), (
        "docs/schema.graphql is missing: run `hushcut api schema -o docs/schema.graphql`"
    )
    assert SDL.read_text() == export_sdl(), (
        "docs/schema.graphql is stale: run `hushcut api schema -o docs/schema.graphql`"
    )


def test_schema_command_prints_and_writes_the_sdl(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hushcut.pipeline.cli import main

    printed = CliRunner().invoke(main, ["api", "schema"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == export_sdl()
    assert "type Subscription" in printed.output
    target = tmp_path / "schema.graphql"
    written = CliRunner().invoke(main, ["api", "schema", "-o", str(target)])
    assert written.exit_code == 0
    assert target.read_text() == export_sdl()
