"""The plugin manager: built-in steps first, then plugins from the ``hushcut.pipeline`` group."""

from __future__ import annotations

import importlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import CodeType, FrameType, ModuleType
from typing import Any

import pluggy

from hushcut.pipeline import hookspecs
from hushcut.pipeline.errors import PipelineError, PluginError
from hushcut.pipeline.options import OptionSpec

ENTRY_POINT_GROUP = "hushcut.pipeline"
#: Set to 1 to load no entry-point plugins (like PYTEST_DISABLE_PLUGIN_AUTOLOAD).
DISABLE_AUTOLOAD_ENV = "HUSHCUT_DISABLE_PLUGIN_AUTOLOAD"

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT_NAME)

#: Built-in steps, registered first and in this order, under these names.
BUILTIN_PLUGINS: dict[str, str] = {
    "loudness": "hushcut.pipeline.builtin.loudness",
    "planner": "hushcut.pipeline.builtin.planner",
    "renderer": "hushcut.pipeline.builtin.renderer",
}


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin, as ``hushcut plugins`` shows it."""

    name: str
    #: ``"built-in"`` or the distribution (``name version``) the entry point came from.
    origin: str
    hooks: tuple[str, ...]
    options: tuple[OptionSpec, ...]


class HushcutPluginManager(pluggy.PluginManager):
    """pluggy's manager for the ``hushcut`` project, remembering where plugins came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        #: Plugin name -> "built-in" or the distribution that provided it.
        self.origins: dict[str, str] = {}


def get_plugin_manager(
    allow: Collection[str] | None = None,
    block: Collection[str] | None = None,
    autoload: bool = True,
) -> HushcutPluginManager:
    """A plugin manager with the built-in steps and, unless disabled, installed plugins.

    ``allow`` limits entry-point plugins to those names; ``block`` refuses names (built-in
    ones too, e.g. to force another detector). Autoloading is skipped when ``autoload`` is
    false or the ``HUSHCUT_DISABLE_PLUGIN_AUTOLOAD`` environment variable is set.
    """
    pm = HushcutPluginManager()
    for name in block or ():
        pm.set_blocked(name)
    for name, module_name in BUILTIN_PLUGINS.items():
        if pm.is_blocked(name):
            continue
        pm.register(importlib.import_module(module_name), name=name)
        pm.origins[name] = "built-in"
    if autoload and not _autoload_disabled():
        load_plugins(pm, allow=allow, block=block)
    else:
        check_plugins(pm)
    return pm


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def _origin(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"


def load_plugins(
    pm: pluggy.PluginManager,
    allow: Collection[str] | None = None,
    block: Collection[str] | None = None,
) -> list[str]:
    """Import and register the plugins of the ``hushcut.pipeline`` entry-point group.

    Returns the names registered. Raises PluginError naming the plugin (entry point and
    distribution) when one fails to import, does not validate against the hook specs, or
    implements a hook that does not exist (a misspelt name).
    """
    loaded: list[str] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if allow is not None and ep.name not in allow:
            continue
        if (block and ep.name in block) or pm.is_blocked(ep.name):
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        label = f"plugin {ep.name!r} ({_origin(ep)}, entry point {ep.value})"
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"{label} failed to import: {type(exc).__name__}: {exc}") from exc
        register_plugin(pm, plugin, ep.name, label=label)
        if isinstance(pm, HushcutPluginManager):
            pm.origins[ep.name] = _origin(ep)
        loaded.append(ep.name)
    check_plugins(pm)
    return loaded


def register_plugin(
    pm: pluggy.PluginManager, plugin: object, name: str, *, label: str | None = None
) -> None:
    """Register ``plugin`` under ``name``, with errors that name it."""
    label = label or f"plugin {name!r}"
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{label} is invalid: {exc}") from exc
    except ValueError as exc:
        raise PluginError(f"{label} cannot be registered: {exc}") from exc
    misspelt = _unknown_hooks(pm, plugin)
    if misspelt:
        pm.unregister(plugin)
        raise PluginError(f"{label} implements unknown hooks: {', '.join(misspelt)}")


def check_plugins(pm: pluggy.PluginManager) -> None:
    """Fail with a PluginError naming the plugin if any implements an unknown hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        culprit = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"plugin {culprit!r} implements an unknown hook: {exc}") from exc
    for plugin in pm.get_plugins():
        misspelt = _unknown_hooks(pm, plugin)
        if misspelt:
            name = pm.get_name(plugin)
            raise PluginError(f"plugin {name!r} implements unknown hooks: {', '.join(misspelt)}")


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """``hushcut_*`` attributes of ``plugin`` that are no hook, marked or not: pluggy only
    notices marked ones, and a typo'd unmarked function would otherwise be silently unused."""
    prefix = f"{hookspecs.PROJECT_NAME}_"
    known = set(hook_names())
    names = dir(plugin) if not isinstance(plugin, ModuleType) else list(vars(plugin))
    return sorted(
        name
        for name in names
        if name.startswith(prefix) and name not in known and callable(getattr(plugin, name))
    )


def hook_names() -> list[str]:
    """Every hook a plugin may implement, in the order the hookspecs module declares them."""
    prefix = f"{hookspecs.PROJECT_NAME}_"
    return [name for name in vars(hookspecs) if name.startswith(prefix)]


def call_hook(pm: pluggy.PluginManager, name: str, **kwargs: Any) -> Any:
    """Call hook ``name``; an unexpected exception raised by an installed plugin becomes a
    PluginError naming that plugin, so a user knows which one to update or remove.

    PipelineErrors (including CanceledError) pass through: they are already meant for a
    person. Failures of built-in steps pass through too: they are Hushcut's own bugs or
    environment failures (a full disk) that callers handle as such.
    """
    caller = getattr(pm.hook, name)
    try:
        return caller(**kwargs)
    except PipelineError:
        raise
    except Exception as exc:
        culprit = _failing_plugin(caller, exc)
        if culprit is None or culprit in BUILTIN_PLUGINS:
            raise
        origin = getattr(pm, "origins", {}).get(culprit)
        label = f"plugin {culprit!r}" + (f" ({origin})" if origin else "")
        raise PluginError(f"{label} failed in {name}: {type(exc).__name__}: {exc}") from exc


def _failing_plugin(caller: Any, exc: BaseException) -> str | None:
    """The name of the plugin whose hook implementation raised ``exc``, if one did.

    That is the innermost implementation frame on the traceback that pluggy itself
    called: innermost, so a wrapper (``wrapper=True``) that lets an inner plugin's
    exception through is not blamed for it, nor a third-party wrapper for a built-in
    step's failure; called by pluggy, so a plugin that calls a built-in step's function
    directly is blamed for what that call raises.
    """
    impls_by_code: dict[CodeType, list[Any]] = {}
    for impl in caller.get_hookimpls():
        code = getattr(impl.function, "__code__", None)
        if code is not None:
            impls_by_code.setdefault(code, []).append(impl)
    found = None
    calling_frame: FrameType | None = None
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        impls = impls_by_code.get(frame.f_code)
        if impls and calling_frame is not None and _is_pluggy(calling_frame):
            found = _owner(impls, frame)
        calling_frame = frame
        traceback = traceback.tb_next
    return found


def _is_pluggy(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__", "")).partition(".")[0] == "pluggy"


def _owner(impls: list[Any], frame: FrameType) -> str | None:
    """Which of the implementations sharing ``frame``'s code ran in it: plugins that are
    instances of one class share their methods' code, so look at the bound instance."""
    if len(impls) == 1:
        return str(impls[0].plugin_name)
    code = frame.f_code
    instance = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
    owners = {
        impl.plugin_name
        for impl in impls
        if instance is not None and getattr(impl.function, "__self__", None) is instance
    }
    return str(owners.pop()) if len(owners) == 1 else None


def option_specs(pm: pluggy.PluginManager) -> list[OptionSpec]:
    """Every option every plugin declares (``hushcut_options``), duplicates rejected."""
    specs: list[OptionSpec] = []
    seen: set[str] = set()
    for result in call_hook(pm, "hushcut_options"):
        for spec in result or ():
            if not isinstance(spec, OptionSpec):
                raise PluginError(f"hushcut_options returned {spec!r}, not an OptionSpec")
            if spec.name in seen:
                raise PluginError(f"option {spec.name} is declared twice")
            seen.add(spec.name)
            specs.append(spec)
    return specs


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """The registered plugins in registration order, with their hooks and options."""
    option_specs(pm)  # reject duplicates and wrong types before listing
    declared: dict[int, tuple[OptionSpec, ...]] = {
        id(impl.plugin): tuple(impl.function() or ())  # type: ignore[arg-type]
        for impl in pm.hook.hushcut_options.get_hookimpls()
    }
    origins = getattr(pm, "origins", {})
    return [
        PluginInfo(
            name=name,
            origin=origins.get(name, "registered at runtime"),
            hooks=tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())),
            options=declared.get(id(plugin), ()),
        )
        for name, plugin in pm.list_name_plugin()
        if plugin is not None
    ]
