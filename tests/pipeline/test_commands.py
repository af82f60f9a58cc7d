"""The `hushcut` command group: output formats, pipes, and commands that fail to load."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_piped_cut_prints_json_progress_and_the_summary(
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
    # stderr is not a terminal: one JSON object per progress update, for scripts.
    updates = [json.loads(line) for line in result.stderr.splitlines()]
    assert updates, result.stderr
    assert {"stage", "progress", "elapsed_s", "eta_s"} == set(updates[0])
    assert [u["stage"] for u in updates][-1] == "postprocess"
    assert updates[-1]["progress"] == 1.0
    assert updates[-1]["eta_s"] == 0.0
    fractions = [u["progress"] for u in updates]
    assert fractions == sorted(fractions)
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{source} -> {tmp_path / 'out.mp4'}: ")
    command = [sys.executable, "-m", "hushcut.pipeline", "cut", str(source)]
    quiet = subprocess.run(
        [*command, "-o", str(tmp_path / "q.mp4"), "--progress", "none"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""


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
        "  renderer mp4 (.mp4, video/mp4): MP4 by default, or the container the output's "
        "extension names (MOV, MKV, WebM, audio): mode smart copies every frame it can and "
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["cut", "talk.mp4", "--thresold-db", "-40"],
            "error: No such option '--thresold-db'. Did you mean '--threshold-db'?\n",
        ),
        (["cutt", "talk.mp4"], "error: No such command 'cutt'. Did you mean 'cut'?\n"),
        (
            ["cut", "talk.mp4", "--mode", "fast"],
            "error: Invalid value for '--mode': 'fast' is not one of 'smart', 'reencode'.\n",
        ),
        (["detect"], "error: Missing argument 'IN'.\n"),
        (
            ["cut", "talk.mp4", "--audio-track", "-1"],
            "error: Invalid value for '--audio-track': -1 is not in the range x>=0.\n",
        ),
    ],
    ids=["unknown-option", "unknown-command", "bad-choice", "missing-argument", "bad-range"],
)
def test_command_line_mistakes_are_one_error_line_with_status_1(
    args: list[str], message: str
) -> None:
    # The real console script: click's own usage errors, not only ours.
    result = subprocess.run(
        [sys.executable, "-m", "hushcut.pipeline", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == message
    assert result.stdout == ""


def test_unwritable_output_extension_is_refused_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["cut", str(tmp_path / "missing.mp4"), "-o", "out.gif"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot write a .gif file (out.gif): name the output ")


def test_on_a_terminal_cut_draws_a_bar_with_an_eta(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    # stderr is a pseudo-terminal, as in a shell: the bar (stage, elapsed, eta), no JSON.
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "hushcut.pipeline",
                "cut",
                str(sample_media("mono.mp3")),
                "-o",
                str(tmp_path / "out.mp4"),
            ],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
            timeout=120,
            check=False,
        )
        os.close(secondary)
        drawn = b""
        while select.select([primary], [], [], 0)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(primary)
    assert result.returncode == 0, drawn
    text = drawn.decode(errors="replace")
    assert "eta" in text
    assert '{"stage"' not in text
    assert result.stdout.decode().startswith(f"{sample_media('mono.mp3')} -> ")
