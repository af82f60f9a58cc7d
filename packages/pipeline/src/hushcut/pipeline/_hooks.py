"""Typed calls of the hooks: one method per hook, results checked, failures naming the plugin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pluggy

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._manager import (
    HushcutPluginManager,
    collect_results,
    raised_by,
    running_hookimpl,
)
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline._registries import (
    NAME_PATTERN,
    Detector,
    Exporter,
    Named,
    Registered,
    Registry,
    Renderer,
)
from hushcut.pipeline.errors import PipelineError, PluginError, PluginOrigin
from hushcut.pipeline.options import CutOptions, OptionSpec
from hushcut.pipeline.render import ProgressCallback, RenderResult
from hushcut.pipeline.timeline import Timeline

T = TypeVar("T", bound=Named)


@dataclass
class _Outcome:
    """What a hook call returned, and what each implementation returned on the way."""

    value: object
    returned: list[tuple[pluggy.HookImpl, object]]

    def plugin_of(self, value: object) -> str | None:
        """The plugin whose implementation produced ``value`` (the innermost one, when
        wrappers passed it on), if one did."""
        for impl, result in self.returned:
            if result is value:
                return str(impl.plugin_name)
        return None


class Hooks:
    """The hooks of one plugin manager, called with types the checker sees.

    Each method calls one hook (``hushcut_<method>``) and checks what plugins returned: a
    wrong type is a PluginError naming the plugin that returned it. An unexpected
    exception raised by an installed plugin's implementation becomes a PluginError naming
    that plugin, its distribution and the hook (chained from the original); PipelineErrors
    (including CanceledError) pass through, and so do failures of built-in steps: they are
    Hushcut's own bugs or environment failures (a full disk) that callers handle as such.
    """

    def __init__(self, pm: HushcutPluginManager) -> None:
        self._pm = pm

    # ------------------------------------------------------------------ the hooks
    def options(self) -> list[OptionSpec]:
        """Every option every plugin declares (``hushcut_options``), duplicates refused."""
        return [spec for specs in self.options_by_plugin().values() for spec in specs]

    def options_by_plugin(self) -> dict[str | None, list[OptionSpec]]:
        """The options of ``hushcut_options`` by the plugin that declared them (None for a
        list no implementation returned as such, e.g. one a wrapper made)."""
        outcome = self._call("hushcut_options")
        declared: dict[str | None, list[OptionSpec]] = {}
        names: set[str] = set()
        for result in self._list(outcome, "hushcut_options"):
            plugin = outcome.plugin_of(result)
            specs = self._list_of(outcome, "hushcut_options", result, "a list of OptionSpec")
            for spec in specs:
                if not isinstance(spec, OptionSpec):
                    raise self._wrong(outcome, "hushcut_options", result, "a list of OptionSpec")
                if spec.name in names:
                    if plugin is None:
                        raise PluginError(f"option {spec.name} is declared twice")
                    raise PluginError.about(
                        plugin,
                        self._pm.origin(plugin),
                        f"declares option {spec.name}, which another plugin declares too",
                        hook="hushcut_options",
                    )
                names.add(spec.name)
            declared.setdefault(plugin, []).extend(specs)
        return declared

    def register_detectors(self) -> Registry[Detector]:
        return self._collect("hushcut_register_detectors", "detector", Detector)

    def register_renderers(self) -> Registry[Renderer]:
        return self._collect("hushcut_register_renderers", "renderer", Renderer)

    def register_exporters(self) -> Registry[Exporter]:
        return self._collect("hushcut_register_exporters", "exporter", Exporter)

    def plan(self, detection: Detection, options: CutOptions) -> Timeline | None:
        outcome = self._call("hushcut_plan", detection=detection, options=options)
        if outcome.value is None or isinstance(outcome.value, Timeline):
            return outcome.value
        raise self._wrong(outcome, "hushcut_plan", outcome.value, "a Timeline")

    def adjust_timeline(
        self, timeline: Timeline, detection: Detection, options: CutOptions
    ) -> None:
        self._call(
            "hushcut_adjust_timeline", timeline=timeline, detection=detection, options=options
        )

    def audio_filters(self, options: CutOptions, media: MediaInfo) -> list[str]:
        return self._filters("hushcut_audio_filters", options, media)

    def video_filters(self, options: CutOptions, media: MediaInfo) -> list[str]:
        return self._filters("hushcut_video_filters", options, media)

    def postprocess(
        self, output: Path, result: RenderResult, options: CutOptions, progress: ProgressCallback
    ) -> list[str]:
        """The notes post-processing plugins returned, in call order."""
        outcome = self._call(
            "hushcut_postprocess", output=output, result=result, options=options, progress=progress
        )
        return [str(note) for note in self._list(outcome, "hushcut_postprocess") if note]

    # ------------------------------------------------------------------ machinery
    def _call(self, hook: str, **kwargs: object) -> _Outcome:
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        sink = collect_results()
        returned: list[tuple[str, pluggy.HookImpl, object]] = []
        token = sink.set(returned)
        try:
            value = caller(**kwargs)
        except PipelineError:
            raise
        except Exception as exc:
            impl = raised_by(exc)
            if impl is None:
                raise
            plugin = impl.plugin_name
            error = unexpected_failure(plugin, self._pm.origin(plugin), hook, exc)
            if error is None:
                raise
            raise error from exc
        finally:
            sink.reset(token)
        return _Outcome(value, [(impl, result) for name, impl, result in returned if name == hook])

    def _collect(self, hook: str, kind: str, cls: type[T]) -> Registry[T]:
        """Call a ``hushcut_register_*`` hook; what was registered, in the order the
        plugins were registered (built-ins first). A name registered twice is a
        PluginError naming the plugin registered later."""
        entries: list[Registered[T]] = []
        accepting = True

        def register(implementation: T) -> None:
            impl = running_hookimpl()
            if not accepting or impl is None:
                raise PluginError(f"the register function of {hook} was called after {hook} ended")
            plugin, origin = impl.plugin_name, self._pm.origin(impl.plugin_name)
            if not isinstance(implementation, cls):
                raise PluginError.about(
                    plugin,
                    origin,
                    f"registered {implementation!r} in {hook}, not a {cls.__name__}",
                    hook=hook,
                )
            name = implementation.name
            if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
                raise PluginError.about(
                    plugin,
                    origin,
                    f"registers a {kind} named {name!r}: a name is lower-case letters, "
                    "digits, '-' and '_'",
                    hook=hook,
                )
            entries.append(Registered(implementation, kind, plugin, origin))

        try:
            self._call(hook, register=register)
        finally:
            accepting = False
        order = {name: position for position, (name, _) in enumerate(self._pm.list_name_plugin())}
        entries.sort(key=lambda entry: order.get(entry.plugin, len(order)))
        first: dict[str, Registered[T]] = {}
        for entry in entries:
            if entry.name in first:
                raise PluginError.about(
                    entry.plugin,
                    entry.origin,
                    f"registers a {kind} named {entry.name!r}, which plugin "
                    f"{first[entry.name].plugin!r} registers too",
                    hook=hook,
                )
            first[entry.name] = entry
        return Registry(kind, entries)

    def _filters(self, hook: str, options: CutOptions, media: MediaInfo) -> list[str]:
        outcome = self._call(hook, options=options, media=media)
        filters: list[str] = []
        for result in self._list(outcome, hook):
            items = self._list_of(outcome, hook, result, "a list of filter strings")
            filters.extend(str(item) for item in items if item)
        return filters

    def _list(self, outcome: _Outcome, hook: str) -> list[object]:
        """The results of a hook that calls every implementation."""
        if not isinstance(outcome.value, list):
            raise self._wrong(outcome, hook, outcome.value, "a list of results")
        return [result for result in outcome.value if result is not None]

    def _list_of(self, outcome: _Outcome, hook: str, result: object, expected: str) -> list[Any]:
        """One implementation's result, which must be a list (or tuple)."""
        if not isinstance(result, list | tuple):
            raise self._wrong(outcome, hook, result, expected)
        return list(result)

    def _wrong(self, outcome: _Outcome, hook: str, value: object, expected: str) -> PluginError:
        plugin = outcome.plugin_of(value)
        problem = f"returned {value!r} from {hook}, not {expected}"
        if plugin is None:
            return PluginError(f"{hook} {problem.removeprefix('returned ')}", hook=hook)
        return PluginError.about(plugin, self._pm.origin(plugin), problem, hook=hook)


def unexpected_failure(
    plugin: str, origin: PluginOrigin, where: str, exc: Exception
) -> PluginError | None:
    """The PluginError naming ``plugin`` for ``exc``, an unexpected exception it raised in
    ``where`` (a hook name, or e.g. ``detector 'vad'``); None for a built-in step."""
    if origin.builtin:
        return None
    hook = where if where.startswith("hushcut_") else None
    problem = f"failed in {where}: {type(exc).__name__}: {exc}"
    return PluginError.about(plugin, origin, problem, hook=hook)


@contextmanager
def failures_named(entry: Registered[Any]) -> Iterator[None]:
    """Run a registered implementation: an unexpected exception it raises becomes a
    PluginError naming the plugin that registered it (unless that is a built-in step)."""
    try:
        yield
    except PipelineError:
        raise
    except Exception as exc:
        error = unexpected_failure(entry.plugin, entry.origin, f"{entry.kind} {entry.name!r}", exc)
        if error is None:
            raise
        raise error from exc
