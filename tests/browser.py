"""How the tests launch a browser: Debian's Chromium through Playwright, never a download
(``HUSHCUT_CHROMIUM`` to use another build), by way of ``chromium.sh``, which keeps it
from scheduling itself as realtime (see there)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("HUSHCUT_CHROMIUM", "/usr/bin/chromium")
#: What Playwright starts (``executable_path``): CHROMIUM without realtime scheduling.
LAUNCHER = str(Path(__file__).with_name("chromium.sh"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
