"""Billing: Checkout sessions through the real stripe library against a local fake, and
signed webhooks applied exactly once."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
import pytest
import stripe

from hushcut.core.models import Role
from hushcut.core.runtime import Runtime
from tests.api.conftest import (
    STRIPE_WEBHOOK_SECRET,
    ApiServer,
    Fakes,
    balance,
    error_codes,
    graphql,
    new_account,
)
from tests.platform import wait_until

CHECKOUT = (
    'mutation($ws: ID!) { createCheckoutSession(workspaceId: $ws, pack: "small") { id url } }'
)
PAYMENTS = "query($ws: ID!) { workspace(id: $ws) { credits payments { credits amount currency } } }"


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": obj},
        }
    ).encode()


async def deliver(
    client: httpx.AsyncClient,
    payload: bytes,
    *,
    secret: str = STRIPE_WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    signature = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=timestamp
    )
    return await client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


async def test_checkout_then_both_payment_events_credit_once(
    runtime: Runtime, client: httpx.AsyncClient, fakes: Fakes
) -> None:
    account = await new_account(runtime, credits=1)
    result = await graphql(client, CHECKOUT, {"ws": account.workspace_id}, account.headers)
    assert "errors" not in result, result
    checkout = result["data"]["createCheckoutSession"]
    assert checkout["url"].startswith("https://checkout.stripe.test/")
    session = fakes.stripe.sessions[checkout["id"]]
    assert session["metadata"]["workspace_id"] == account.workspace_id
    assert session["line_items_price"] == "price_small"

    intent = session["payment_intent"]
    completed = event(
        "checkout.session.completed",
        {**session, "status": "complete", "payment_status": "paid"},
    )
    succeeded = event(
        "payment_intent.succeeded",
        {
            "id": intent,
            "object": "payment_intent",
            "amount": 1000,
            "amount_received": 1000,
            "currency": "usd",
            "status": "succeeded",
            "metadata": session["metadata"],
        },
    )
    assert (await deliver(client, completed)).status_code == 200
    assert await balance(runtime, account.workspace_id) == 11
    assert (await deliver(client, succeeded)).status_code == 200  # same payment
    assert (await deliver(client, completed)).status_code == 200  # a replay
    assert await balance(runtime, account.workspace_id) == 11

    shown = await graphql(client, PAYMENTS, {"ws": account.workspace_id}, account.headers)
    workspace = shown["data"]["workspace"]
    assert workspace["credits"] == 11
    assert workspace["payments"] == [{"credits": 10, "amount": 1000, "currency": "usd"}]


async def test_payment_intent_first_then_checkout_credits_once(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=0)
    metadata = {"workspace_id": account.workspace_id, "credits": "10", "pack": "small"}
    intent = "pi_" + secrets.token_hex(8)
    first = event(
        "payment_intent.succeeded",
        {"id": intent, "amount_received": 1000, "currency": "usd", "metadata": metadata},
    )
    second = event(
        "checkout.session.completed",
        {
            "id": "cs_x",
            "payment_intent": intent,
            "payment_status": "paid",
            "amount_total": 1000,
            "currency": "usd",
            "metadata": metadata,
        },
    )
    for payload in (first, second):
        assert (await deliver(client, payload)).status_code == 200
    assert await balance(runtime, account.workspace_id) == 10


async def test_bad_signature_stale_timestamp_and_replays_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=0)
    metadata = {"workspace_id": account.workspace_id, "credits": "10"}
    payload = event(
        "checkout.session.completed",
        {
            "id": "cs_1",
            "payment_intent": "pi_" + secrets.token_hex(8),
            "payment_status": "paid",
            "amount_total": 1000,
            "currency": "usd",
            "metadata": metadata,
        },
    )
    wrong_key = await deliver(client, payload, secret="whsec_someone_else")
    assert wrong_key.status_code == 400
    stale = await deliver(client, payload, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400
    unsigned = await client.post("/webhooks/stripe", content=payload)
    assert unsigned.status_code == 400
    tampered_body = payload.replace(b'"credits": "10"', b'"credits": "99"')
    signature = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), STRIPE_WEBHOOK_SECRET
    )
    tampered = await client.post(
        "/webhooks/stripe", content=tampered_body, headers={"Stripe-Signature": signature}
    )
    assert tampered.status_code == 400
    assert await balance(runtime, account.workspace_id) == 0

    assert (await deliver(client, payload)).status_code == 200
    assert (await deliver(client, payload)).status_code == 200
    assert await balance(runtime, account.workspace_id) == 10


async def test_only_owners_and_admins_buy_credits(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from hushcut.core.services import tokens, workspaces
    from hushcut.core.services.auth import Actor

    owner = await new_account(runtime)
    member = await new_account(runtime)
    async with runtime.session() as session:
        await workspaces.add_member(
            session, Actor(owner.user_id), owner.workspace_id, member.email, Role.MEMBER
        )
        _, token = await tokens.create_api_token(
            session, Actor(member.user_id), owner.workspace_id, "member token"
        )
    result = await graphql(
        client, CHECKOUT, {"ws": owner.workspace_id}, {"Authorization": f"Bearer {token}"}
    )
    assert error_codes(result) == ["FORBIDDEN"]
    unknown_pack = await graphql(
        client,
        'mutation($ws: ID!) { createCheckoutSession(workspaceId: $ws, pack: "huge") { url } }',
        {"ws": owner.workspace_id},
        owner.headers,
    )
    assert error_codes(unknown_pack) == ["BAD_USER_INPUT"]


def paid_session(workspace_id: str, **metadata: Any) -> dict[str, Any]:
    return {
        "id": "cs_" + secrets.token_hex(6),
        "payment_intent": "pi_" + secrets.token_hex(8),
        "payment_status": "paid",
        "amount_total": 1000,
        "currency": "usd",
        "metadata": {"workspace_id": workspace_id, **metadata},
    }


def raw_event(**fields: Any) -> bytes:
    base = json.loads(event("checkout.session.completed", {}))
    base.update(fields)
    return json.dumps({key: value for key, value in base.items() if value is not None}).encode()


@pytest.mark.parametrize(
    "make_payload",
    [
        lambda ws: event("checkout.session.completed", paid_session(ws, credits="-5")),
        lambda ws: event("checkout.session.completed", paid_session(ws, credits="0")),
        lambda ws: event("checkout.session.completed", paid_session(ws, credits="abc")),
        lambda ws: event("checkout.session.completed", paid_session(ws, credits="99999999999")),
        lambda ws: event(
            "payment_intent.succeeded", {"id": "pi_x", "metadata": {"workspace_id": ws}}
        ),
        lambda ws: raw_event(data=None),
        lambda ws: raw_event(data={}),
        lambda ws: raw_event(data={"object": "cs_123"}),
        lambda ws: raw_event(type="payment_intent.succeeded", data=[1, 2]),
    ],
    ids=[
        "credits-negative",
        "credits-zero",
        "credits-not-a-number",
        "credits-overflow",
        "credits-missing",
        "no-data",
        "no-object",
        "object-not-an-object",
        "data-a-list",
    ],
)
async def test_signed_events_that_cannot_apply_are_acknowledged_and_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient, server: ApiServer, make_payload: Any
) -> None:
    account = await new_account(runtime, credits=2)
    payload = make_payload(account.workspace_id)
    event_id = json.loads(payload)["id"]
    response = await deliver(client, payload)
    # 2xx: Stripe would redeliver any error answer for days, to the same end.
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    assert await balance(runtime, account.workspace_id) == 2

    def logged() -> list[str]:
        return [line for line in server.output.splitlines() if event_id in line]

    async def said() -> bool:
        return bool(logged())

    await wait_until(said, timeout=5, message="said")
    [line] = logged()  # one line, no traceback
    assert "not applied" in line
    assert "Traceback" not in line
    assert json.loads(line)["level"] == "error"


async def test_malformed_signed_payloads_are_refused(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=2)
    nested = b'{"id": "evt_nested", "type": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    no_id = raw_event(id=None, data={"object": paid_session(account.workspace_id, credits="5")})
    for payload in (nested, no_id, b"not json"):
        response = await deliver(client, payload)
        assert response.status_code == 400, response.text
    assert await balance(runtime, account.workspace_id) == 2
