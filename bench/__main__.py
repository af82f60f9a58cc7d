"""Run benchmarks: ``python -m bench`` runs every one present, ``python -m bench NAME [ARGS]`` one.

Each benchmark is a module ``bench/<name>.py`` with ``main(argv: list[str]) -> int``;
the known names are listed in ``SUITES`` in the order a full run takes them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

#: Benchmarks in run order; a module that does not exist (yet) is skipped in a full run.
SUITES = ("pipeline", "api", "worker", "web")


def available() -> list[str]:
    return [name for name in SUITES if importlib.util.find_spec(f"bench.{name}") is not None]


def run(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv) or 0)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("available:", ", ".join(available()) or "none")
        return 0
    if argv and not argv[0].startswith("-"):
        name, rest = argv[0], argv[1:]
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"no benchmark named {name!r}; available: {', '.join(available())}")
            return 2
        return run(name, rest)
    status = 0
    for name in available():
        print(f"== bench {name} ==", flush=True)
        status = max(status, run(name, argv))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
