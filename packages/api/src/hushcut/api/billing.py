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


#: The most credits one payment may add: far above any pack, far below the balance column's
#: limit, so a mistyped metadata value is refused instead of overflowing.
MAX_CREDITS_PER_PAYMENT = 1_000_000
PAYMENT_EVENTS = frozenset({"checkout.session.completed", "payment_intent.succeeded"})


class UnusableEvent(ValueError):
    """A correctly signed payment event that can never be applied (its metadata is wrong).

    Answering an error would make Stripe redeliver it for days to the same end, so the
    caller acknowledges it, logs it for a person to look at, and changes nothing.
    """


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
        except stripe.SignatureVerificationError as exc:
            raise ValueError(f"bad signature: {exc.user_message or exc}") from None
        except (ValueError, RecursionError) as exc:  # not JSON, or nested too deeply
            raise ValueError(f"bad payload: {type(exc).__name__}") from None
        raw = event.to_dict()
        if not isinstance(raw.get("id"), str) or not isinstance(raw.get("type"), str):
            raise ValueError("bad payload: an event needs an id and a type")
        return event

    @staticmethod
    def paid_credits(event: stripe.Event) -> PaidCredits | None:
        """What a payment event pays for, or None for events that move no credits.

        Raises UnusableEvent when a payment event's data cannot be applied as sent.
        """
        if event.type not in PAYMENT_EVENTS:
            return None
        data = event.to_dict().get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise UnusableEvent("the event carries no data.object")
        if event.type == "checkout.session.completed":
            if obj.get("payment_status") != "paid":
                return None
            intent = obj.get("payment_intent")
            amount = obj.get("amount_total")
            checkout_id = obj.get("id")
        else:
            intent = obj.get("id")
            amount = obj.get("amount_received") or obj.get("amount")
            checkout_id = None
        if isinstance(intent, dict):  # expanded
            intent = intent.get("id")
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or not metadata.get("workspace_id"):
            # Payments of other products on the same Stripe account look like this.
            logger.warning("stripe event %s (%s) lacks Hushcut metadata", event.id, event.type)
            return None
        workspace_id, credits = metadata["workspace_id"], metadata.get("credits")
        if not isinstance(intent, str) or not intent:
            raise UnusableEvent("the payment has no payment intent id")
        return PaidCredits(
            event_id=event.id,
            event_type=event.type,
            payment_intent_id=intent,
            checkout_session_id=checkout_id if isinstance(checkout_id, str) else None,
            workspace_id=str(workspace_id),
            credits=_whole_number("credits", credits, 1, MAX_CREDITS_PER_PAYMENT),
            amount=_whole_number("amount", amount or 0, 0, 2**62),
            currency=str(obj.get("currency") or "usd")[:8],
        )


def _whole_number(name: str, value: object, low: int, high: int) -> int:
    """``value`` (an int, or a string of digits as Stripe metadata holds) within bounds."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 20:
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise UnusableEvent(f"{name} {value!r} is not a whole number from {low} to {high}")
    return number
