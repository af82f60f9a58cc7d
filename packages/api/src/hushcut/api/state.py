"""What the API keeps for its lifetime: the core runtime, the queue, signers and clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hushcut.api.metrics import ApiMetrics
from hushcut.api.ratelimit import RequestLimits
from hushcut.api.sessions import SessionSigner
from hushcut.core.settings import Settings
from hushcut.pipeline.options import OptionSpec
from hushcut.pipeline.plugins import get_plugin_manager, option_specs

if TYPE_CHECKING:
    from hushcut.api.billing import Billing
    from hushcut.api.oidc import OidcProvider
    from hushcut.core.runtime import Runtime
    from hushcut.worker.queue import JobQueue


@dataclass
class ApiState:
    """Built once at startup (see :func:`hushcut.api.app.create_app`); read by every request."""

    settings: Settings
    runtime: Runtime
    queue: JobQueue
    signer: SessionSigner
    limiter: RequestLimits
    metrics: ApiMetrics
    oidc: OidcProvider | None = None
    billing: Billing | None = None
    #: jobUpdates subscriptions open in this process (their event-bus subscriptions).
    live_subscriptions: int = 0
    _option_specs: list[OptionSpec] | None = None

    def option_specs(self) -> list[OptionSpec]:
        """Options the installed pipeline plugins declare (loaded once, at startup)."""
        if self._option_specs is None:
            self._option_specs = option_specs(get_plugin_manager())
        return self._option_specs
