"""Errors the services raise; each carries the code clients see in ``extensions.code``."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal a caller can act on: ``code`` is stable, the message is for people."""

    code: str = "INTERNAL"
    #: True when the same call may succeed later (an outage), False for a definite refusal.
    transient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Unauthenticated(ServiceError):
    """No valid credentials: unknown, revoked or malformed token, no session."""

    code = "UNAUTHENTICATED"


class Forbidden(ServiceError):
    """The caller is a member of the workspace but its role does not allow the action."""

    code = "FORBIDDEN"


class NotFound(ServiceError):
    """The object does not exist or is outside every workspace the caller belongs to."""

    code = "NOT_FOUND"


class BadUserInput(ServiceError):
    """An argument is invalid (empty name, bad email, size over the limit...)."""

    code = "BAD_USER_INPUT"


class InsufficientCredits(ServiceError):
    """The workspace has no credit left for the action."""

    code = "INSUFFICIENT_CREDITS"


class Conflict(ServiceError):
    """The object's current state does not allow the action (e.g. an invalid transition)."""

    code = "CONFLICT"


class RateLimited(ServiceError):
    """Too many requests from this caller; try again later."""

    code = "RATE_LIMITED"
    transient = True


class StorageUnavailable(ServiceError):
    """Object storage could not be reached or refused the request; try again later."""

    code = "STORAGE_UNAVAILABLE"
    transient = True


class EmailUnavailable(ServiceError):
    """The email provider could not be reached or refused the message; try again later."""

    code = "EMAIL_UNAVAILABLE"
    transient = True
