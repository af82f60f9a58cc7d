"""The checked-in SDL (docs/schema.graphql) is exactly what the server serves."""

from __future__ import annotations

import subprocess
import sys
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


def test_schema_command_prints_the_sdl() -> None:
    hushcut = Path(sys.executable).with_name("hushcut")
    printed = subprocess.run(
        [str(hushcut), "api", "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == export_sdl()
    assert "subscription: Subscription" in printed or "type Subscription" in printed
