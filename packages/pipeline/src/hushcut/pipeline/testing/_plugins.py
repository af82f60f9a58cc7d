"""Plugin managers for tests: the built-in steps plus exactly the plugins a test names."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

import pluggy

from hushcut.pipeline.plugins import (
    ENTRY_POINT_GROUP,
    HushcutPluginManager,
    check_plugins,
    get_plugin_manager,
    load_plugins,
    register_plugin,
)


def isolated_plugin_manager(*installed: str, **plugins: object) -> HushcutPluginManager:
    """The built-in steps plus exactly these plugins, whatever else is installed.

    ``installed`` names installed plugins (entry points of the ``hushcut.pipeline``
    group), loaded as a user gets them, origin included; ``plugins`` registers modules or
    objects under the given names, e.g. ``isolated_plugin_manager(rumble=plugin_module)``.
    Nothing is autoloaded.
    """
    pm = get_plugin_manager(autoload=False)
    if installed:
        loaded = load_plugins(pm, allow=installed)
        missing = sorted(set(installed) - set(loaded))
        if missing:
            known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            raise LookupError(
                f"no installed plugin named {', '.join(missing)} "
                f"(installed: {', '.join(known) or 'none'})"
            )
    for name, plugin in plugins.items():
        register_plugin(pm, plugin, name)
    check_plugins(pm)
    return pm


@contextlib.contextmanager
def use_plugin_manager(pm: pluggy.PluginManager) -> Iterator[pluggy.PluginManager]:
    """Make ``pm`` the process-wide default inside the block: what ``cut``, ``detect``,
    ``plan`` and the ``hushcut`` command use when given no ``plugin_manager``."""
    from hushcut.pipeline import api

    original = api.default_plugin_manager
    # Modules that imported the function by name hold their own reference: swap each.
    holders = [
        module
        for name, module in list(sys.modules.items())
        if (name == "hushcut.pipeline" or name.startswith("hushcut.pipeline."))
        and getattr(module, "default_plugin_manager", None) is original
    ]

    def default() -> pluggy.PluginManager:
        return pm

    for module in holders:
        setattr(module, "default_plugin_manager", default)  # noqa: B010
    try:
        yield pm
    finally:
        for module in holders:
            setattr(module, "default_plugin_manager", original)  # noqa: B010


class PluginManagers:
    """Isolated plugin managers for one test (see :func:`isolated_plugin_manager`)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def manager(self, *installed: str, **plugins: object) -> HushcutPluginManager:
        """Built-in steps plus these plugins; pass it as ``plugin_manager=``."""
        return isolated_plugin_manager(*installed, **plugins)

    def use(self, *installed: str, **plugins: object) -> HushcutPluginManager:
        """Like :meth:`manager`, and the default until the test ends: ``cut``, ``detect``,
        ``plan`` and the ``hushcut`` command (e.g. through click's CliRunner) use it."""
        pm = self.manager(*installed, **plugins)
        self._stack.enter_context(use_plugin_manager(pm))
        return pm

    def close(self) -> None:
        self._stack.close()
