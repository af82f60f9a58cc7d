"""A broken plugin, at load time or crashing in a hook, is named in one line; it can be left out."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from hushcut.pipeline import (
    CanceledError,
    Detection,
    MediaError,
    OptionsError,
    PluginError,
    cut,
    detect,
    get_plugin_manager,
    hookimpl,
    plan,
)
from hushcut.pipeline.cli import main
from tests.pipeline.fake_plugins import use_fake_renderer

BROKEN_IMPORT = "import no_such_module_anywhere\n"
MISSPELT = (
    "from hushcut.pipeline import hookimpl\n\n"
    "@hookimpl\n"
    "def hushcut_audio_filter(options, media):\n"
    "    return ['hflip']\n"
)
WRONG_ARGUMENTS = (
    "from hushcut.pipeline import hookimpl\n\n"
    "@hookimpl\n"
    "def hushcut_postprocess(output, result, options, progress, extra):\n"
    "    return None\n"
)


def _one_error_line(result) -> str:
    """stderr without the JSON progress lines (stderr is not a terminal): one line."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    rest = "".join(
        line for line in result.stderr.splitlines(keepends=True) if not line.startswith('{"stage"')
    )
    assert rest.count("\n") == 1, result.stderr
    return rest


def test_cut_with_a_plugin_that_fails_to_import_names_it(fake_distribution, workdir: Path):
    fake_distribution(
        "hushcut-broken",
        {"hushcut_test_plugin_broken": BROKEN_IMPORT},
        {"broken": "hushcut_test_plugin_broken"},
    )
    output = workdir / "out.mp4"
    result = CliRunner().invoke(main, ["cut", str(workdir / "talk.mp4"), "-o", str(output)])
    line = _one_error_line(result)
    assert line.startswith(
        "error: plugin 'broken' (hushcut-broken 1.0, entry point hushcut_test_plugin_broken)"
        " failed to import: ModuleNotFoundError: No module named 'no_such_module_anywhere'"
    )
    assert not output.exists()


def test_detect_with_a_misspelt_hook_names_the_plugin_and_the_hook(
    fake_distribution, workdir: Path
) -> None:
    fake_distribution(
        "hushcut-typo", {"hushcut_test_plugin_typo": MISSPELT}, {"typo": "hushcut_test_plugin_typo"}
    )
    result = CliRunner().invoke(main, ["detect", str(workdir / "talk.mp4")])
    line = _one_error_line(result)
    assert line.startswith("error: plugin 'typo' (hushcut-typo 1.0")
    assert "hushcut_audio_filter" in line


def test_entry_point_hook_with_wrong_arguments_names_the_plugin(fake_distribution) -> None:
    fake_distribution(
        "hushcut-wrong",
        {"hushcut_test_plugin_wrong": WRONG_ARGUMENTS},
        {"wrong": "hushcut_test_plugin_wrong"},
    )
    with pytest.raises(PluginError, match=r"plugin 'wrong' \(hushcut-wrong 1\.0.*is invalid"):
        get_plugin_manager()
    result = CliRunner().invoke(main, ["plugins"])
    assert _one_error_line(result).startswith("error: plugin 'wrong' (hushcut-wrong 1.0")


def test_a_broken_plugin_can_be_blocked_and_the_rest_keeps_working(
    fake_distribution, workdir: Path
) -> None:
    fake_distribution(
        "hushcut-broken",
        {"hushcut_test_plugin_broken": BROKEN_IMPORT},
        {"broken": "hushcut_test_plugin_broken"},
    )
    pm = get_plugin_manager(block=["broken"])
    assert pm.get_plugin("broken") is None
    assert detect(workdir / "talk.mp4", plugin_manager=pm).silences


CRASHING_HOOKS = {
    "hushcut_options": "def hushcut_options():\n",
    "hushcut_register_detectors": "def hushcut_register_detectors(register):\n",
    "hushcut_register_renderers": "def hushcut_register_renderers(register):\n",
    "hushcut_plan": "def hushcut_plan(detection, options):\n",
    "hushcut_adjust_timeline": "def hushcut_adjust_timeline(timeline, detection, options):\n",
    "hushcut_audio_filters": "def hushcut_audio_filters(options, media):\n",
    "hushcut_postprocess": "def hushcut_postprocess(output, result, options, progress):\n",
}


def crashing_plugin(hook: str, error: str = "RuntimeError('boom')") -> str:
    """Source of a plugin module whose ``hook`` raises ``error``."""
    header = "from hushcut.pipeline import hookimpl\n\n@hookimpl\n"
    return f"{header}{CRASHING_HOOKS[hook]}    raise {error}\n"


def crashing_detector(error: str = "RuntimeError('boom')") -> str:
    """Source of a plugin module registering detector ``crashy``, which raises ``error``."""
    return (
        "from hushcut.pipeline import Detector, hookimpl\n\n"
        f"def detect(source, media, options, progress):\n    raise {error}\n\n"
        "@hookimpl\n"
        "def hushcut_register_detectors(register):\n"
        "    register(Detector('crashy', detect))\n"
    )


@pytest.fixture
def runtime_plugin(tmp_path: Path) -> Callable[[str, str], ModuleType]:
    """Import plugin source as a module file (not installed: registered at runtime)."""

    def load(name: str, source: str) -> ModuleType:
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"hushcut_runtime_{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.mark.parametrize("hook", list(CRASHING_HOOKS))
def test_a_plugin_crashing_in_any_hook_of_a_cut_is_named(
    pm, workdir: Path, hook: str, runtime_plugin
) -> None:
    use_fake_renderer(pm)
    pm.register(runtime_plugin("crashy", crashing_plugin(hook)), name="crashy")
    output = workdir / "out.mp4"
    with pytest.raises(PluginError) as caught:
        cut(workdir / "talk.mp4", output, plugin_manager=pm)
    assert str(caught.value) == f"plugin 'crashy' failed in {hook}: RuntimeError: boom"
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not output.exists()


@pytest.mark.parametrize("hook", ["hushcut_options", "hushcut_register_detectors"])
def test_a_plugin_crashing_during_detect_is_named(
    pm, workdir: Path, hook: str, runtime_plugin
) -> None:
    pm.register(runtime_plugin("crashy", crashing_plugin(hook, "KeyError('gap')")), name="crashy")
    with pytest.raises(PluginError, match=rf"^plugin 'crashy' failed in {hook}: KeyError: 'gap'$"):
        detect(workdir / "talk.mp4", plugin_manager=pm)


def test_a_registered_detector_crashing_is_named_with_its_plugin(
    pm, workdir: Path, runtime_plugin
) -> None:
    pm.register(runtime_plugin("crashy", crashing_detector("KeyError('gap')")), name="crashy")
    output = workdir / "out.mp4"
    with pytest.raises(PluginError) as caught:
        cut(workdir / "talk.mp4", output, {"detector": "crashy"}, plugin_manager=pm)
    assert str(caught.value) == "plugin 'crashy' failed in detector 'crashy': KeyError: 'gap'"
    assert caught.value.plugin == "crashy"
    assert isinstance(caught.value.__cause__, KeyError)
    assert not output.exists()


def test_a_plugin_crashing_while_planning_is_named(pm, runtime_plugin) -> None:
    pm.register(runtime_plugin("crashy", crashing_plugin("hushcut_plan")), name="crashy")
    with pytest.raises(PluginError, match=r"^plugin 'crashy' failed in hushcut_plan: "):
        plan(Detection(60.0, [(10.0, 12.0)]), plugin_manager=pm)


@pytest.mark.parametrize(
    ("hook", "error", "expected"),
    [
        ("detector", "MediaError('the tape is chewed')", MediaError),
        ("hushcut_audio_filters", "OptionsError('rumble.cutoff must be > 0')", OptionsError),
        ("hushcut_postprocess", "CanceledError('canceled')", CanceledError),
    ],
)
def test_pipeline_errors_raised_by_a_plugin_pass_through_unchanged(
    pm, workdir: Path, runtime_plugin, hook: str, error: str, expected: type[Exception]
) -> None:
    use_fake_renderer(pm)
    source = crashing_detector(error) if hook == "detector" else crashing_plugin(hook, error)
    source = source.replace("import ", "import CanceledError, MediaError, OptionsError, ", 1)
    pm.register(runtime_plugin("strict", source), name="strict")
    options = {"detector": "crashy"} if hook == "detector" else {}
    with pytest.raises(expected) as caught:
        cut(workdir / "talk.mp4", workdir / "out.mp4", options, plugin_manager=pm)
    assert type(caught.value) is expected
    assert "strict" not in str(caught.value)


class PassThroughWrapper:
    """A plugin wrapping a hook that lets whatever happens inside it through."""

    @hookimpl(wrapper=True)
    def hushcut_plan(self, detection, options):
        return (yield)


def test_a_wrapper_is_not_blamed_for_the_crash_of_the_plugin_it_wraps(pm, runtime_plugin) -> None:
    pm.register(runtime_plugin("crashy", crashing_plugin("hushcut_plan")), name="crashy")
    pm.register(PassThroughWrapper(), name="wrapper")
    with pytest.raises(PluginError, match=r"^plugin 'crashy' failed in hushcut_plan: "):
        plan(Detection(60.0, [(10.0, 12.0)]), plugin_manager=pm)


def test_a_wrapper_around_a_built_in_step_is_not_blamed_for_its_failure(pm) -> None:
    pm.register(PassThroughWrapper(), name="wrapper")
    # Silences as text make the built-in planner itself fail: Hushcut's bug, not the wrapper's.
    garbled = Detection(60.0, [("10", "12")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        plan(garbled, plugin_manager=pm)


def test_a_wrapper_raising_its_own_error_is_blamed_for_it(pm, runtime_plugin) -> None:
    class Translating:
        @hookimpl(wrapper=True)
        def hushcut_plan(self, detection, options):
            try:
                return (yield)
            except TypeError as exc:
                raise ValueError("could not plan") from exc

    pm.register(Translating(), name="translating")
    garbled = Detection(60.0, [("10", "12")])  # type: ignore[list-item]
    with pytest.raises(PluginError) as caught:
        plan(garbled, plugin_manager=pm)
    assert str(caught.value) == (
        "plugin 'translating' failed in hushcut_plan: ValueError: could not plan"
    )
    assert caught.value.plugin == "translating"


def test_a_plugin_returning_the_wrong_type_is_named(pm, workdir: Path, runtime_plugin) -> None:
    use_fake_renderer(pm)
    source = (
        "from hushcut.pipeline import hookimpl\n\n@hookimpl\n"
        "def hushcut_audio_filters(options, media):\n    return 'highpass=f=80'\n"
    )
    pm.register(runtime_plugin("stringly", source), name="stringly")
    with pytest.raises(PluginError) as caught:
        cut(workdir / "talk.mp4", workdir / "out.mp4", plugin_manager=pm)
    assert str(caught.value) == (
        "plugin 'stringly' returned 'highpass=f=80' from hushcut_audio_filters, "
        "not a list of filter strings"
    )
    assert (caught.value.plugin, caught.value.hook) == ("stringly", "hushcut_audio_filters")


class Gate:
    """One class, registered twice with different settings: only one instance is broken."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken

    @hookimpl
    def hushcut_audio_filters(self, options, media) -> list[str]:
        if self.broken:
            raise ValueError("no gate level configured")
        return []


def test_the_broken_one_of_two_instances_of_a_plugin_class_is_named(pm, workdir: Path) -> None:
    use_fake_renderer(pm)
    pm.register(Gate(broken=True), name="gate-broken")
    pm.register(Gate(broken=False), name="gate-fine")
    with pytest.raises(PluginError, match=r"^plugin 'gate-broken' failed in hushcut_audio_"):
        cut(workdir / "talk.mp4", workdir / "out.mp4", plugin_manager=pm)


def test_cut_with_an_installed_plugin_crashing_in_a_hook_prints_one_line_naming_it(
    fake_distribution, workdir: Path
) -> None:
    fake_distribution(
        "hushcut-crashy",
        {"hushcut_test_plugin_crashy": crashing_plugin("hushcut_audio_filters")},
        {"crashy": "hushcut_test_plugin_crashy"},
    )
    output = workdir / "out.mp4"
    result = CliRunner().invoke(main, ["cut", str(workdir / "talk.mp4"), "-o", str(output)])
    assert _one_error_line(result) == (
        "error: plugin 'crashy' (hushcut-crashy 1.0) failed in hushcut_audio_filters:"
        " RuntimeError: boom\n"
    )
    assert not output.exists()


def test_detect_with_an_installed_plugin_crashing_in_a_hook_prints_one_line_naming_it(
    fake_distribution, workdir: Path
) -> None:
    fake_distribution(
        "hushcut-crashy",
        {"hushcut_test_plugin_crashy": crashing_detector()},
        {"crashy": "hushcut_test_plugin_crashy"},
    )
    result = CliRunner().invoke(
        main, ["detect", str(workdir / "talk.mp4"), "--set", "detector=crashy"]
    )
    assert _one_error_line(result) == (
        "error: plugin 'crashy' (hushcut-crashy 1.0) failed in detector 'crashy': "
        "RuntimeError: boom\n"
    )
