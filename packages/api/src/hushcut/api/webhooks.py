"""POST /webhooks/stripe: verify Stripe's signature, then apply each payment event once."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, post
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND

from hushcut.api.billing import UnusableEvent
from hushcut.api.state import ApiState
from hushcut.core.errors import NotFound
from hushcut.core.services import payments as payment_service

logger = logging.getLogger("hushcut.api.webhooks")


@post("/webhooks/stripe", status_code=HTTP_200_OK, include_in_schema=False)
async def stripe_webhook(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    api: ApiState = request.app.state.api
    if api.billing is None:
        return Response({"error": "billing is not enabled"}, status_code=HTTP_404_NOT_FOUND)
    payload = await request.body()
    try:
        event = api.billing.verify(payload, request.headers.get("stripe-signature"))
    except ValueError as exc:
        logger.warning("refused a Stripe webhook: %s", exc)
        return Response({"error": str(exc)}, status_code=HTTP_400_BAD_REQUEST)
    try:
        paid = api.billing.paid_credits(event)
        unusable = None
    except UnusableEvent as exc:
        # Signed by Stripe but never applicable: acknowledged (an error answer would only
        # bring it back for days), changing nothing, and said once for a person to act on.
        paid, unusable = None, exc
        logger.error("stripe event %s (%s) not applied: %s", event.id, event.type, exc)
    async with api.runtime.sessionmaker() as session:
        if paid is None:
            await payment_service.record_webhook_event(session, "stripe", event.id, event.type)
            if unusable is not None:
                return Response({"status": "ignored", "reason": str(unusable)})
            return Response({"status": "ignored"})
        try:
            payment = await payment_service.apply_payment(
                session,
                provider_event_id=paid.event_id,
                event_type=paid.event_type,
                workspace_id=paid.workspace_id,
                credits=paid.credits,
                amount=paid.amount,
                currency=paid.currency,
                payment_intent_id=paid.payment_intent_id,
                checkout_session_id=paid.checkout_session_id,
            )
        except NotFound:
            # Stripe retries non-2xx answers for days; a deleted workspace never returns.
            logger.error(
                "stripe event %s pays for unknown workspace %s", event.id, paid.workspace_id
            )
            return Response({"status": "unknown workspace"})
    if payment is None:
        logger.info("stripe event %s (%s) was already applied", event.id, event.type)
        return Response({"status": "duplicate"})
    logger.info(
        "applied stripe payment %s: %d credits to workspace %s",
        paid.payment_intent_id,
        paid.credits,
        paid.workspace_id,
    )
    return Response({"status": "applied"})
