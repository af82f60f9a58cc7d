"""``python -m hushcut.api``: the API's command where no ``hushcut`` launcher is installed
(the launcher comes with hushcut-pipeline, which an API-only install does not have)."""

from hushcut.api.cli import api

api(prog_name="hushcut api")
