"""Opaque connection cursors: a job listing's position as a URL-safe string clients pass back."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from hushcut.core.errors import BadUserInput
from hushcut.core.services.jobs import JobPosition
from hushcut.core.services.paging import Position


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.created_at.isoformat(), position.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> JobPosition:
    """The position a cursor names; BadUserInput for anything this API did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        when = datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(job_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadUserInput("invalid cursor") from None
    return JobPosition(when, job_id)
