"""What the API keeps for its lifetime: the core runtime, its ports, signers and clients."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from hushcut.api.live import LiveSubscriptions
from hushcut.api.metrics import ApiMetrics
from hushcut.api.ratelimit import RequestLimits
from hushcut.api.sessions import SessionSigner
from hushcut.core.ports import JobDispatcher, OptionsValidator
from hushcut.core.services.retention import RetentionPolicy
from hushcut.core.settings import Settings

if TYPE_CHECKING:
    from hushcut.api.billing import Billing
    from hushcut.api.oidc import OidcProvider
    from hushcut.core.runtime import Runtime


@dataclass
class ApiState:
    """Built once at startup (see :func:`hushcut.api.app.create_app`); read by every request."""

    settings: Settings
    runtime: Runtime
    #: Tells workers about queued jobs.
    queue: JobDispatcher
    #: Checks a job's options against what the workers offer.
    options: OptionsValidator
    signer: SessionSigner
    limiter: RequestLimits
    metrics: ApiMetrics
    #: Live jobUpdates subscriptions, checked against the database.
    live: LiveSubscriptions
    oidc: OidcProvider | None = None
    billing: Billing | None = None
    #: jobUpdates subscriptions open in this process (their event-bus subscriptions).
    live_subscriptions: int = 0

    @cached_property
    def retention(self) -> RetentionPolicy:
        """The retention policy of the settings (made once: every job field reads it)."""
        return RetentionPolicy.from_settings(self.settings)
