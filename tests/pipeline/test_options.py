"""Options: validation with errors that name the bad key, plugin options, `--set` parsing."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field

from hushcut.pipeline import CutOptions, OptionsError, OptionSpec
from hushcut.pipeline.options import parse_assignments

SPECS = [
    OptionSpec("speedup", "factor", float, 4.0, "How much faster silences play."),
    OptionSpec("speedup", "enabled", bool, True),
    OptionSpec("vad", "aggressiveness", Literal[0, 1, 2, 3], 2),
]


def test_defaults_are_the_documented_ones() -> None:
    options = CutOptions()
    assert options.threshold_db is None  # measured from the recording
    assert (options.min_silence_s, options.margin_s, options.mode) == (0.3, 0.15, "smart")
    assert options.detector == "loudness"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"treshold_db": -40}, "unknown option 'treshold_db'"),
        ({"margin_s": "lots"}, "option 'margin_s'"),
        ({"margin_s": -1}, "option 'margin_s'"),
        ({"threshold_db": 10}, "option 'threshold_db'"),
        ({"mode": "fast"}, "option 'mode'"),
        ({"crf": 99}, "option 'crf'"),
    ],
)
def test_bad_options_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(OptionsError, match=message) as info:
        CutOptions.from_mapping(data)
    assert "\n" not in str(info.value)


def test_strings_from_a_form_or_command_line_are_converted() -> None:
    options = CutOptions.from_mapping(
        {"margin_s": "0.2", "threshold_db": "-41", "mode": "reencode"}
    )
    assert (options.margin_s, options.threshold_db, options.mode) == (0.2, -41.0, "reencode")


def test_plugin_options_are_converted_and_defaults_filled() -> None:
    options = CutOptions.from_mapping({"plugins": {"speedup": {"factor": "2.5"}}}, SPECS)
    assert options.plugins["speedup"] == {"factor": 2.5, "enabled": True}
    assert options.plugin_option("vad", "aggressiveness") == 2


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        ({"speedup": {"factr": 2}}, r"unknown option speedup\.factr \(known: enabled, factor\)"),
        ({"speedup": {"factor": "fast"}}, r"option speedup\.factor: .*expected float"),
        ({"vad": {"aggressiveness": 7}}, r"option vad\.aggressiveness"),
        ({"nosuch": {"x": 1}}, r"unknown plugin 'nosuch'"),
        ({"speedup": 3}, r"option 'plugins\.speedup'"),
    ],
)
def test_bad_plugin_options_name_plugin_and_key(plugins: dict, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        CutOptions.from_mapping({"plugins": plugins}, SPECS)


def test_option_types_read_as_a_person_writes_them() -> None:
    ranged = OptionSpec("x", "gain", Annotated[float, Field(ge=0, le=10)], 1.0)
    assert [ranged.type_name, SPECS[0].type_name, SPECS[2].type_name] == [
        "float",
        "float",
        "Literal[0, 1, 2, 3]",
    ]
    assert OptionSpec("x", "limit", int | None, None).type_name == "int | None"
    # Constraints of an Annotated type are enforced.
    with pytest.raises(OptionsError, match=r"option x\.gain"):
        CutOptions.from_mapping({"plugins": {"x": {"gain": 11}}}, [ranged])


def test_command_line_strings_satisfy_numeric_choices() -> None:
    options = CutOptions.from_mapping(parse_assignments(["vad.aggressiveness=3"]), SPECS)
    assert options.plugins["vad"]["aggressiveness"] == 3
    with pytest.raises(OptionsError, match=r"option vad\.aggressiveness"):
        CutOptions.from_mapping(parse_assignments(["vad.aggressiveness=9"]), SPECS)


def test_set_assignments_address_builtin_and_plugin_options() -> None:
    data = parse_assignments(["margin_s=0.2", "speedup.factor=3", "speedup.enabled=false"])
    assert data == {"margin_s": "0.2", "plugins": {"speedup": {"factor": "3", "enabled": "false"}}}
    options = CutOptions.from_mapping(data, SPECS)
    assert options.margin_s == 0.2
    assert options.plugins["speedup"] == {"factor": 3.0, "enabled": False}


@pytest.mark.parametrize("bad", ["margin_s", "=3", ".factor=2", "speedup.=2"])
def test_malformed_set_assignments_are_refused(bad: str) -> None:
    with pytest.raises(OptionsError, match="--set"):
        parse_assignments([bad])
