"""A broken plugin is named in one line by every command, and can be left out by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import PluginError, detect, get_plugin_manager
from hushcut.pipeline.cli import main

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
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_cut_with_a_plugin_that_fails_to_import_names_it(fake_distribution, workdir: Path):
    fake_distribution(
        "hushcut-broken",
        {"hushcut_test_plugin_broken": BROKEN_IMPORT},
        {"broken": "hushcut_test_plugin_broken"},
    )
    output = workdir / "out.mp4"
    result = CliRunner().invoke(main, ["cut", str(workdir / "talk1.mp4"), "-o", str(output)])
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
    result = CliRunner().invoke(main, ["detect", str(workdir / "talk1.mp4")])
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
    assert detect(workdir / "talk1.mp4", plugin_manager=pm).silences
