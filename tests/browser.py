"""How the tests launch a browser: Debian's Chromium through Playwright, never a download
(``HUSHCUT_CHROMIUM`` to use another build)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("HUSHCUT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
