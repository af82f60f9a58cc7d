"""The worker's plugins: the one policy for broken plugins, and the offer a worker advertises.

Policy: a worker loads every installed plugin that loads. One that fails to import,
does not fit the hook specs or implements a misspelt hook is left out, logged once in
one line naming it, and listed as unavailable (with the reason) in the worker's offer.
The worker does not offer what it left out, so jobs that select it are never given to
it: they run on a worker that has it, or wait QUEUED for one; the API refuses new jobs
selecting a plugin no worker offers, with the reason.

:func:`build_offer` is the one place that turns the pipeline's plugin manager into a
:class:`~hushcut.core.capabilities.WorkerOffer`, and :func:`build_pipeline` into the
steps the worker runs for jobs.
"""

from __future__ import annotations

import functools
from typing import Any

import hushcut.pipeline as pipeline
from hushcut.core.capabilities import OptionOffer, PluginOffer, WorkerOffer
from hushcut.core.services.jobs import EXPORT_FORMATS
from hushcut.pipeline import Capabilities, PluginError, capabilities
from hushcut.pipeline.plugins import HushcutPluginManager, get_plugin_manager
from hushcut.worker.processor import Analyzer, Cutter, ExportFormat, JobPipeline


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
            name = exc.plugin
            if name is None or name in unavailable:
                raise
            unavailable[name] = str(exc).strip().splitlines()[0]


def build_offer(pm: HushcutPluginManager, unavailable: dict[str, str]) -> WorkerOffer:
    """What a worker with plugin manager ``pm`` can run, as it advertises it."""
    offered = capabilities(pm)
    return WorkerOffer(
        pipeline_version=offered["pipeline_version"],
        plugins=tuple(
            PluginOffer(
                name=plugin["name"],
                origin=_origin(plugin["kind"], plugin["distribution"], plugin["version"]),
                hooks=tuple(plugin["hooks"]),
            )
            for plugin in offered["plugins"]
        ),
        unavailable=dict(unavailable),
        detectors=tuple(entry["name"] for entry in offered["detectors"]),
        renderers=tuple(entry["name"] for entry in offered["renderers"]),
        exporters=tuple(entry["name"] for entry in offered["exporters"]),
        options=tuple(
            OptionOffer(
                plugin=option["plugin"],
                key=option["key"],
                type=option["type"],
                default=option["default"],
                help=option["help"],
            )
            for option in offered["options"]
        ),
        options_schema=options_schema(offered),
    )


def build_pipeline(
    pm: HushcutPluginManager, *, cut: Cutter | None = None, analyze: Analyzer | None = None
) -> JobPipeline:
    """The pipeline steps a worker runs, with ``pm``'s plugins (``cut`` and ``analyze``
    replace the pipeline's own, for embedders that wrap them). Jobs get an export in
    each platform format (``EXPORT_FORMATS``) that one of ``pm``'s exporters writes."""
    offered = {entry["name"]: entry for entry in capabilities(pm)["exporters"]}
    return JobPipeline(
        cut=cut or functools.partial(pipeline.cut, plugin_manager=pm),
        analyze=analyze or functools.partial(pipeline.analyze, plugin_manager=pm),
        export=functools.partial(pipeline.export_timeline, plugin_manager=pm),
        probe=pipeline.probe,
        exports=tuple(
            ExportFormat(name, offered[name]["extension"], offered[name]["media_type"])
            for name in EXPORT_FORMATS
            if name in offered
        ),
    )


def options_schema(offered: Capabilities) -> dict[str, Any]:
    """JSON Schema of a job's options: the built-in ones, the detector and renderer names
    this worker has, and each plugin's declared options."""
    schema = dict(offered["cut_options_schema"])
    properties = dict(schema.get("properties", {}))
    for kind, entries in (("detector", offered["detectors"]), ("renderer", offered["renderers"])):
        if kind in properties:
            properties[kind] = {**properties[kind], "enum": [entry["name"] for entry in entries]}
    namespaces: dict[str, dict[str, Any]] = {}
    for option in offered["options"]:
        namespaces.setdefault(option["plugin"], {})[option["key"]] = option["schema"]
    properties["plugins"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            plugin: {"type": "object", "additionalProperties": False, "properties": keys}
            for plugin, keys in namespaces.items()
        },
    }
    schema["properties"] = properties
    return schema


def _origin(kind: str, distribution: str | None, version: str | None) -> str:
    if kind == "built-in":
        return "built-in"
    if distribution is None:
        return "registered at runtime"
    return f"{distribution} {version}" if version else distribution
