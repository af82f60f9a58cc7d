"""Built-in renderer ``mp4``: SMART (copy every frame it can) or REENCODE, via ``render.render``."""

from __future__ import annotations

from collections.abc import Callable

from hushcut.pipeline._manager import hookimpl
from hushcut.pipeline._registries import Renderer
from hushcut.pipeline.render import render

RENDERER_NAME = "mp4"


@hookimpl
def hushcut_register_renderers(register: Callable[[Renderer], None]) -> None:
    register(
        Renderer(
            RENDERER_NAME,
            render,
            extension=".mp4",
            media_type="video/mp4",
            description="MP4 by default, or the container the output's extension names (MOV, "
            "MKV, WebM, audio): mode smart copies every frame it can and re-encodes only "
            "around cuts; mode reencode encodes everything once.",
        )
    )
