"""Video jobs: the state machine, charges and refunds, storage keys, worker leases, listing.

States: PENDING -> QUEUED -> PROCESSING -> COMPLETED | FAILED, CANCELED from any state
that is not final, FAILED or CANCELED -> QUEUED again through a retry (a new charge).
A job confirmed with review stops at PROCESSING -> REVIEW (analyzed, not final) until a
person renders it (REVIEW -> QUEUED, free); a COMPLETED job can be re-edited the same
way (COMPLETED -> QUEUED, a new charge).
Every move is listed once, in :class:`Move`, and made by :func:`transition`: a
conditional UPDATE that applies only from the move's source statuses, so concurrent
callers - API instances, workers - cannot move a job twice.

The modules behind this one, by concern: ``_transitions`` (the state machine),
``_lifecycle`` (what people and workers do to a job), ``_leases`` (claims and leases),
``_charges`` (credits per run), ``_keys`` (storage keys), ``_reading`` (reads, listings),
``_review`` (analyses, edited timelines, renders and review expiry) and
``_uploads`` (inputs arriving in parts).
"""

from hushcut.core.services.jobs._charges import charge, refund
from hushcut.core.services.jobs._keys import (
    MAX_FILENAME_LENGTH,
    derived_prefix,
    export_key,
    input_key,
    input_prefix,
    job_prefixes,
    output_key,
    output_prefix,
    peaks_key,
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
from hushcut.core.services.jobs._review import (
    EXPORT_FORMATS,
    MAX_SEGMENTS,
    MAX_SPEED,
    MIN_SPEED,
    AnalysisRecord,
    KeptSegment,
    analyses_by_job,
    check_segments,
    expire_reviews,
    load_timeline,
    record_analysis,
    render_job,
    segments_from_json,
    timelines_by_job,
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
    unrecord_upload,
)

__all__ = [
    "ABANDONED_MESSAGE",
    "DEFAULT_PAGE_SIZE",
    "EXPORT_FORMATS",
    "MAX_FILENAME_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_SEGMENTS",
    "MAX_SPEED",
    "MIN_SPEED",
    "TRANSITIONS",
    "AnalysisRecord",
    "JobPage",
    "JobPosition",
    "KeptSegment",
    "Move",
    "analyses_by_job",
    "can_transition",
    "cancel_job",
    "charge",
    "check_segments",
    "claim_job",
    "claimable_job_ids",
    "complete_job",
    "confirm_upload",
    "create_job",
    "derived_prefix",
    "expire_reviews",
    "export_key",
    "fail_job",
    "forget_upload",
    "get_job",
    "give_up_upload",
    "input_key",
    "input_prefix",
    "job_prefixes",
    "list_jobs",
    "load_job",
    "load_timeline",
    "output_key",
    "output_prefix",
    "peaks_key",
    "record_analysis",
    "record_upload",
    "refund",
    "release_job",
    "render_job",
    "renew_lease",
    "retry_job",
    "sanitise_filename",
    "segments_from_json",
    "timelines_by_job",
    "transition",
    "unrecord_upload",
    "update_progress",
]
