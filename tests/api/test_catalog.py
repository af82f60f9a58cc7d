"""cutOptions and creditPacks: what a client's forms offer."""

from __future__ import annotations

import httpx

from hushcut.core.runtime import Runtime
from tests.api.conftest import error_codes, graphql, new_account

OPTIONS = "{ cutOptions { name plugin key description default schema } }"


async def test_cut_options_list_the_built_in_options_with_their_schema(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    result = await graphql(client, OPTIONS, headers=account.headers)
    options = {option["name"]: option for option in result["data"]["cutOptions"]}
    assert list(options)[:4] == ["thresholdDb", "minSilenceS", "marginS", "mode"]
    assert options["minSilenceS"]["default"] == 0.3
    assert options["minSilenceS"]["schema"] == {"type": "number", "minimum": 0.0, "maximum": 60.0}
    assert options["thresholdDb"]["default"] is None  # measured per recording
    assert options["thresholdDb"]["schema"] == {"type": "number", "minimum": -120.0, "maximum": 0.0}
    assert options["mode"]["schema"] == {"type": "string", "enum": ["SMART", "REENCODE"]}
    assert options["mode"]["default"] == "SMART"
    assert all(option["plugin"] is None and option["description"] for option in options.values())


async def test_catalog_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    assert error_codes(await graphql(client, OPTIONS)) == ["UNAUTHENTICATED"]
    assert error_codes(await graphql(client, "{ creditPacks { name } }")) == ["UNAUTHENTICATED"]


async def test_credit_packs_are_those_configured(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    result = await graphql(client, "{ creditPacks { name credits } }", headers=account.headers)
    assert result["data"]["creditPacks"] == [{"name": "small", "credits": 10}]
