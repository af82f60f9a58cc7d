"""Options of a cut: the built-in ones, and those plugins declare through ``hushcut_options``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from hushcut.pipeline.errors import OptionsError


@dataclass(frozen=True)
class OptionSpec:
    """One option a plugin declares: ``hushcut cut --set <plugin>.<key>=<value>``.

    ``type`` is a Python type or annotation (``float``, ``bool``, ``Literal["a", "b"]``,
    ``int | None``...); values are validated and converted with pydantic, so a string
    from the command line becomes the declared type.
    """

    plugin: str
    key: str
    type: Any
    default: Any
    help: str = ""

    @property
    def name(self) -> str:
        return f"{self.plugin}.{self.key}"

    @property
    def type_name(self) -> str:
        """The type as a person reads it: ``float``, ``Literal[0, 1]``, ``int | None``."""
        return _type_name(self.type)


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Annotated:
        # Constraints (ranges) belong in the help text; the base type is what to type.
        return _type_name(get_args(annotation)[0])
    if isinstance(annotation, type) and not get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


#: Most ranges ``cut_out`` or ``add_in`` may hold.
MAX_RANGES = 10_000


def _check_range(value: tuple[float, float | None]) -> tuple[float, float | None]:
    start, end = value
    if not (start >= 0 and math.isfinite(start)):
        raise ValueError(f"a range starts at 0 or later (got {start:g})")
    if end is not None and not (end > start and math.isfinite(end)):
        raise ValueError(f"a range ends after it starts (got {start:g} to {end:g})")
    return value


#: ``(start, end)`` seconds of the source; ``end`` None runs to the end of the source.
TimeRange = Annotated[
    tuple[Annotated[float, Field(ge=0.0)], float | None], AfterValidator(_check_range)
]


class CutOptions(BaseModel):
    """Everything that decides how a recording is cut. Defaults are documented (and
    measured) in docs/pipeline.md."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    detector: str = Field(
        "loudness", min_length=1, description="Which detector finds the silences."
    )
    renderer: str = Field("mp4", min_length=1, description="Which renderer writes the output.")
    threshold_db: float | None = Field(
        None,
        le=0.0,
        ge=-120.0,
        description="Absolute silence threshold in dBFS; None measures the recording.",
    )
    threshold_above_floor_db: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="Threshold in dB above the measured noise floor (used unless threshold_db).",
    )
    hysteresis_db: float = Field(
        2.0, ge=0.0, le=30.0, description="Silence ends only above threshold + this (dB)."
    )
    min_silence_s: float = Field(
        0.3, ge=0.0, le=60.0, description="Shorter quiet stretches are not silences (s)."
    )
    margin_s: float = Field(0.15, ge=0.0, le=5.0, description="Kept around speech at each cut (s).")
    margin_before_s: float | None = Field(
        None,
        ge=0.0,
        le=5.0,
        description="Kept before speech starts again at each cut (s); None: margin_s.",
    )
    margin_after_s: float | None = Field(
        None,
        ge=0.0,
        le=5.0,
        description="Kept after speech stops at each cut (s); None: margin_s.",
    )
    cut_out: list[TimeRange] = Field(
        default_factory=list,
        max_length=MAX_RANGES,
        description="Ranges [start, end] (s; end null: to the end) always removed.",
    )
    add_in: list[TimeRange] = Field(
        default_factory=list,
        max_length=MAX_RANGES,
        description="Ranges [start, end] (s; end null: to the end) always kept (cut_out wins).",
    )
    min_clip_s: float = Field(
        0.4, ge=0.0, le=60.0, description="Kept clips shorter than this are dropped (s)."
    )
    min_cut_s: float = Field(
        0.1, ge=0.0, le=60.0, description="Cuts shorter than this (after margins) are skipped (s)."
    )
    mode: Literal["smart", "reencode"] = Field(
        "smart",
        description="smart: copy every frame it can, encode only around cuts; reencode: one pass.",
    )
    audio_track: int | None = Field(
        None,
        ge=0,
        le=255,
        description="Audio track to find silences in, counted from 0; None: the default track.",
    )
    preset: str = Field("veryfast", min_length=1, description="x264 preset of re-encoded video.")
    crf: int = Field(20, ge=0, le=51, description="x264 constant rate factor.")
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Plugin options: {plugin: {key: value}}."
    )

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any] | None, specs: Iterable[OptionSpec] | None = None
    ) -> CutOptions:
        """Validate ``data``; OptionsError names the first bad key.

        With ``specs`` (from ``hushcut_options``), plugin options are validated too and
        their defaults filled in; see :func:`resolve_plugin_options`.
        """
        try:
            options = cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise OptionsError(_describe(exc)) from None
        if specs is not None:
            options = resolve_plugin_options(options, specs)
        return options

    @property
    def margins(self) -> tuple[float, float]:
        """(before, after) speech: ``margin_before_s`` and ``margin_after_s``, each
        ``margin_s`` when unset."""
        before = self.margin_s if self.margin_before_s is None else self.margin_before_s
        after = self.margin_s if self.margin_after_s is None else self.margin_after_s
        return before, after

    def plugin_option(self, plugin: str, key: str) -> Any:
        """The value of a plugin option (its default once the options were resolved)."""
        try:
            return self.plugins[plugin][key]
        except KeyError:
            raise OptionsError(f"option {plugin}.{key} is not set or not declared") from None

    def with_changes(self, **changes: Any) -> CutOptions:
        """A validated copy with ``changes`` applied."""
        return CutOptions.from_mapping({**self.model_dump(), **changes})


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "options"
    if error["type"] == "extra_forbidden":
        return f"unknown option {location!r}"
    return f"option {location!r}: {error['msg']} (got {error.get('input')!r})"


def resolve_plugin_options(options: CutOptions, specs: Iterable[OptionSpec]) -> CutOptions:
    """Check ``options.plugins`` against the declared ``specs``: convert each value to its
    declared type, fill defaults, and reject unknown plugins and keys with OptionsError."""
    declared: dict[str, dict[str, OptionSpec]] = {}
    for spec in specs:
        declared.setdefault(spec.plugin, {})[spec.key] = spec
    resolved: dict[str, dict[str, Any]] = {
        plugin: {key: spec.default for key, spec in keys.items()}
        for plugin, keys in declared.items()
    }
    for plugin, values in options.plugins.items():
        if plugin not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise OptionsError(
                f"unknown plugin {plugin!r} in options (plugins with options: {known})"
            )
        if not isinstance(values, Mapping):
            raise OptionsError(f"options of plugin {plugin!r} must be a mapping of key to value")
        for key, value in values.items():
            if key not in declared[plugin]:
                known = ", ".join(sorted(declared[plugin]))
                raise OptionsError(f"unknown option {plugin}.{key} (known: {known})")
            resolved[plugin][key] = _convert(declared[plugin][key], value)
    return options.model_copy(update={"plugins": resolved})


def _convert(spec: OptionSpec, value: Any) -> Any:
    adapter: TypeAdapter[Any] = TypeAdapter(spec.type)
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        if isinstance(value, str):
            # Command-line values are strings: "30" must satisfy Literal[10, 20, 30] too.
            try:
                return adapter.validate_python(json.loads(value))
            except (ValueError, ValidationError):
                pass
        message = exc.errors()[0]["msg"]
        raise OptionsError(
            f"option {spec.name}: {message} (got {value!r}, expected {spec.type_name})"
        ) from None


def parse_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """``["speedup.factor=2", "margin_s=0.2"]`` as a mapping for :meth:`CutOptions.from_mapping`.

    ``plugin.key=value`` sets a plugin option, ``key=value`` a built-in one. Values stay
    strings here; validation converts them to the declared types.
    """
    data: dict[str, Any] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise OptionsError(f"--set {item!r}: expected name=value or plugin.key=value")
        plugin, dot, key = name.partition(".")
        if dot:
            if not plugin or not key:
                raise OptionsError(f"--set {item!r}: expected plugin.key=value")
            data.setdefault("plugins", {}).setdefault(plugin, {})[key] = value
        else:
            data[name] = value
    return data
