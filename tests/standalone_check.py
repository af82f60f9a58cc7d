"""Run by `nox -s pipeline_standalone` inside a venv holding only hushcut-pipeline."""

from __future__ import annotations

import subprocess
import sys

result = subprocess.run(["hushcut", "--help"], capture_output=True, text=True, check=False)
print(result.stdout)
sys.exit(result.returncode)
