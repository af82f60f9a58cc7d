"""The plugin system: built-ins first, runtime and entry-point plugins, every hook exercised."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import (
    CanceledError,
    CutOptions,
    Detection,
    Detector,
    Exporter,
    MediaInfo,
    OptionsError,
    PluginError,
    Segment,
    Timeline,
    capabilities,
    cut,
    detect,
    export_timeline,
    get_plugin_manager,
    hookimpl,
    plan,
    probe,
)
from hushcut.pipeline._hooks import Hooks
from hushcut.pipeline.api import STAGES
from hushcut.pipeline.cli import main
from hushcut.pipeline.plugins import (
    BUILTIN_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    describe_plugins,
    hook_names,
    register_plugin,
)
from hushcut.pipeline.testing import SampleMedia
from tests.pipeline.fake_plugins import ConstantDetector, FakeRenderer, use_fake_renderer


@pytest.fixture
def renderer(pm) -> FakeRenderer:
    return use_fake_renderer(pm)


def test_builtins_are_registered_first_as_ordinary_plugins(pm) -> None:
    names = [name for name, _ in pm.list_name_plugin()]
    assert names[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    infos = {info.name: info for info in describe_plugins(pm)}
    assert infos["loudness"].hooks == ("hushcut_register_detectors",)
    assert [d.name for d in infos["loudness"].detectors] == ["loudness"]
    assert [r.name for r in infos["renderer"].renderers] == ["mp4"]
    assert [e.name for e in infos["json"].exporters] == ["json"]
    assert str(infos["loudness"].origin) == "built-in"


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


def test_hook_hushcut_register_detectors_a_detector_chosen_by_name(pm, workdir: Path) -> None:
    pm.register(ConstantDetector(), name="constant")
    assert Hooks(pm).register_detectors().names() == ["loudness", "constant"]
    reports: list[tuple[str, float]] = []
    chosen = detect(
        workdir / "talk.mp4",
        {"detector": "constant"},
        lambda stage, f: reports.append((stage, f)),
        plugin_manager=pm,
    )
    assert chosen.silences == [(10.0, 12.0)]
    assert chosen.detector == "constant"  # set by the pipeline: the plugin left the default
    assert ("detect", 0.5) in reports
    # Installed but not selected, the plugin changes nothing: the built-in one answers.
    assert detect(workdir / "talk.mp4", plugin_manager=pm).detector == "loudness"


def test_unknown_detector_is_refused_before_the_input_is_read(pm, tmp_path: Path) -> None:
    pm.register(ConstantDetector(), name="constant")
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("meeting notes, not a video\n")
    expected = (
        "no installed detector is called 'vad' (installed detectors: loudness, constant; "
        "see `hushcut plugins`)"
    )
    for missing_or_not_media in (not_media, tmp_path / "missing.mp4"):
        with pytest.raises(OptionsError) as caught:
            detect(missing_or_not_media, {"detector": "vad"}, plugin_manager=pm)
        assert str(caught.value) == expected
        with pytest.raises(OptionsError, match="no installed detector is called 'vad'"):
            cut(missing_or_not_media, tmp_path / "out.mp4", {"detector": "vad"}, plugin_manager=pm)
    assert not (tmp_path / "out.mp4").exists()


def test_unknown_detector_or_renderer_on_the_command_line_is_one_line_before_any_work(
    tmp_path: Path,
) -> None:
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("meeting notes, not a video\n")
    runner = CliRunner()
    detected = runner.invoke(main, ["detect", str(not_media), "--set", "detector=vad"])
    assert detected.exit_code == 1
    assert detected.stderr == (
        "error: no installed detector is called 'vad' (installed detectors: loudness; "
        "see `hushcut plugins`)\n"
    )
    rendered = runner.invoke(main, ["cut", str(not_media), "--set", "renderer=webm"])
    assert rendered.exit_code == 1
    assert rendered.stderr == (
        "error: no installed renderer is called 'webm' (installed renderers: mp4; "
        "see `hushcut plugins`)\n"
    )


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


def test_hook_hushcut_register_renderers_the_chosen_renderer_writes_and_progress_is_monotonic(
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


def test_capabilities_describe_what_the_plugins_offer_as_json(fake_distribution) -> None:
    fake_distribution(
        "hushcut-louder",
        {"hushcut_test_plugin_louder": PLUGIN_SOURCE},
        {"louder": "hushcut_test_plugin_louder"},
    )
    offered = capabilities(get_plugin_manager(allow=["louder"]))
    assert offered["plugins"][-1] == {
        "name": "louder",
        "kind": "distribution",
        "distribution": "hushcut-louder",
        "version": "1.0",
        "hooks": ["hushcut_audio_filters", "hushcut_options"],
    }
    assert [p["kind"] for p in offered["plugins"][:-1]] == ["built-in"] * len(BUILTIN_PLUGINS)
    assert offered["detectors"] == [
        {
            "name": "loudness",
            "plugin": "loudness",
            "description": offered["detectors"][0]["description"],
        }
    ]
    assert [(r["name"], r["extension"], r["media_type"]) for r in offered["renderers"]] == [
        ("mp4", ".mp4", "video/mp4")
    ]
    assert [(e["name"], e["plugin"], e["extension"]) for e in offered["exporters"]] == [
        ("json", "json", ".json")
    ]
    assert offered["options"] == [
        {
            "name": "louder.gain_db",
            "plugin": "louder",
            "key": "gain_db",
            "type": "float",
            "schema": {"type": "number"},
            "default": 3.0,
            "help": "Gain added to the output.",
        }
    ]
    assert offered["cut_options_schema"]["properties"]["renderer"]["default"] == "mp4"
    # `hushcut plugins --json` prints the same for every installed plugin.
    printed = CliRunner().invoke(main, ["plugins", "--json"])
    assert printed.exit_code == 0, printed.output
    listed = json.loads(printed.stdout)
    assert offered["plugins"][-1] in listed["plugins"]
    assert offered["options"][0] in listed["options"]


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
    with pytest.raises(OptionsError, match=r"no installed detector .*installed detectors: none"):
        detect(workdir / "talk.mp4", plugin_manager=pm)
    pm.register(ConstantDetector(), name="constant")
    assert detect(workdir / "talk.mp4", CutOptions(detector="constant"), plugin_manager=pm).silences


RENDERER_PLUGIN = """
from pathlib import Path
from hushcut.pipeline import Renderer, RenderResult, hookimpl

def render(source, output, timeline, settings, progress):
    lines = [f"{s.start:.3f} {s.end:.3f}" for s in timeline.segments]
    Path(output).write_text("\\n".join(lines) + "\\n")
    return RenderResult(Path(output), settings.mode, timeline.output_duration)

@hookimpl
def hushcut_register_renderers(register):
    register(Renderer("cuelist", render, ".txt", "text/plain", "The kept stretches as text."))
"""


def test_an_installed_renderer_is_chosen_by_name_and_names_the_default_output(
    fake_distribution, workdir: Path
) -> None:
    fake_distribution(
        "hushcut-cuelist",
        {"hushcut_test_plugin_cuelist": RENDERER_PLUGIN},
        {"cuelist": "hushcut_test_plugin_cuelist"},
    )
    listing = CliRunner().invoke(main, ["plugins"])
    assert "  renderer cuelist (.txt, text/plain): The kept stretches as text." in listing.stdout
    assert "renderers: mp4 (default), cuelist" in listing.stdout
    source = workdir / "talk.mp4"
    result = CliRunner().invoke(main, ["cut", str(source), "-q", "--set", "renderer=cuelist"])
    assert result.exit_code == 0, result.output
    written = (workdir / "talk_hushcut.txt").read_text().splitlines()
    assert len(written) > 3
    assert all(len(line.split()) == 2 for line in written)
    assert not (workdir / "talk_hushcut.mp4").exists()


class CueSheet:
    """An exporter plugin: the kept segments as text, with an option."""

    @hookimpl
    def hushcut_options(self):
        from hushcut.pipeline import OptionSpec

        return [OptionSpec("cuesheet", "title", str, "untitled", "Title line.")]

    @hookimpl
    def hushcut_register_exporters(self, register) -> None:
        register(Exporter("cuesheet", self.export, ".cue", "text/plain", "A cue sheet."))

    def export(self, timeline: Timeline, media: MediaInfo, options: CutOptions) -> str:
        title = options.plugin_option("cuesheet", "title")
        rows = [f"{s.start:.2f}-{s.end:.2f}" for s in timeline.segments]
        return "\n".join([f"TITLE {title} ({media.path.name})", *rows]) + "\n"


def test_hook_hushcut_register_exporters_formats_chosen_by_name(pm, talk: Path, tmp_path) -> None:
    media = probe(talk)
    timeline = Timeline(60.0, [Segment(1.0, 7.5), Segment(20.0, 23.0, 2.0)], source="talk1.mp4")
    # The built-in exporter writes exactly the file `hushcut cut --timeline` writes.
    timeline.write(tmp_path / "plan.json")
    as_json = export_timeline(timeline, "json", media, plugin_manager=pm)
    assert as_json == (tmp_path / "plan.json").read_bytes()
    assert Timeline.from_dict(json.loads(as_json)).segments == timeline.segments

    pm.register(CueSheet(), name="cuesheet")
    sheet = export_timeline(
        timeline, "cuesheet", media, {"plugins": {"cuesheet": {"title": "Talk"}}}, plugin_manager=pm
    )
    assert sheet == f"TITLE Talk ({talk.name})\n1.00-7.50\n20.00-23.00\n".encode()
    with pytest.raises(OptionsError, match=r"installed exporters: json, cuesheet;"):
        export_timeline(timeline, "fcpxml", media, plugin_manager=pm)


def _registering(hook: str, *items: object) -> object:
    """A plugin whose ``hook`` registers ``items``."""

    def register_all(register) -> None:
        for item in items:
            register(item)

    return type("Registering", (), {hook: staticmethod(hookimpl(register_all))})()


def _detect_nothing(source, media, options, progress) -> Detection:
    return Detection(media.duration, [])


def test_a_name_registered_twice_names_the_plugin_registered_later(pm) -> None:
    taken = _registering("hushcut_register_detectors", Detector("loudness", _detect_nothing))
    with pytest.raises(PluginError) as caught:
        register_plugin(pm, taken, "copycat")
    assert str(caught.value) == (
        "plugin 'copycat' registers a detector named 'loudness', which plugin 'loudness' "
        "registers too"
    )
    assert (caught.value.plugin, caught.value.hook) == ("copycat", "hushcut_register_detectors")
    assert pm.get_plugin("copycat") is None  # left out, the built-in one still works
    assert Hooks(pm).register_detectors().names() == ["loudness"]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (Detector("Loud Ness", _detect_nothing), "registers a detector named 'Loud Ness': a name"),
        ("loudness", "registered 'loudness' in hushcut_register_detectors, not a Detector"),
    ],
)
def test_a_bad_registration_is_a_plugin_error_naming_the_plugin(pm, item, problem) -> None:
    with pytest.raises(PluginError, match=rf"^plugin 'bad' {problem}"):
        register_plugin(pm, _registering("hushcut_register_detectors", item), "bad")


def test_a_plugin_implementing_a_removed_hook_is_told_what_replaced_it(pm) -> None:
    class Outdated:
        @hookimpl
        def hushcut_detect(self, source, media, options, progress):
            return None

    with pytest.raises(PluginError) as caught:
        register_plugin(pm, Outdated(), "outdated")
    assert str(caught.value) == (
        "plugin 'outdated' implements hushcut_detect, which hushcut-pipeline 0.2 replaced "
        "by hushcut_register_detectors (see docs/plugins.md)"
    )


def test_plugin_errors_carry_the_plugin_and_its_distribution(fake_distribution, workdir) -> None:
    source = PLUGIN_SOURCE.replace("return [f", "raise RuntimeError('no gain')\n    return [f")
    fake_distribution(
        "hushcut-louder",
        {"hushcut_test_plugin_louder": source},
        {"louder": "hushcut_test_plugin_louder"},
    )
    pm = get_plugin_manager(allow=["louder"])
    use_fake_renderer(pm)
    with pytest.raises(PluginError) as caught:
        cut(workdir / "talk.mp4", workdir / "out.mp4", plugin_manager=pm)
    error = caught.value
    assert str(error) == (
        "plugin 'louder' (hushcut-louder 1.0) failed in hushcut_audio_filters: "
        "RuntimeError: no gain"
    )
    assert (error.plugin, error.hook) == ("louder", "hushcut_audio_filters")
    assert error.origin is not None
    assert (error.origin.distribution, error.origin.version) == ("hushcut-louder", "1.0")
    assert error.origin.entry_point == "hushcut_test_plugin_louder"


def test_the_typed_facade_has_one_method_per_hook() -> None:
    for hook in hook_names():
        method = getattr(Hooks, hook.removeprefix("hushcut_"), None)
        assert callable(method), f"Hooks has no method for {hook}"
        assert "return" in inspect.get_annotations(method), f"Hooks.{method.__name__} is untyped"


def test_every_hook_has_a_test() -> None:
    tests = [
        name
        for name, _ in inspect.getmembers(__import__(__name__, fromlist=["x"]))
        if name.startswith("test_")
    ]
    for hook in hook_names():
        assert any(name.startswith(f"test_hook_{hook}") for name in tests), f"{hook} has no test"
