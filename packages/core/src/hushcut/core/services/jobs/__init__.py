"""Video jobs: the state machine, charges and refunds, storage keys, worker leases, listing.

States: PENDING -> QUEUED -> PROCESSING -> COMPLETED | FAILED, CANCELED from any state
that is not final, FAILED or CANCELED -> QUEUED again through a retry (a new charge).
Every move is listed once, in :class:`Move`, and made by :func:`transition`: a
conditional UPDATE that applies only from the move's source statuses, so concurrent
callers - API instances, workers - cannot move a job twice.

The modules behind this one, by concern: ``_transitions`` (the state machine),
``_lifecycle`` (what people and workers do to a job), ``_leases`` (claims and leases),
``_charges`` (credits per run), ``_keys`` (storage keys), ``_reading`` (reads, listings),
``_uploads`` (inputs arriving in parts).
"""

from hushcut.core.services.jobs._charges import charge, refund
from hushcut.core.services.jobs._keys import (
    MAX_FILENAME_LENGTH,
    input_key,
    output_key,
    output_prefix,
    sanitise_filename,
)
from hushcut.core.services.jobs._leases import (
    claim_job,
    claimable_job_ids,
    release_job,
    renew_lease,
    update_progress,
)
from hushcut.core.services.jobs._lifecycle import (
    cancel_job,
    complete_job,
    confirm_upload,
    create_job,
    fail_job,
    retry_job,
)
from hushcut.core.services.jobs._reading import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    JobPage,
    JobPosition,
    get_job,
    list_jobs,
    load_job,
)
from hushcut.core.services.jobs._transitions import (
    TRANSITIONS,
    Move,
    can_transition,
    transition,
)
from hushcut.core.services.jobs._uploads import (
    ABANDONED_MESSAGE,
    forget_upload,
    give_up_upload,
    record_upload,
    stale_uploads,
)

__all__ = [
    "ABANDONED_MESSAGE",
    "DEFAULT_PAGE_SIZE",
    "MAX_FILENAME_LENGTH",
    "MAX_PAGE_SIZE",
    "TRANSITIONS",
    "JobPage",
    "JobPosition",
    "Move",
    "can_transition",
    "cancel_job",
    "charge",
    "claim_job",
    "claimable_job_ids",
    "complete_job",
    "confirm_upload",
    "create_job",
    "fail_job",
    "forget_upload",
    "get_job",
    "give_up_upload",
    "input_key",
    "list_jobs",
    "load_job",
    "output_key",
    "output_prefix",
    "record_upload",
    "refund",
    "release_job",
    "renew_lease",
    "retry_job",
    "sanitise_filename",
    "stale_uploads",
    "transition",
    "update_progress",
]
