"""Export the GraphQL schema as SDL (`python -m hushcut.api.schema_export`)."""

from __future__ import annotations

import sys

from hushcut.api.graphql.schema import build_schema


def export_sdl() -> str:
    return build_schema().as_str().rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(export_sdl())
