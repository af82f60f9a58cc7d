"""The worker's plugins: the one policy for broken plugins, and the offer a worker advertises.

Policy: a worker loads every installed plugin that loads. One that fails to import,
does not fit the hook specs or implements a misspelt hook is left out, logged once in
one line naming it, and listed as unavailable (with the reason) in the worker's offer.
The worker does not offer what it left out, so jobs that select it are never given to
it: they run on a worker that has it, or wait QUEUED for one; the API refuses new jobs
selecting a plugin no worker offers, with the reason.

:func:`build_offer` is the one place that turns the pipeline's plugin manager into a
:class:`~hushcut.core.capabilities.WorkerOffer`.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import TypeAdapter
from pydantic.errors import PydanticInvalidForJsonSchema

from hushcut.core.capabilities import OptionOffer, PluginOffer, WorkerOffer
from hushcut.pipeline import CutOptions, OptionSpec, PluginError
from hushcut.pipeline.plugins import (
    HushcutPluginManager,
    describe_plugins,
    get_plugin_manager,
    option_specs,
)

#: PluginErrors raised while loading start with ``plugin '<name>'`` (see pipeline.plugins).
_NAMED = re.compile(r"^plugin (?P<quote>['\"])(?P<name>.+?)(?P=quote)")


def plugin_named(error: PluginError) -> str | None:
    """The name of the plugin a loading PluginError is about, if it names one."""
    match = _NAMED.match(str(error))
    return match.group("name") if match else None


def load_available_plugins() -> tuple[HushcutPluginManager, dict[str, str]]:
    """A plugin manager with every installed plugin that loads, and the ones that do not.

    Returns the manager and ``{plugin name: why it failed to load}``. A plugin that fails
    to import, does not validate or implements a misspelt hook is blocked and loading
    starts over without it, so one broken package cannot stop a worker serving jobs that
    do not use it. A PluginError that names no plugin (or one already left out) is raised.
    """
    unavailable: dict[str, str] = {}
    while True:
        try:
            return get_plugin_manager(block=list(unavailable)), unavailable
        except PluginError as exc:
            name = plugin_named(exc)
            if name is None or name in unavailable:
                raise
            unavailable[name] = str(exc).strip().splitlines()[0]


def build_offer(pm: HushcutPluginManager, unavailable: dict[str, str]) -> WorkerOffer:
    """What a worker with plugin manager ``pm`` can run, as it advertises it."""
    plugins = describe_plugins(pm)
    specs = option_specs(pm)
    return WorkerOffer(
        pipeline_version=_version("hushcut-pipeline"),
        plugins=tuple(
            PluginOffer(name=plugin.name, origin=plugin.origin, hooks=plugin.hooks)
            for plugin in plugins
        ),
        unavailable=dict(unavailable),
        detectors=tuple(p.name for p in plugins if "hushcut_detect" in p.hooks),
        renderers=tuple(p.name for p in plugins if "hushcut_render" in p.hooks),
        options=tuple(
            OptionOffer(
                plugin=spec.plugin,
                key=spec.key,
                type=spec.type_name,
                default=_jsonable(spec.default),
                help=spec.help,
            )
            for spec in specs
        ),
        options_schema=options_schema(specs),
    )


def options_schema(specs: list[OptionSpec]) -> dict[str, Any]:
    """JSON Schema of a job's options: the built-in ones and each plugin's declared ones."""
    schema = CutOptions.model_json_schema()
    namespaces: dict[str, dict[str, Any]] = {}
    for spec in specs:
        namespaces.setdefault(spec.plugin, {})[spec.key] = _type_schema(spec)
    schema["properties"]["plugins"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            plugin: {"type": "object", "additionalProperties": False, "properties": keys}
            for plugin, keys in namespaces.items()
        },
    }
    return schema


def _type_schema(spec: OptionSpec) -> dict[str, Any]:
    try:
        return TypeAdapter(spec.type).json_schema()
    except PydanticInvalidForJsonSchema:
        return {}  # a type JSON Schema cannot express: the worker checks it when it runs


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
