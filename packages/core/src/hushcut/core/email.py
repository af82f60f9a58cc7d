"""Sending email: the Resend HTTP API in production, an outbox table in embedded mode."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hushcut.core.db import insert_once, transaction
from hushcut.core.models import EmailOutbox, EmailStatus
from hushcut.core.settings import Settings

log = logging.getLogger(__name__)


class EmailError(Exception):
    """The email provider refused or could not be reached; the message says which."""


@runtime_checkable
class EmailSender(Protocol):
    """Sends one email. The same ``idempotency_key`` never sends twice."""

    async def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        *,
        idempotency_key: str,
    ) -> bool:
        """Send (or record) the email; False if this key was already sent."""
        ...

    async def close(self) -> None: ...


class ResendEmailSender:
    """POST https://api.resend.com/emails with the API key and an Idempotency-Key."""

    def __init__(
        self,
        api_key: str,
        sender: str,
        base_url: str = "https://api.resend.com",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api_key = api_key
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        self._owns_client = client is None

    @classmethod
    def from_settings(cls, settings: Settings) -> ResendEmailSender:
        assert settings.resend_api_key is not None
        return cls(
            settings.resend_api_key.get_secret_value(),
            settings.email_from,
            settings.resend_base_url,
        )

    async def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        *,
        idempotency_key: str,
    ) -> bool:
        body: dict[str, object] = {
            "from": self.sender,
            "to": [to],
            "subject": subject,
            "text": text,
        }
        if html is not None:
            body["html"] = html
        try:
            response = await self._client.post(
                f"{self.base_url}/emails",
                json=body,
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    # Resend keeps keys for 24 hours: a retried send within that window
                    # is answered without sending the email again.
                    "Idempotency-Key": idempotency_key[:256],
                    "User-Agent": "hushcut",
                },
            )
        except httpx.HTTPError as exc:
            raise EmailError(f"could not reach Resend: {exc.__class__.__name__}") from exc
        if response.status_code == 409:
            # Same idempotency key with the same payload still in progress, or reused
            # with another payload: either way this email has been handled.
            log.info("email %s already sent (Resend 409)", idempotency_key)
            return False
        if response.status_code >= 400:
            raise EmailError(
                f"Resend refused the email: HTTP {response.status_code} {_reason(response)}"
            )
        log.info("email %s sent to %s via Resend", idempotency_key, _mask(to))
        return True

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class OutboxEmailSender:
    """Records each email in the ``email_outbox`` table and the log (embedded mode).

    The outbox is unique per idempotency key, so an email is never recorded twice.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], sender: str) -> None:
        self._sessionmaker = sessionmaker
        self.sender = sender

    async def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        *,
        idempotency_key: str,
    ) -> bool:
        async with self._sessionmaker() as session, transaction(session):
            recorded = await insert_once(
                session,
                EmailOutbox,
                {
                    "idempotency_key": idempotency_key,
                    "to_address": to,
                    "subject": subject,
                    "text": text,
                    "html": html,
                    "status": EmailStatus.SENT,
                },
            )
        if recorded:
            log.info(
                "email %s to %s recorded in the outbox: %s", idempotency_key, _mask(to), subject
            )
        return recorded

    async def close(self) -> None:
        return None


def create_email_sender(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> EmailSender:
    """Resend when RESEND_API_KEY is set, else the outbox."""
    if settings.resend_api_key is not None:
        return ResendEmailSender.from_settings(settings)
    return OutboxEmailSender(sessionmaker, settings.email_from)


def _mask(address: str) -> str:
    # Logs name the recipient's domain only: addresses are personal data.
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _reason(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except ValueError:
        message = None
    return str(message or response.reason_phrase)[:200]
