"""The plugin manager: built-in steps first, then plugins from the ``hushcut.pipeline`` group."""

from __future__ import annotations

import importlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

import pluggy

from hushcut.pipeline import hookspecs
from hushcut.pipeline._hooks import Hooks
from hushcut.pipeline._manager import HushcutPluginManager, hookimpl
from hushcut.pipeline._registries import Detector, Exporter, Renderer
from hushcut.pipeline.errors import BUILTIN, PluginError, PluginOrigin
from hushcut.pipeline.options import OptionSpec

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "HushcutPluginManager",
    "PluginInfo",
    "check_plugins",
    "describe_plugins",
    "get_plugin_manager",
    "hook_names",
    "hookimpl",
    "load_plugins",
    "option_specs",
    "register_plugin",
]

ENTRY_POINT_GROUP = "hushcut.pipeline"
#: Set to 1 to load no entry-point plugins (like PYTEST_DISABLE_PLUGIN_AUTOLOAD).
DISABLE_AUTOLOAD_ENV = "HUSHCUT_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in steps, registered first and in this order, under these names.
BUILTIN_PLUGINS: dict[str, str] = {
    "loudness": "hushcut.pipeline.builtin.loudness",
    "planner": "hushcut.pipeline.builtin.planner",
    "renderer": "hushcut.pipeline.builtin.renderer",
    "json": "hushcut.pipeline.builtin.timeline_json",
}


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin, as ``hushcut plugins`` shows it."""

    name: str
    origin: PluginOrigin
    hooks: tuple[str, ...]
    options: tuple[OptionSpec, ...]
    detectors: tuple[Detector, ...] = ()
    renderers: tuple[Renderer, ...] = ()
    exporters: tuple[Exporter, ...] = ()


def get_plugin_manager(
    allow: Collection[str] | None = None,
    block: Collection[str] | None = None,
    autoload: bool = True,
) -> HushcutPluginManager:
    """A plugin manager with the built-in steps and, unless disabled, installed plugins.

    ``allow`` limits entry-point plugins to those names; ``block`` refuses names (built-in
    ones too, e.g. to replace the ``loudness`` detector by another of that name).
    Autoloading is skipped when ``autoload`` is false or the
    ``HUSHCUT_DISABLE_PLUGIN_AUTOLOAD`` environment variable is set.
    """
    pm = HushcutPluginManager()
    for name in block or ():
        pm.set_blocked(name)
    for name, module_name in BUILTIN_PLUGINS.items():
        if pm.is_blocked(name):
            continue
        pm.register(importlib.import_module(module_name), name=name)
        pm.origins[name] = BUILTIN
    if autoload and not _autoload_disabled():
        load_plugins(pm, allow=allow, block=block)
    else:
        check_plugins(pm)
    return pm


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def _origin(ep: EntryPoint) -> PluginOrigin:
    dist = ep.dist
    if dist is None:
        return PluginOrigin("distribution", entry_point=ep.value)
    return PluginOrigin("distribution", dist.name, dist.version, ep.value)


def load_plugins(
    pm: HushcutPluginManager,
    allow: Collection[str] | None = None,
    block: Collection[str] | None = None,
) -> list[str]:
    """Import and register the plugins of the ``hushcut.pipeline`` entry-point group.

    Returns the names registered. Raises PluginError naming the plugin (entry point and
    distribution, also as its ``plugin`` and ``origin`` attributes) when one fails to
    import, does not validate against the hook specs, implements a hook that does not
    exist (a misspelt or removed name), or registers something invalid.
    """
    loaded: list[str] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if allow is not None and ep.name not in allow:
            continue
        if (block and ep.name in block) or pm.is_blocked(ep.name):
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        origin = _origin(ep)
        try:
            plugin = ep.load()
        except Exception as exc:
            problem = f"failed to import: {type(exc).__name__}: {exc}"
            raise PluginError.about(ep.name, origin, problem, entry_point=True) from exc
        register_plugin(pm, plugin, ep.name, origin=origin)
        loaded.append(ep.name)
    check_plugins(pm)
    return loaded


def register_plugin(
    pm: HushcutPluginManager, plugin: object, name: str, *, origin: PluginOrigin | None = None
) -> None:
    """Register ``plugin`` under ``name`` (from ``origin``: at runtime unless given), with
    errors that name it; a plugin that fails the checks is left unregistered."""
    origin = origin or pm.origin(name)
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise _load_error(name, origin, f"is invalid: {exc}") from exc
    except ValueError as exc:
        raise _load_error(name, origin, f"cannot be registered: {exc}") from exc
    if origin.kind != "runtime":
        pm.origins[name] = origin
    try:
        _check_hook_names(pm, plugin, name)
        _check_registrations(pm)
    except PluginError:
        pm.unregister(plugin)
        raise


def check_plugins(pm: HushcutPluginManager) -> None:
    """Fail with a PluginError naming the plugin if any implements an unknown hook or
    registers something invalid (a wrong type, a bad or duplicate name)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        culprit = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise _load_error(
            culprit, pm.origin(culprit), f"implements an unknown hook: {exc}"
        ) from exc
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:
            _check_hook_names(pm, plugin, name)
    _check_registrations(pm)


def _load_error(name: str, origin: PluginOrigin, problem: str) -> PluginError:
    return PluginError.about(name, origin, problem, entry_point=True)


def _check_hook_names(pm: HushcutPluginManager, plugin: object, name: str) -> None:
    """Refuse ``hushcut_*`` attributes of ``plugin`` that are no hook, marked or not: pluggy
    only notices marked ones, and a typo'd unmarked function would otherwise be silently
    unused. A removed hook's message names what replaces it."""
    prefix = f"{hookspecs.PROJECT_NAME}_"
    known = set(hook_names())
    names = dir(plugin) if not isinstance(plugin, ModuleType) else list(vars(plugin))
    unknown = sorted(
        attribute
        for attribute in names
        if attribute.startswith(prefix)
        and attribute not in known
        and callable(getattr(plugin, attribute))
    )
    origin = pm.origin(name)
    for hook in unknown:
        if hook in hookspecs.REMOVED_HOOKS:
            version, replacement = hookspecs.REMOVED_HOOKS[hook]
            raise _load_error(
                name,
                origin,
                f"implements {hook}, which hushcut-pipeline {version} replaced by "
                f"{replacement} (see docs/plugins.md)",
            )
    if unknown:
        raise _load_error(name, origin, f"implements unknown hooks: {', '.join(unknown)}")


def _check_registrations(pm: HushcutPluginManager) -> None:
    hooks = Hooks(pm)
    hooks.register_detectors()
    hooks.register_renderers()
    hooks.register_exporters()


def hook_names() -> list[str]:
    """Every hook a plugin may implement, in the order the hookspecs module declares them."""
    prefix = f"{hookspecs.PROJECT_NAME}_"
    return [name for name in vars(hookspecs) if name.startswith(prefix)]


def option_specs(pm: HushcutPluginManager) -> list[OptionSpec]:
    """Every option every plugin declares (``hushcut_options``), duplicates rejected."""
    return Hooks(pm).options()


def describe_plugins(pm: HushcutPluginManager) -> list[PluginInfo]:
    """The registered plugins in registration order, with their hooks, options and what
    they register."""
    hooks = Hooks(pm)
    declared = hooks.options_by_plugin()
    detectors, renderers, exporters = (
        hooks.register_detectors(),
        hooks.register_renderers(),
        hooks.register_exporters(),
    )
    return [
        PluginInfo(
            name=name,
            origin=pm.origin(name),
            hooks=tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())),
            options=tuple(declared.get(name, ())),
            detectors=tuple(e.implementation for e in detectors if e.plugin == name),
            renderers=tuple(e.implementation for e in renderers if e.plugin == name),
            exporters=tuple(e.implementation for e in exporters if e.plugin == name),
        )
        for name, plugin in pm.list_name_plugin()
        if plugin is not None
    ]
