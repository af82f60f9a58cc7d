"""What a plugin manager offers, as plain JSON: plugins, detectors, renderers, exporters, options.

A worker advertises this so the API can validate a job's options (and route the job)
without loading any plugin itself; ``hushcut plugins --json`` prints it. The shape is
documented in docs/plugins.md ("Capabilities") and versioned by ``schema_version``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypedDict

from pydantic import TypeAdapter
from pydantic.errors import PydanticUserError

from hushcut.pipeline._hooks import Hooks
from hushcut.pipeline._manager import HushcutPluginManager
from hushcut.pipeline._registries import Exporter, Registered, Renderer
from hushcut.pipeline.options import CutOptions, OptionSpec
from hushcut.pipeline.plugins import describe_plugins

#: Bumped when a field changes meaning or disappears (adding one does not bump it).
SCHEMA_VERSION = 1
DISTRIBUTION = "hushcut-pipeline"


class PluginCapability(TypedDict):
    name: str
    #: "built-in", "distribution" or "runtime".
    kind: str
    distribution: str | None
    version: str | None
    hooks: list[str]


class DetectorCapability(TypedDict):
    name: str
    plugin: str
    description: str


class FileFormatCapability(TypedDict):
    """A renderer or an exporter: what it writes."""

    name: str
    plugin: str
    description: str
    extension: str
    media_type: str


class OptionCapability(TypedDict):
    #: ``plugin.key``, as users write it.
    name: str
    plugin: str
    key: str
    #: The type as a person reads it (``float``, ``Literal[10, 20, 30]``).
    type: str
    #: JSON Schema of the value (ranges, choices), for validating without the plugin.
    schema: dict[str, Any]
    default: Any
    help: str


class Capabilities(TypedDict):
    schema_version: int
    pipeline_version: str
    plugins: list[PluginCapability]
    detectors: list[DetectorCapability]
    renderers: list[FileFormatCapability]
    exporters: list[FileFormatCapability]
    options: list[OptionCapability]
    #: JSON Schema of the built-in options (CutOptions); plugin options are in ``options``.
    cut_options_schema: dict[str, Any]


def capabilities(pm: HushcutPluginManager) -> Capabilities:
    """What ``pm`` offers, JSON-serialisable (``json.dumps`` takes it as is)."""
    hooks = Hooks(pm)
    plugins = describe_plugins(pm)
    return {
        "schema_version": SCHEMA_VERSION,
        "pipeline_version": pipeline_version(),
        "plugins": [
            {
                "name": info.name,
                "kind": info.origin.kind,
                "distribution": info.origin.distribution,
                "version": info.origin.version,
                "hooks": list(info.hooks),
            }
            for info in plugins
        ],
        "detectors": [
            {"name": e.name, "plugin": e.plugin, "description": e.implementation.description}
            for e in hooks.register_detectors()
        ],
        "renderers": [_file_format(e) for e in hooks.register_renderers()],
        "exporters": [_file_format(e) for e in hooks.register_exporters()],
        "options": [_option(spec) for spec in hooks.options()],
        "cut_options_schema": CutOptions.model_json_schema(),
    }


def pipeline_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _file_format(entry: Registered[Renderer] | Registered[Exporter]) -> FileFormatCapability:
    return {
        "name": entry.name,
        "plugin": entry.plugin,
        "description": entry.implementation.description,
        "extension": entry.implementation.extension,
        "media_type": entry.implementation.media_type,
    }


def _option(spec: OptionSpec) -> OptionCapability:
    adapter: TypeAdapter[Any] = TypeAdapter(spec.type)
    try:
        schema = adapter.json_schema()
    except PydanticUserError:
        schema = {}  # a type JSON Schema cannot express: only the worker can validate it
    return {
        "name": spec.name,
        "plugin": spec.plugin,
        "key": spec.key,
        "type": spec.type_name,
        "schema": schema,
        "default": adapter.dump_python(spec.default, mode="json"),
        "help": spec.help,
    }
