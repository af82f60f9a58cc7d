"""Fixtures of the core tests: the shared platform fixtures plus core-only helpers."""

from __future__ import annotations

from tests.platform import runtime, settings

__all__ = ["runtime", "settings"]
