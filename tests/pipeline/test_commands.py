"""The `hushcut` command group: output formats, pipes, and commands that fail to load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from hushcut.pipeline.cli import main
from hushcut.pipeline.testing import SampleMedia


def test_detect_json_prints_duration_and_silences(talk: Path) -> None:
    result = CliRunner().invoke(main, ["detect", str(talk), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["duration"] == 60.0
    assert all(isinstance(pair, list) and len(pair) == 2 for pair in data["silences"])
    assert data["silences"][0][0] == 0.0
    assert data["silences"][-1][1] == 60.0


def test_piped_cut_shows_no_progress_bar_only_the_summary(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    source = sample_media("mono.mp3")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hushcut.pipeline",
            "cut",
            str(source),
            "-o",
            str(tmp_path / "out.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{source} -> {tmp_path / 'out.mp4'}: ")


def test_a_command_that_fails_to_load_is_listed_unavailable(fake_distribution) -> None:
    fake_distribution(
        "hushcut-broken-cli",
        {"hushcut_test_plugin_cli": "raise ImportError('redis client missing')\n"},
        {"frobnicate": "hushcut_test_plugin_cli:command"},
        group="hushcut.commands",
    )
    runner = CliRunner()
    help_text = runner.invoke(main, ["--help"])
    assert help_text.exit_code == 0, help_text.output
    assert "frobnicate" in help_text.stdout
    assert "unavailable: ImportError: redis client missing" in help_text.stdout
    assert "cut" in help_text.stdout
    broken = runner.invoke(main, ["frobnicate", "--anything"])
    assert broken.exit_code == 1
    assert broken.stderr == (
        "error: the 'frobnicate' command is unavailable: ImportError: redis client missing\n"
    )


def test_plugins_lists_builtins_with_their_hooks_and_registries() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "loudness (built-in)",
        "  hooks: hushcut_register_detectors",
        "  detector loudness: Windows quieter than a threshold between the recording's noise "
        "floor and speech level (the default).",
    ]
    assert "renderer (built-in)" in lines
    assert (
        "  renderer mp4 (.mp4, video/mp4): MP4 (H.264/AAC): mode smart copies whole GOPs and "
        "re-encodes only around cuts; mode reencode encodes everything once."
    ) in lines
    assert lines[-3:] == [
        "detectors: loudness (default)",
        "renderers: mp4 (default)",
        "exporters: json",
    ]


def test_bad_option_value_is_one_line(talk: Path) -> None:
    result = CliRunner().invoke(main, ["detect", str(talk), "--set", "speedup.factor=2"])
    assert result.exit_code == 1
    assert (
        result.stderr == "error: unknown plugin 'speedup' in options (plugins with options: none)\n"
    )


def test_a_directory_as_input_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["cut", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path.name} is a directory, not a media file\n"
