"""The embedded data directory: owner-only, with its database and key files owner-only too.

The directory holds the SQLite database (every user's email, job and payment), the key
that signs sessions and storage URLs, and the uploaded media. Other local accounts must
not read any of it, whatever the umask, so the directory is 0700 and its secret files
0600, both when they are created and, for a directory made by an older release, on
every start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
DATABASE_FILE = "hushcut.db"
SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
#: The files beside the database that SQLite writes (they hold the same rows).
_SECRET_FILES = (
    DATABASE_FILE,
    f"{DATABASE_FILE}-wal",
    f"{DATABASE_FILE}-shm",
    f"{DATABASE_FILE}-journal",
    SECRET_KEY_FILE,
)


def prepare_data_dir(path: Path) -> Path:
    """Create ``path`` owner-only (0700) if needed and make it and its secret files private."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY_MODE)
    _restrict(path, PRIVATE_DIRECTORY_MODE)
    for name in _SECRET_FILES:
        _restrict(path / name, PRIVATE_FILE_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only, unless it exists (then restrict it).

    SQLite creates its database with the umask's mode (0644 usually) and its WAL files
    with the database's mode, so the database file is made here first.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _restrict(path, PRIVATE_FILE_MODE)
        return
    os.close(fd)
    _restrict(path, PRIVATE_FILE_MODE)  # in case the umask removed the owner's bits


def _restrict(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current == mode:
        return
    try:
        path.chmod(mode)
    except PermissionError:
        # Not ours (a shared directory, a read-only mount): say so rather than refuse to
        # start, since the operator may have protected it some other way.
        log.warning(
            "%s is mode %o and could not be made %o: other local users may read it",
            path,
            current,
            mode,
        )
