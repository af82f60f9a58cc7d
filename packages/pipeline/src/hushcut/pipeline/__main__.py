"""``python -m hushcut.pipeline``: the ``hushcut`` command, for environments without the script."""

from hushcut.pipeline.cli import main

main(prog_name="hushcut")
