"""docs/configuration.md documents every setting (its environment variable)."""

from __future__ import annotations

import re
from pathlib import Path

from hushcut.core.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def env_names() -> dict[str, list[str]]:
    return Settings.environment_names()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOC.read_text(), flags=re.M))
    missing = {
        field: names
        for field, names in env_names().items()
        if not all(name.upper() in documented for name in names)
    }
    assert not missing, f"add these settings to {DOC.name}: {missing}"


def test_doc_names_no_setting_that_does_not_exist() -> None:
    known = {name.upper() for names in env_names().values() for name in names}
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOC.read_text(), flags=re.M))
    assert documented <= known, f"documented but not settings: {documented - known}"
