"""docs/plugins.md stays true: each hook with its exact signature and call rule; a valid example."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
import types
from pathlib import Path

import pytest

from hushcut.pipeline import (
    CutOptions,
    capabilities,
    detect,
    get_plugin_manager,
    hookspecs,
    probe,
)
from hushcut.pipeline.api import resolve_options
from hushcut.pipeline.plugins import ENTRY_POINT_GROUP, hook_names, register_plugin
from hushcut.pipeline.testing import CACHE_ENV

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
FIRST_RESULT = "**Call rule: first non-None result wins**"
EVERY_RESULT = "**Call rule: every "


def _annotation(value: object) -> str:
    # hookspecs uses postponed annotations (strings); format real types the same way.
    return value if isinstance(value, str) else inspect.formatannotation(value)


def spec_signature(hook: str) -> str:
    """``def name(arg: Type, ...) -> Return`` exactly as hookspecs.py declares ``hook``."""
    signature = inspect.signature(getattr(hookspecs, hook))
    parameters = ", ".join(
        f"{p.name}: {_annotation(p.annotation)}" for p in signature.parameters.values()
    )
    return f"def {hook}({parameters}) -> {_annotation(signature.return_annotation)}"


def spec_options(hook: str) -> dict[str, object]:
    return getattr(getattr(hookspecs, hook), f"{hookspecs.PROJECT_NAME}_spec")


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text()


@pytest.fixture(scope="module")
def sections(guide: str) -> dict[str, str]:
    """The text under each ``### `hushcut_...` `` heading of the Hooks chapter."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^### `(hushcut_\w+)`\n(.*?)(?=^#{2,3} |\Z)", guide, re.M | re.S):
        found[match.group(1)] = match.group(2)
    return found


def test_every_hook_is_documented_in_spec_order(sections: dict[str, str]) -> None:
    assert list(sections) == hook_names(), "docs/plugins.md hooks differ from hookspecs.py"


@pytest.mark.parametrize("hook", hook_names())
def test_hook_is_documented_with_its_exact_signature(sections: dict[str, str], hook: str) -> None:
    expected = spec_signature(hook)
    assert f"```python\n{expected}\n```" in sections.get(hook, ""), (
        f"docs/plugins.md must show `{expected}` under ### `{hook}`"
    )


@pytest.mark.parametrize("hook", hook_names())
def test_hook_call_rule_matches_the_spec(sections: dict[str, str], hook: str) -> None:
    text = sections.get(hook, "")
    options = spec_options(hook)
    if options["firstresult"]:
        assert FIRST_RESULT in text, f"{hook} is firstresult: say so in docs/plugins.md"
    else:
        assert EVERY_RESULT in text, f"{hook} calls every implementation: say so"
        assert FIRST_RESULT not in text, f"{hook} is not firstresult"
    assert ("historic" in text) == bool(options["historic"])


@pytest.mark.parametrize("hook", hook_names())
def test_hook_says_when_it_was_added_as_its_spec_does(sections: dict[str, str], hook: str) -> None:
    spec = re.search(r"Added in (\d+\.\d+)\.", inspect.getdoc(getattr(hookspecs, hook)) or "")
    assert spec, f"the docstring of {hook} must end with 'Added in X.Y.'"
    documented = re.search(r"^\*Added in (\d+\.\d+)", sections.get(hook, ""), re.M)
    assert documented, f"docs/plugins.md must say *Added in {spec.group(1)}* under {hook}"
    assert documented.group(1) == spec.group(1)


def test_overview_lists_every_hook_with_its_call_rule(guide: str) -> None:
    overview = guide.split("## How a cut calls plugins", 1)[1].split("```", 2)[1]
    rules = {
        line.split()[0]: line
        for line in overview.splitlines()
        if line.startswith(f"{hookspecs.PROJECT_NAME}_")
    }
    assert sorted(rules) == sorted(hook_names())
    for hook, line in rules.items():
        first = "first non-None result wins" in line
        assert first == bool(spec_options(hook)["firstresult"]), line


def _example(guide: str, name: str) -> str:
    match = re.search(rf"<!-- example: {re.escape(name)} -->\n```python\n(.*?)```", guide, re.S)
    assert match, f"docs/plugins.md has no example {name}"
    return match.group(1)


def test_minimal_example_is_a_working_plugin(guide: str, talk: Path) -> None:
    module = types.ModuleType("hushcut_rumble.plugin")
    # Running the documented code is the point: it must be a plugin that really loads.
    code = compile(_example(guide, "hushcut_rumble/plugin.py"), "plugin.py", "exec")
    exec(code, vars(module))  # noqa: S102
    pm = get_plugin_manager(autoload=False)
    register_plugin(pm, module, "rumble")  # fails on a misspelt hook or wrong arguments
    options = resolve_options({"plugins": {"rumble": {"enabled": "true", "cutoff": "120"}}}, pm)
    media = probe(talk)
    assert ["highpass=f=120.0:poles=2"] in pm.hook.hushcut_audio_filters(
        options=options, media=media
    )
    disabled = resolve_options(CutOptions(), pm)
    assert pm.hook.hushcut_audio_filters(options=disabled, media=media) == []
    with pytest.raises(Exception, match=r"option rumble\.cutoff"):
        resolve_options({"plugins": {"rumble": {"cutoff": "5"}}}, pm)


def test_detector_example_registers_a_working_detector(guide: str, talk: Path) -> None:
    module = types.ModuleType("fixed45")
    exec(compile(_example(guide, "detector"), "detector.py", "exec"), vars(module))  # noqa: S102
    pm = get_plugin_manager(autoload=False)
    register_plugin(pm, module, "fixed45")
    detection = detect(talk, {"detector": "fixed45"}, plugin_manager=pm)
    assert detection.detector == "fixed45"
    assert detection.threshold_db == -45.0
    assert len(detection.silences) > 5


def test_capabilities_are_documented_with_their_exact_fields(guide: str) -> None:
    chapter = guide.split("## Capabilities", 1)[1]
    documented = json.loads(chapter.split("```json\n", 1)[1].split("```", 1)[0])
    module = types.ModuleType("hushcut_rumble.plugin")  # a plugin with options
    exec(compile(_example(guide, "hushcut_rumble/plugin.py"), "plugin.py", "exec"), vars(module))  # noqa: S102
    pm = get_plugin_manager(autoload=False)
    register_plugin(pm, module, "rumble")
    actual = json.loads(json.dumps(capabilities(pm)))
    assert documented.keys() == actual.keys()
    for key in ("plugins", "detectors", "renderers", "exporters", "options"):
        assert documented[key][0].keys() == actual[key][0].keys(), key
    assert documented["schema_version"] == actual["schema_version"]


def test_minimal_example_packaging_points_at_the_example_module(guide: str) -> None:
    toml = re.search(r"`pyproject.toml`.*?```toml\n(.*?)```", guide, re.S)
    assert toml
    project = tomllib.loads(toml.group(1))
    assert project["project"]["entry-points"][ENTRY_POINT_GROUP] == {
        "rumble": "hushcut_rumble.plugin"
    }
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/hushcut_rumble"
    ]
    # The example's test is valid Python that imports the example plugin.
    test_source = _example(guide, "tests/test_rumble.py")
    compile(test_source, "test_rumble.py", "exec")
    assert "import hushcut_rumble.plugin" in test_source


def test_guide_names_the_plugins_that_ship_in_this_repository(guide: str) -> None:
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        assert f"`{name}`" in guide, f"docs/plugins.md does not mention {name}"


def test_minimal_example_test_passes_with_the_test_kit(
    guide: str, pytester: pytest.Pytester, sample_media_cache: Path, monkeypatch
) -> None:
    # The documented plugin and its documented test, run as its author would run them.
    package = pytester.mkpydir("hushcut_rumble")
    (package / "plugin.py").write_text(_example(guide, "hushcut_rumble/plugin.py"))
    pytester.makepyfile(test_rumble=_example(guide, "tests/test_rumble.py"))
    monkeypatch.setenv(CACHE_ENV, str(sample_media_cache))  # pytester moves HOME
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
