"""Where a job's files live in storage, and file names that are safe there."""

from __future__ import annotations

import re
import unicodedata

MAX_FILENAME_LENGTH = 200


def sanitise_filename(filename: str) -> str:
    """A file name safe in a storage key and a Content-Disposition header.

    Drops any directory part and control characters, keeps letters (any script),
    digits, dot, dash and underscore, and shortens long names keeping the extension.
    """
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", filename))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._-")
    base = re.sub(r"_{2,}", "_", base)
    if len(base) > MAX_FILENAME_LENGTH:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            base = stem[: MAX_FILENAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            base = base[:MAX_FILENAME_LENGTH]
    return base or "upload"


def input_key(job_id: str, filename: str) -> str:
    """Where the client uploads the job's input: ``input/<jobId>/<sanitised filename>``."""
    return f"input/{job_id}/{sanitise_filename(filename)}"


def output_key(job_id: str, filename: str) -> str:
    """Where the worker uploads the result: ``output/<jobId>/<stem>_hushcut.mp4``."""
    stem = sanitise_filename(filename).rsplit(".", 1)[0] or "upload"
    return f"output/{job_id}/{stem}_hushcut.mp4"


def input_prefix(job_id: str) -> str:
    """The job's upload and any upload of it still in progress: ``input/<jobId>/``."""
    return f"input/{job_id}/"


def output_prefix(job_id: str) -> str:
    """Everything a run of the job may have written: ``output/<jobId>/``."""
    return f"output/{job_id}/"


def derived_prefix(job_id: str) -> str:
    """Objects made from the job's media besides its output (analysis, waveform peaks,
    exports): ``derived/<jobId>/``. They go with the output."""
    return f"derived/{job_id}/"


def job_prefixes(job_id: str) -> tuple[str, ...]:
    """Every prefix a job's objects live under: deleting a job deletes these.

    A new kind of object a job writes must live under one of them, or be added here.
    """
    return (input_prefix(job_id), output_prefix(job_id), derived_prefix(job_id))


def peaks_key(job_id: str) -> str:
    """The waveform peaks of the job's input: ``derived/<jobId>/peaks.json``."""
    return f"{derived_prefix(job_id)}peaks.json"


def export_key(job_id: str, filename: str, extension: str) -> str:
    """A timeline export: ``derived/<jobId>/exports/<stem>_hushcut<extension>``.

    ``extension`` is the exporter's, with its dot (``.fcpxml``); exporters write
    different extensions, so a job's exports never share a key.
    """
    stem = sanitise_filename(filename).rsplit(".", 1)[0] or "upload"
    suffix = sanitise_filename(extension.lstrip("."))
    return f"{derived_prefix(job_id)}exports/{stem}_hushcut.{suffix}"
