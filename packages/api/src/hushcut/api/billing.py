"""Stripe billing: Checkout sessions for credit packs, and verified, exactly-once webhooks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe
from stripe._base_address import BaseAddresses

from hushcut.core.errors import BadUserInput, ServiceError
from hushcut.core.settings import CreditPack, Settings

logger = logging.getLogger("hushcut.api.billing")

#: Seconds a signed webhook stays acceptable; older ones are treated as replays.
WEBHOOK_TOLERANCE_S = 300


class BillingUnavailable(ServiceError):
    """Stripe could not be reached or refused the request."""

    code = "BILLING_UNAVAILABLE"
    transient = True


@dataclass(frozen=True, slots=True)
class PaidCredits:
    """A payment a webhook reports as complete: who paid, how much, for how many credits."""

    event_id: str
    event_type: str
    payment_intent_id: str
    checkout_session_id: str | None
    workspace_id: str
    credits: int
    amount: int
    currency: str


class Billing:
    """The Stripe client configured from settings (api key, webhook secret, packs, base URL)."""

    def __init__(self, settings: Settings) -> None:
        if settings.stripe_secret_key is None:
            raise ValueError("billing needs STRIPE_SECRET_KEY")
        self.settings = settings
        self.packs: dict[str, CreditPack] = dict(settings.credit_packs)
        self.default_pack = settings.default_credit_pack or next(iter(sorted(self.packs)), None)
        addresses: BaseAddresses = {}
        if settings.stripe_api_base:
            addresses["api"] = settings.stripe_api_base
        self.client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses=addresses,
            max_network_retries=1,
        )
        secret = settings.stripe_webhook_secret
        self.webhook_secret = secret.get_secret_value() if secret is not None else None

    def pack(self, name: str | None) -> tuple[str, CreditPack]:
        chosen = name or self.default_pack
        if chosen is None or chosen not in self.packs:
            known = ", ".join(sorted(self.packs)) or "none configured"
            raise BadUserInput(f"unknown credit pack {chosen!r} (packs: {known})")
        return chosen, self.packs[chosen]

    async def create_checkout(
        self, workspace_id: str, user_id: str, pack_name: str | None, email: str | None
    ) -> tuple[str, str]:
        """A Checkout session for the pack; returns its id and the URL to send the buyer to."""
        name, pack = self.pack(pack_name)
        # The workspace and credits travel in both objects' metadata, so whichever of
        # checkout.session.completed and payment_intent.succeeded arrives first can
        # credit the right workspace.
        metadata = {
            "workspace_id": workspace_id,
            "pack": name,
            "credits": str(pack.credits),
            "user_id": user_id,
        }
        base = self.settings.app_url.rstrip("/")
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{"price": pack.price_id, "quantity": 1}],
            "success_url": f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base}/billing/canceled",
            "client_reference_id": workspace_id,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
        }
        if email:
            params["customer_email"] = email
        try:
            session = await self.client.v1.checkout.sessions.create_async(params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            logger.warning("stripe refused a checkout session: %s", exc.user_message or exc)
            raise BillingUnavailable("the payment provider is unavailable; try again") from exc
        if not session.url:
            raise BillingUnavailable("the payment provider returned no checkout URL")
        return session.id, session.url

    def verify(self, payload: bytes, signature: str | None) -> stripe.Event:
        """The event, if the signature matches and is recent; raises ValueError otherwise."""
        if self.webhook_secret is None:
            raise ValueError("webhooks are not configured (STRIPE_WEBHOOK_SECRET)")
        try:
            event: stripe.Event = stripe.Webhook.construct_event(
                payload, signature, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_S
            )
            return event
        except stripe.SignatureVerificationError as exc:
            raise ValueError(f"bad signature: {exc.user_message or exc}") from None
        except ValueError as exc:  # the body is not JSON
            raise ValueError(f"bad payload: {exc}") from None

    @staticmethod
    def paid_credits(event: stripe.Event) -> PaidCredits | None:
        """What a payment event pays for, or None for events that move no credits."""
        obj: dict[str, Any] = event.data.object.to_dict()
        if event.type == "checkout.session.completed":
            if obj.get("payment_status") != "paid":
                return None
            intent = obj.get("payment_intent")
            amount = obj.get("amount_total")
            checkout_id = obj.get("id")
        elif event.type == "payment_intent.succeeded":
            intent = obj.get("id")
            amount = obj.get("amount_received") or obj.get("amount")
            checkout_id = None
        else:
            return None
        metadata = obj.get("metadata") or {}
        workspace_id, credits = metadata.get("workspace_id"), metadata.get("credits")
        if not intent or not workspace_id or not credits:
            logger.warning("stripe event %s (%s) lacks Hushcut metadata", event.id, event.type)
            return None
        return PaidCredits(
            event_id=event.id,
            event_type=event.type,
            payment_intent_id=str(intent if isinstance(intent, str) else intent["id"]),
            checkout_session_id=checkout_id,
            workspace_id=str(workspace_id),
            credits=int(credits),
            amount=int(amount or 0),
            currency=str(obj.get("currency") or "usd"),
        )
