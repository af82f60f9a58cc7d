"""pluggy's plugin manager for Hushcut: it knows where each plugin came from, and which
hook implementation raised an exception or registered an implementation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, cast

import pluggy

from hushcut.pipeline import hookspecs
from hushcut.pipeline.errors import RUNTIME, PluginOrigin

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT_NAME)

#: The hook implementation running now (in this thread or task), as pluggy called it.
_running: ContextVar[pluggy.HookImpl | None] = ContextVar("hushcut_hookimpl", default=None)
#: Where the implementations of the current facade call put what they returned.
_results: ContextVar[list[tuple[str, pluggy.HookImpl, object]] | None] = ContextVar(
    "hushcut_hook_results", default=None
)
#: Attribute naming, on an exception, the hook implementation it escaped first.
_RAISED_BY = "_hushcut_raised_by"

Steps = Generator[object, object, object]


class HushcutPluginManager(pluggy.PluginManager):
    """pluggy's manager for the ``hushcut`` project.

    It remembers where each plugin came from (``origins``), and runs every hook
    implementation through a guard, so that failures and registrations are attributed to
    the :class:`pluggy.HookImpl` pluggy called — the structured record of which plugin an
    implementation belongs to — rather than guessed from tracebacks.
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        #: Plugin name -> where it came from; plugins registered at runtime are absent.
        self.origins: dict[str, PluginOrigin] = {}
        self._guards: dict[pluggy.HookImpl, pluggy.HookImpl] = {}

    def origin(self, name: str) -> PluginOrigin:
        """Where the plugin registered as ``name`` came from."""
        return self.origins.get(name, RUNTIME)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        removed = super().unregister(plugin, name)
        self._guards = {impl: g for impl, g in self._guards.items() if impl.plugin is not removed}
        for name_gone in [key for key in self.origins if self.get_plugin(key) is None]:
            del self.origins[name_gone]
        return removed

    def _hookexec(
        self,
        hook_name: str,
        methods: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
        firstresult: bool,
    ) -> object | list[object]:
        # Every HookCaller of this manager dispatches here: pluggy runs its own call loop
        # over guarded copies of the implementations.
        guarded = [self._guarded(hook_name, impl) for impl in methods]
        return super()._hookexec(hook_name, guarded, kwargs, firstresult)

    def _guarded(self, hook_name: str, impl: pluggy.HookImpl) -> pluggy.HookImpl:
        guard = self._guards.get(impl)
        if guard is None:
            # functools.wraps keeps the signature pluggy reads the argument names from.
            guard = pluggy.HookImpl(
                impl.plugin, impl.plugin_name, _guard(hook_name, impl), impl.opts
            )
            self._guards[impl] = guard
        return guard


def running_hookimpl() -> pluggy.HookImpl | None:
    """The hook implementation pluggy is running now, if any (a ``register`` callback
    uses it to learn which plugin registers)."""
    return _running.get()


def raised_by(exc: BaseException) -> pluggy.HookImpl | None:
    """The innermost hook implementation ``exc`` escaped from, if it escaped one.

    Innermost: a wrapper that lets an inner implementation's exception through is not
    blamed for it; an implementation calling another plugin's function directly (not
    through a hook) is blamed for what that call raises.
    """
    impl = getattr(exc, _RAISED_BY, None)
    return impl if isinstance(impl, pluggy.HookImpl) else None


def collect_results() -> ContextVar[list[tuple[str, pluggy.HookImpl, object]] | None]:
    """The context variable a caller sets to a list to learn what each implementation returned."""
    return _results


def _mark(exc: BaseException, impl: pluggy.HookImpl) -> None:
    if getattr(exc, _RAISED_BY, None) is None:
        setattr(exc, _RAISED_BY, impl)


def _guard(hook_name: str, impl: pluggy.HookImpl) -> Callable[..., object]:
    """``impl.function``, recording that ``impl`` runs, what it returns and what it raises."""
    function = impl.function
    if impl.wrapper or impl.hookwrapper:

        @functools.wraps(function)
        def wrapper(*args: object, **kwargs: object) -> Steps:
            # pluggy accepts only generator functions as wrappers.
            result = yield from _guard_steps(impl, cast(Steps, function(*args, **kwargs)))
            _record(hook_name, impl, result)
            return result

        return wrapper

    @functools.wraps(function)
    def call(*args: object, **kwargs: object) -> object:
        token = _running.set(impl)
        try:
            result = function(*args, **kwargs)
        except BaseException as exc:
            _mark(exc, impl)
            raise
        finally:
            _running.reset(token)
        _record(hook_name, impl, result)
        return result

    return call


def _record(hook_name: str, impl: pluggy.HookImpl, result: object) -> None:
    sink = _results.get()
    if sink is not None and result is not None:
        sink.append((hook_name, impl, result))


def _guard_steps(impl: pluggy.HookImpl, steps: Steps) -> Steps:
    """A wrapper's generator, step by step: blamed for an exception it raises itself, not
    for the one pluggy throws into it (an inner implementation's) and it lets through."""
    thrown: BaseException | None = None
    try:
        request = _step(impl, steps.send, None)
        while True:
            try:
                reply = yield request
            except BaseException as exc:
                thrown = exc
                request = _step(impl, steps.throw, exc)
            else:
                thrown = None
                request = _step(impl, steps.send, reply)
    except StopIteration as stop:
        return stop.value
    except BaseException as exc:
        if exc is not thrown:
            _mark(exc, impl)
        raise


def _step(impl: pluggy.HookImpl, advance: Callable[[Any], object], value: Any) -> object:
    token = _running.set(impl)
    try:
        return advance(value)
    finally:
        _running.reset(token)
