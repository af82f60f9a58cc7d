"""Web origins (scheme://host:port) and the same-origin test of browser requests."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """``https://app.example.com`` for ``https://App.example.com/path?q``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(origin: str, app_url: str) -> bool:
    """Whether a browser's ``Origin`` header names the app's own origin (``APP_URL``)."""
    return origin_of(origin) == origin_of(app_url)
