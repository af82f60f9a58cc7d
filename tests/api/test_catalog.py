"""cutOptions and creditPacks: what a client's forms offer."""

from __future__ import annotations

import uuid

import httpx

from hushcut.core.capabilities import OptionOffer
from hushcut.core.runtime import Runtime
from hushcut.core.services import workers
from hushcut.core.services.workers import OfferedOptions
from tests.api.conftest import error_codes, graphql, new_account

OPTIONS = "{ cutOptions { name plugin key description default schema } }"


async def test_cut_options_list_the_built_in_options_with_their_schema(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    result = await graphql(client, OPTIONS, headers=account.headers)
    options = {option["name"]: option for option in result["data"]["cutOptions"]}
    assert list(options)[:5] == ["thresholdDb", "minSilenceS", "marginS", "mode", "audioTrack"]
    assert options["minSilenceS"]["default"] == 0.3
    assert options["minSilenceS"]["schema"] == {"type": "number", "minimum": 0.0, "maximum": 60.0}
    assert options["thresholdDb"]["default"] is None  # measured per recording
    assert options["thresholdDb"]["schema"] == {"type": "number", "minimum": -120.0, "maximum": 0.0}
    assert options["mode"]["schema"] == {"type": "string", "enum": ["SMART", "REENCODE"]}
    assert options["mode"]["default"] == "SMART"
    assert options["audioTrack"]["default"] is None  # the file's default track
    assert options["audioTrack"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 255}
    assert all(option["plugin"] is None and option["description"] for option in options.values())


async def test_cut_options_list_the_plugin_options_workers_offer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # A second worker beside the server's own, with a plugin the first lacks: the
    # catalog lists what workers advertise (the API never loads plugins itself).
    offers = await OfferedOptions(runtime.sessionmaker).current_offers()
    assert offers, "the test server's in-process worker has registered"
    base = offers[0]
    plugin = f"chapters{uuid.uuid4().hex[:6]}"
    schema = {"type": "number", "exclusiveMinimum": 0, "title": "Every S"}
    properties = dict(base.options_schema.get("properties", {}))
    properties["plugins"] = {
        "type": "object",
        "properties": {plugin: {"type": "object", "properties": {"every_s": schema}}},
    }
    offer = base.model_copy(
        update={
            "options": (
                *base.options,
                OptionOffer(
                    plugin=plugin, key="every_s", type="float", default=30.0, help="Mark a chapter."
                ),
            ),
            "options_schema": {**base.options_schema, "properties": properties},
        }
    )
    worker_id = f"catalog-test-{uuid.uuid4().hex[:8]}"
    async with runtime.session() as session:
        await workers.register_worker(session, worker_id, offer, lease_s=120)
    try:
        account = await new_account(runtime)
        result = await graphql(client, OPTIONS, headers=account.headers)
        listed = {o["name"]: o for o in result["data"]["cutOptions"]}
        assert listed[f"{plugin}.every_s"] == {
            "name": f"{plugin}.every_s",
            "plugin": plugin,
            "key": "every_s",
            "description": "Mark a chapter.",
            "default": 30.0,
            "schema": {"type": "number", "exclusiveMinimum": 0},
        }
        assert list(listed)[:5] == ["thresholdDb", "minSilenceS", "marginS", "mode", "audioTrack"]
    finally:
        async with runtime.session() as session:
            await workers.retire_worker(session, worker_id)


async def test_catalog_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    assert error_codes(await graphql(client, OPTIONS)) == ["UNAUTHENTICATED"]
    assert error_codes(await graphql(client, "{ creditPacks { name } }")) == ["UNAUTHENTICATED"]


async def test_credit_packs_are_those_configured(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    result = await graphql(client, "{ creditPacks { name credits } }", headers=account.headers)
    assert result["data"]["creditPacks"] == [{"name": "small", "credits": 10}]
