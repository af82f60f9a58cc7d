"""What this deployment offers a form: the cut options (built-in and from plugins) and the
credit packs on sale."""

from __future__ import annotations

from typing import Any

import strawberry
from pydantic import TypeAdapter
from strawberry.scalars import JSON

from hushcut.api.graphql.context import Context
from hushcut.pipeline.options import CutOptions, OptionSpec

#: CutOptionsInput fields and the pipeline options they set.
BUILT_IN = {
    "thresholdDb": "threshold_db",
    "minSilenceS": "min_silence_s",
    "marginS": "margin_s",
    "mode": "mode",
}


@strawberry.type(description="One option of a cut, with what a form needs to offer it.")
class CutOption:
    name: str = strawberry.field(
        description="A CutOptionsInput field (thresholdDb, minSilenceS, marginS, mode), or "
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


def cut_options(ctx: Context) -> list[CutOption]:
    ctx.actor  # noqa: B018 - signed-in callers only, like every other field
    properties = CutOptions.model_json_schema()["properties"]
    found: list[CutOption] = []
    for name, field in BUILT_IN.items():
        prop = properties[field]
        schema, default = _value_schema(prop), prop.get("default")
        if name == "mode":  # the GraphQL enum's names, not the pipeline's values
            schema = {"type": "string", "enum": [str(v).upper() for v in schema["enum"]]}
            default = str(default).upper()
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
    found.extend(_plugin_option(spec) for spec in ctx.api.option_specs())
    return found


def credit_packs(ctx: Context) -> list[CreditPack]:
    ctx.actor  # noqa: B018
    billing = ctx.api.billing
    if billing is None:
        return []
    packs = [CreditPack(name=name, credits=pack.credits) for name, pack in billing.packs.items()]
    return sorted(packs, key=lambda pack: (pack.credits, pack.name))


def _plugin_option(spec: OptionSpec) -> CutOption:
    schema = _value_schema(TypeAdapter(spec.type).json_schema())
    default = TypeAdapter(spec.type).dump_python(spec.default, mode="json")
    return CutOption(
        name=spec.name,
        plugin=spec.plugin,
        key=spec.key,
        description=spec.help,
        default=default,
        schema=JSON(schema),
    )


def _value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a set value: annotations dropped, ``X | None`` as X."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema = {**schema, **branches[0]}
        schema.pop("anyOf")
    return {k: v for k, v in schema.items() if k not in {"title", "default", "description"}}
