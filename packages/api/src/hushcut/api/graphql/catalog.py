"""What this deployment offers a form: the cut options (built-in and from plugins) as the
workers advertise them, and the credit packs on sale."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from hushcut.api.graphql.context import Context
from hushcut.core.capabilities import WorkerOffer

#: CutOptionsInput fields and the option each sets in a job's options document.
BUILT_IN = {
    "thresholdDb": "threshold_db",
    "minSilenceS": "min_silence_s",
    "marginS": "margin_s",
    "mode": "mode",
    "audioTrack": "audio_track",
}


@strawberry.type(description="One option of a cut, with what a form needs to offer it.")
class CutOption:
    name: str = strawberry.field(
        description="A CutOptionsInput field (thresholdDb, minSilenceS, marginS, mode, "
        "audioTrack), or "
        "plugin.key for a plugin option (set it as CutOptionsInput.plugins[plugin][key])."
    )
    plugin: str | None = strawberry.field(description="The plugin declaring it; null: built in.")
    key: str
    description: str
    default: JSON | None = strawberry.field(
        description="The value used when unset; null when decided per recording "
        "(thresholdDb: measured from the noise floor)."
    )
    schema: JSON = strawberry.field(
        description="JSON Schema of the value: type, minimum/maximum (or exclusive), enum."
    )


@strawberry.type(description="A credit pack on sale (createCheckoutSession's pack).")
class CreditPack:
    name: str
    credits: int


async def cut_options(ctx: Context) -> list[CutOption]:
    """The options of the workers' offers (running ones, else those last seen): the
    built-in fields of the first offer, then every plugin option any offer has, once.
    Empty while no worker was ever seen (options are then checked by the worker)."""
    ctx.actor  # noqa: B018 - signed-in callers only, like every other field
    offers = await ctx.api.options.current_offers()
    if not offers:
        return []
    found = _built_in(offers[0])
    seen: set[tuple[str, str]] = set()
    for offer in offers:
        plugins = _properties(offer.options_schema.get("properties", {}).get("plugins", {}))
        for option in offer.options:
            if (option.plugin, option.key) in seen:
                continue
            seen.add((option.plugin, option.key))
            schema = _properties(plugins.get(option.plugin, {})).get(option.key, {})
            found.append(
                CutOption(
                    name=f"{option.plugin}.{option.key}",
                    plugin=option.plugin,
                    key=option.key,
                    description=option.help,
                    default=option.default,
                    schema=JSON(_value_schema(schema)),
                )
            )
    return found


def credit_packs(ctx: Context) -> list[CreditPack]:
    ctx.actor  # noqa: B018
    billing = ctx.api.billing
    if billing is None:
        return []
    packs = [CreditPack(name=name, credits=pack.credits) for name, pack in billing.packs.items()]
    return sorted(packs, key=lambda pack: (pack.credits, pack.name))


def _built_in(offer: WorkerOffer) -> list[CutOption]:
    properties = offer.options_schema.get("properties", {})
    found: list[CutOption] = []
    for name, key in BUILT_IN.items():
        prop = properties.get(key)
        if not isinstance(prop, dict):
            continue
        schema, default = _value_schema(prop), prop.get("default")
        if name == "mode":  # the GraphQL enum's names, not the pipeline's values
            schema = {"type": "string", "enum": [str(v).upper() for v in schema.get("enum", [])]}
            default = None if default is None else str(default).upper()
        found.append(
            CutOption(
                name=name,
                plugin=None,
                key=name,
                description=str(prop.get("description", "")),
                default=default,
                schema=JSON(schema),
            )
        )
    return found


def _properties(schema: Any) -> dict[str, Any]:
    found = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return found if isinstance(found, dict) else {}


def _value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a set value: annotations dropped, ``X | None`` as X."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema = {**schema, **branches[0]}
        schema.pop("anyOf")
    return {k: v for k, v in schema.items() if k not in {"title", "default", "description"}}
