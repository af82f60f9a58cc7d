"""What a worker offers (plugins, detectors, option schema) and what a job's options need.

A worker describes itself in a :class:`WorkerOffer` when it starts and keeps it in the
database while it runs (:mod:`hushcut.core.services.workers`). A job's options name the
capabilities it needs (:func:`required_capabilities`); the API checks the options against
the offers of the running workers, and a worker claims only jobs whose every requirement
its offer meets. Capabilities are plain strings, ``kind:name``: ``detector:vad``,
``plugin:speedup``, ``renderer:...``, ``exporter:...``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from pydantic import BaseModel, ConfigDict, Field


def capability(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def required_capabilities(options: Mapping[str, Any] | None) -> frozenset[str]:
    """What a worker must offer to run a job with ``options``: the detector and renderer
    it names, and every plugin it sets options for (``{"plugins": {name: {...}}}``)."""
    options = options or {}
    needed: set[str] = set()
    for kind in ("detector", "renderer"):
        name = options.get(kind)
        if isinstance(name, str) and name:
            needed.add(capability(kind, name))
    plugin_options = options.get("plugins")
    if isinstance(plugin_options, Mapping):
        needed.update(capability("plugin", str(name)) for name in plugin_options)
    return frozenset(needed)


class PluginOffer(BaseModel):
    """One plugin a worker loaded."""

    model_config = ConfigDict(frozen=True)

    name: str
    #: ``"built-in"`` or the distribution and version it came from (``"hushcut-vad 1.0"``).
    origin: str
    hooks: tuple[str, ...] = ()


class OptionOffer(BaseModel):
    """One plugin option a worker accepts: ``plugins.<plugin>.<key>``."""

    model_config = ConfigDict(frozen=True)

    plugin: str
    key: str
    type: str
    default: Any = None
    help: str = ""


class WorkerOffer(BaseModel):
    """Everything a worker can run, as it advertises it (a JSON document in the database)."""

    model_config = ConfigDict(frozen=True)

    #: Version of the hushcut-pipeline distribution the worker runs.
    pipeline_version: str
    plugins: tuple[PluginOffer, ...] = ()
    #: Installed plugins that failed to load on this worker -> the one-line reason.
    unavailable: dict[str, str] = Field(default_factory=dict)
    detectors: tuple[str, ...] = ()
    renderers: tuple[str, ...] = ()
    exporters: tuple[str, ...] = ()
    options: tuple[OptionOffer, ...] = ()
    #: JSON Schema of a job's whole options document; empty accepts anything.
    options_schema: dict[str, Any] = Field(default_factory=dict)

    @property
    def capabilities(self) -> frozenset[str]:
        offered = {capability("plugin", plugin.name) for plugin in self.plugins}
        offered.update(capability("plugin", option.plugin) for option in self.options)
        offered.update(capability("detector", name) for name in self.detectors)
        offered.update(capability("renderer", name) for name in self.renderers)
        offered.update(capability("exporter", name) for name in self.exporters)
        return frozenset(offered)

    def digest(self) -> str:
        """A fingerprint of the offer: workers with equal offers share it."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def options_error(self, options: Mapping[str, Any]) -> str | None:
        """Why ``options`` do not fit :attr:`options_schema`, in one line; None if they do."""
        if not self.options_schema:
            return None
        error = best_match(Draft202012Validator(self.options_schema).iter_errors(dict(options)))
        return None if error is None else _describe(error)


def _describe(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path if part != "plugins")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}) if isinstance(error.schema, dict) else ())
        extra = sorted(str(key) for key in error.instance if key not in allowed)
        if extra:
            name = f"{path}.{extra[0]}" if path else extra[0]
            if list(error.absolute_path) == ["plugins"]:
                known = ", ".join(sorted(allowed)) or "none"
                return f"unknown plugin {extra[0]!r} in options (plugins with options: {known})"
            return f"unknown option {name!r}"
    return f"option {path or 'options'!r}: {error.message}"
