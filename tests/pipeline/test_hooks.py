"""The plugin system: built-ins first, runtime and entry-point plugins, every hook exercised."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import (
    CanceledError,
    CutOptions,
    Detection,
    OptionSpec,
    PluginError,
    Segment,
    cut,
    detect,
    get_plugin_manager,
    hookimpl,
    plan,
)
from hushcut.pipeline.api import STAGES
from hushcut.pipeline.cli import main
from hushcut.pipeline.plugins import (
    BUILTIN_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    describe_plugins,
    hook_names,
    register_plugin,
)
from hushcut.pipeline.render import RenderResult
from hushcut.pipeline.testing import SampleMedia


class FakeRenderer:
    """Writes a small file instead of a video and records the settings it received."""

    def __init__(self, progress_steps: int = 4) -> None:
        self.settings = None
        self.timeline = None
        self.progress_steps = progress_steps

    @hookimpl
    def hushcut_render(self, source, output, timeline, settings, progress) -> RenderResult:
        self.settings, self.timeline = settings, timeline
        Path(output).write_bytes(b"partial")
        for step in range(1, self.progress_steps + 1):
            progress("render", step / self.progress_steps)
        return RenderResult(
            output=Path(output), mode_used=settings.mode, duration=timeline.output_duration
        )


class ConstantDetector:
    """A detector plugin answering only when selected with ``detector="constant"``."""

    @hookimpl
    def hushcut_options(self) -> list[OptionSpec]:
        return [OptionSpec("constant", "gap", float, 2.0, "Length of the pretend silence.")]

    @hookimpl
    def hushcut_detect(self, source, media, options, progress) -> Detection | None:
        if options.detector != "constant":
            return None
        progress("detect", 0.5)
        gap = options.plugins["constant"]["gap"]
        return Detection(media.duration, [(10.0, 10.0 + gap)], -60, -20, -50, detector="constant")


@pytest.fixture
def renderer(pm) -> FakeRenderer:
    fake = FakeRenderer()
    pm.register(fake, name="fake-renderer")
    return fake


def test_builtins_are_registered_first_as_ordinary_plugins(pm) -> None:
    names = [name for name, _ in pm.list_name_plugin()]
    assert names[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    infos = {info.name: info for info in describe_plugins(pm)}
    assert infos["loudness"].hooks == ("hushcut_detect",)
    assert infos["loudness"].origin == "built-in"


def test_hook_hushcut_options_declares_validated_options(pm, workdir: Path) -> None:
    pm.register(ConstantDetector(), name="constant")
    detection = detect(
        workdir / "talk.mp4",
        {"detector": "constant", "plugins": {"constant": {"gap": "3.5"}}},
        plugin_manager=pm,
    )
    assert detection.silences == [(10.0, 13.5)]
    with pytest.raises(Exception, match=r"option constant\.gap") as info:
        detect(workdir / "talk.mp4", {"plugins": {"constant": {"gap": "long"}}}, plugin_manager=pm)
    assert type(info.value).__name__ == "OptionsError"


def test_hook_hushcut_detect_selected_plugin_replaces_builtin(pm, workdir: Path) -> None:
    pm.register(ConstantDetector(), name="constant")
    reports: list[tuple[str, float]] = []
    chosen = detect(
        workdir / "talk.mp4",
        {"detector": "constant"},
        lambda stage, f: reports.append((stage, f)),
        plugin_manager=pm,
    )
    assert chosen.detector == "constant"
    assert ("detect", 0.5) in reports
    # Installed but not selected, the plugin changes nothing: the built-in one answers.
    assert detect(workdir / "talk.mp4", plugin_manager=pm).detector == "loudness"


def test_unknown_detector_name_is_an_options_error(pm, workdir: Path) -> None:
    with pytest.raises(Exception, match="no installed detector is called 'vad'"):
        detect(workdir / "talk.mp4", {"detector": "vad"}, plugin_manager=pm)


def test_hook_hushcut_plan_replaces_the_planner(pm) -> None:
    class KeepFirstHalf:
        @hookimpl
        def hushcut_plan(self, detection, options):
            from hushcut.pipeline import Timeline

            return Timeline(detection.duration, [Segment(0.0, detection.duration / 2)])

    pm.register(KeepFirstHalf(), name="half")
    timeline = plan(Detection(10.0, [(2.0, 3.0)], -50, -15, -40), plugin_manager=pm)
    assert [(s.start, s.end) for s in timeline.segments] == [(0.0, 5.0)]


def test_hook_hushcut_adjust_timeline_speeds_silences_up(pm) -> None:
    class SpeedUpSilences:
        @hookimpl
        def hushcut_adjust_timeline(self, timeline, detection, options) -> None:
            # Fill every gap between kept segments with a 4x sped-up segment.
            filled = []
            previous = 0.0
            for segment in timeline.segments:
                if segment.start > previous:
                    filled.append(Segment(previous, segment.start, speed=4.0))
                filled.append(segment)
                previous = segment.end
            timeline.segments[:] = filled

    pm.register(SpeedUpSilences(), name="speedup")
    timeline = plan(Detection(10.0, [(4.0, 6.0)], -50, -15, -40), plugin_manager=pm)
    assert [(s.start, s.end, s.speed) for s in timeline.segments] == [
        (0.0, 4.15, 1.0),
        (4.15, 5.85, 4.0),
        (5.85, 10.0, 1.0),
    ]
    assert timeline.output_duration == pytest.approx(10.0 - 1.7 + 1.7 / 4)


def test_adjusted_timeline_that_overlaps_is_refused(pm) -> None:
    class Broken:
        @hookimpl
        def hushcut_adjust_timeline(self, timeline, detection, options) -> None:
            timeline.segments.append(Segment(0.0, 1.0))

    pm.register(Broken(), name="broken")
    with pytest.raises(Exception, match="overlaps"):
        plan(Detection(10.0, [(4.0, 6.0)], -50, -15, -40), plugin_manager=pm)


class Filters:
    @hookimpl
    def hushcut_audio_filters(self, options, media) -> list[str]:
        return ["highpass=f=80", "lowpass=f=8000"]

    @hookimpl
    def hushcut_video_filters(self, options, media) -> list[str]:
        return ["hflip"]


def test_hook_hushcut_audio_filters_reach_the_renderer(pm, renderer, workdir: Path) -> None:
    pm.register(Filters(), name="filters")
    cut(workdir / "talk.mp4", workdir / "out.mp4", plugin_manager=pm)
    assert renderer.settings.audio_filters == ["highpass=f=80", "lowpass=f=8000"]


def test_hook_hushcut_video_filters_reach_the_renderer_and_force_reencode(
    pm, renderer, workdir: Path
) -> None:
    pm.register(Filters(), name="filters")
    result = cut(workdir / "talk.mp4", workdir / "out.mp4", {"mode": "smart"}, plugin_manager=pm)
    assert renderer.settings.video_filters == ["hflip"]
    assert renderer.settings.mode == "reencode"
    assert any("reencode" in note for note in result.notes)


def test_video_filters_are_not_asked_for_audio_only_input(
    pm, renderer, sample_media: SampleMedia, tmp_path
):
    pm.register(Filters(), name="filters")
    cut(sample_media("mono.mp3"), tmp_path / "out.mp4", plugin_manager=pm)
    assert renderer.settings.video_filters == []
    assert renderer.settings.mode == "smart"


def test_hook_hushcut_render_replaces_the_renderer_and_progress_is_monotonic(
    pm, renderer, workdir: Path
) -> None:
    reports: list[tuple[str, float]] = []
    result = cut(
        workdir / "talk.mp4",
        workdir / "out.mp4",
        {"preset": "slow", "crf": 18, "mode": "reencode"},
        lambda stage, fraction: reports.append((stage, fraction)),
        plugin_manager=pm,
    )
    assert (renderer.settings.preset, renderer.settings.crf) == ("slow", 18)
    assert result.render_result.mode_used == "reencode"
    assert result.output_duration == pytest.approx(renderer.timeline.output_duration)
    assert result.removed_s == pytest.approx(60.0 - result.output_duration)
    stages = [stage for stage, _ in reports]
    assert stages[0] == "probe"
    assert stages[-1] == "postprocess"
    assert [s for s in dict.fromkeys(stages)] == list(STAGES)
    fractions = [fraction for _, fraction in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


def test_hook_hushcut_postprocess_runs_after_render_and_adds_notes(pm, renderer, workdir) -> None:
    class Stamp:
        @hookimpl
        def hushcut_postprocess(self, output, result, options, progress) -> str:
            assert Path(output).read_bytes() == b"partial"
            Path(output).write_bytes(b"stamped")
            progress("postprocess", 1.0)
            return "stamped the output"

    pm.register(Stamp(), name="stamp")
    result = cut(workdir / "talk.mp4", workdir / "out.mp4", plugin_manager=pm)
    assert (workdir / "out.mp4").read_bytes() == b"stamped"
    assert "stamped the output" in result.notes


def test_a_plugin_crashing_in_a_hook_is_named_and_leaves_no_output(pm, renderer, workdir) -> None:
    class Explosive:
        @hookimpl
        def hushcut_postprocess(self, output, result, options, progress):
            return {}["missing"]

    pm.register(Explosive(), name="explosive")
    with pytest.raises(PluginError, match=r"^plugin 'explosive' failed in hushcut_postprocess: "):
        cut(workdir / "talk.mp4", workdir / "out.mp4", plugin_manager=pm)
    assert not (workdir / "out.mp4").exists()


def test_cancel_from_progress_stops_the_cut_and_leaves_no_output(pm, renderer, workdir) -> None:
    def cancel_during_render(stage: str, fraction: float) -> None:
        if stage == "render":
            raise CanceledError("job canceled")

    with pytest.raises(CanceledError):
        cut(
            workdir / "talk.mp4",
            workdir / "out.mp4",
            progress=cancel_during_render,
            plugin_manager=pm,
        )
    assert not (workdir / "out.mp4").exists()


def test_output_may_not_overwrite_the_input(pm, renderer, workdir) -> None:
    with pytest.raises(Exception, match="is the input"):
        cut(workdir / "talk.mp4", workdir / "talk.mp4", plugin_manager=pm)


def test_misspelt_hook_is_a_plugin_error_naming_the_plugin(pm) -> None:
    class Typo:
        @hookimpl
        def hushcut_detetc(self, source, media, options, progress):
            return None

    with pytest.raises(PluginError, match=r"'typo'.*hushcut_detetc"):
        register_plugin(pm, Typo(), "typo")


def test_unmarked_misspelt_hook_is_caught_too(pm) -> None:
    class Typo:
        def hushcut_video_filter(self, options, media):
            return ["hflip"]

    with pytest.raises(PluginError, match=r"'typo'.*hushcut_video_filter"):
        register_plugin(pm, Typo(), "typo")


def test_wrong_hook_arguments_are_a_plugin_error(pm) -> None:
    class WrongArgs:
        @hookimpl
        def hushcut_plan(self, detection, options, surprise):
            return None

    with pytest.raises(PluginError, match="'wrong'"):
        register_plugin(pm, WrongArgs(), "wrong")


PLUGIN_SOURCE = """
from hushcut.pipeline import OptionSpec, hookimpl

@hookimpl
def hushcut_options():
    return [OptionSpec("louder", "gain_db", float, 3.0, "Gain added to the output.")]

@hookimpl
def hushcut_audio_filters(options, media):
    return [f"volume={options.plugins['louder']['gain_db']}dB"]
"""


def test_entry_point_plugin_is_autoloaded_and_listed(fake_distribution) -> None:
    fake_distribution(
        "hushcut-louder",
        {"hushcut_test_plugin_louder": PLUGIN_SOURCE},
        {"louder": "hushcut_test_plugin_louder"},
    )
    pm = get_plugin_manager(allow=["louder"])
    names = [name for name, _ in pm.list_name_plugin()]
    assert names == [*BUILTIN_PLUGINS, "louder"]
    listing = CliRunner().invoke(main, ["plugins"])
    assert listing.exit_code == 0, listing.output
    assert "louder (hushcut-louder 1.0)" in listing.stdout
    assert "option louder.gain_db (float, default 3.0): Gain added to the output." in listing.stdout


def test_allow_and_block_choose_entry_point_plugins(fake_distribution) -> None:
    fake_distribution(
        "hushcut-louder",
        {"hushcut_test_plugin_louder": PLUGIN_SOURCE},
        {"louder": "hushcut_test_plugin_louder"},
    )
    assert get_plugin_manager(block=["louder"]).get_plugin("louder") is None
    assert get_plugin_manager(allow=["other"]).get_plugin("louder") is None
    assert get_plugin_manager(allow=["louder"]).get_plugin("louder") is not None


def test_autoload_can_be_disabled_by_environment(fake_distribution, monkeypatch) -> None:
    fake_distribution(
        "hushcut-louder",
        {"hushcut_test_plugin_louder": PLUGIN_SOURCE},
        {"louder": "hushcut_test_plugin_louder"},
    )
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert get_plugin_manager(allow=["louder"]).get_plugin("louder") is None
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "0")
    assert get_plugin_manager(allow=["louder"]).get_plugin("louder") is not None


def test_plugin_failing_to_import_is_named_with_its_distribution(fake_distribution) -> None:
    fake_distribution(
        "hushcut-broken",
        {"hushcut_test_plugin_broken": "import no_such_module_anywhere\n"},
        {"broken": "hushcut_test_plugin_broken"},
    )
    with pytest.raises(
        PluginError,
        match=r"plugin 'broken' \(hushcut-broken 1\.0, entry point "
        r"hushcut_test_plugin_broken\) failed to import",
    ):
        get_plugin_manager(allow=["broken"])
    # The command line says the same in one line instead of a traceback.
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: plugin 'broken' (hushcut-broken 1.0")
    assert result.stderr.count("\n") == 1


def test_entry_point_plugin_with_misspelt_hook_is_named(fake_distribution) -> None:
    source = (
        "from hushcut.pipeline import hookimpl\n\n@hookimpl\n"
        "def hushcut_postproces(output, result, options, progress):\n    return None\n"
    )
    fake_distribution(
        "hushcut-typo", {"hushcut_test_plugin_typo": source}, {"typo": "hushcut_test_plugin_typo"}
    )
    with pytest.raises(PluginError, match=r"plugin 'typo' \(hushcut-typo 1\.0.*hushcut_postproces"):
        get_plugin_manager(allow=["typo"])


def test_blocking_a_builtin_lets_a_plugin_take_over(workdir: Path) -> None:
    pm = get_plugin_manager(block=["loudness"], autoload=False)
    with pytest.raises(Exception, match="no installed detector"):
        detect(workdir / "talk.mp4", plugin_manager=pm)
    pm.register(ConstantDetector(), name="constant")
    assert detect(workdir / "talk.mp4", CutOptions(detector="constant"), plugin_manager=pm).silences


def test_every_hook_has_a_test() -> None:
    tests = [
        name
        for name, _ in inspect.getmembers(__import__(__name__, fromlist=["x"]))
        if name.startswith("test_")
    ]
    for hook in hook_names():
        assert any(name.startswith(f"test_hook_{hook}") for name in tests), f"{hook} has no test"
