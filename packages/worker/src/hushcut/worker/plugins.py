"""The worker's plugins: load what loads, leave out (and remember) each plugin that is broken."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hushcut.pipeline.errors import PluginError
from hushcut.pipeline.plugins import HushcutPluginManager, get_plugin_manager

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


def plugins_requested(options: Mapping[str, Any] | None) -> list[str]:
    """Plugins a job's options select: its detector and those it sets options for."""
    options = options or {}
    names: list[str] = []
    detector = options.get("detector")
    if isinstance(detector, str):
        names.append(detector)
    plugin_options = options.get("plugins")
    if isinstance(plugin_options, Mapping):
        names.extend(str(name) for name in plugin_options)
    return names


def unavailable_plugin_message(
    options: Mapping[str, Any] | None, unavailable: Mapping[str, str]
) -> str | None:
    """Why a job cannot run here because it selects a plugin left out, or None if it can."""
    for name in plugins_requested(options):
        if name in unavailable:
            return f"plugin {name!r} is unavailable on this worker: {unavailable[name]}"
    return None
