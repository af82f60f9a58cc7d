// The workspace's jobs, newest first: state in words, live progress, results and actions.
import { useEffect, useState } from "preact/hooks";
import {
  FINAL_STATUSES,
  formatBytes,
  formatDate,
  formatDuration,
  percentRemoved,
  stageWord,
  statusWord,
} from "../format";
import {
  type ExportFormat,
  type Job,
  cancelJob,
  deleteJob,
  exportUrl,
  jobsState,
  liveErrors,
  loadJobs,
  loadMoreJobs,
  reloadJob,
  retryJob,
} from "../state/jobs";
import { asApiError } from "../api/errors";
import { ErrorMessage } from "./ErrorMessage";
import { ProgressBar } from "./ProgressBar";

/** The editors each export format is for, as the export menu names them. */
const FORMAT_WORDS: Record<string, string> = {
  FCPXML: "Final Cut Pro (FCPXML)",
  FCP7_XML: "Premiere Pro / DaVinci Resolve (FCP 7 XML)",
  EDL: "CMX 3600 EDL",
  OTIO: "OpenTimelineIO",
  JSON: "Hushcut JSON",
};

/** Download URLs are presigned for a limited time; older ones are fetched again first. */
const FRESH_URL_MS = 10 * 60 * 1000;

export function JobList(props: { workspaceId: string }) {
  useEffect(() => {
    void loadJobs(props.workspaceId);
  }, [props.workspaceId]);
  const state = jobsState.value;
  const jobs = state.workspaceId === props.workspaceId ? state.jobs : [];
  return (
    <section class="card" aria-labelledby="jobs-title">
      <div class="row">
        <h2 id="jobs-title">Your videos</h2>
        <button
          type="button"
          class="secondary"
          onClick={() => void loadJobs(props.workspaceId)}
          disabled={state.loading}
        >
          Refresh
        </button>
      </div>
      <ErrorMessage error={state.error} onRetry={() => void loadJobs(props.workspaceId)} />
      {state.loading && jobs.length === 0 && <p role="status">Loading your videos…</p>}
      {!state.loading && !state.error && jobs.length === 0 && (
        <p class="empty">
          No videos yet. Upload a recording above: the silences are cut out and you download a shorter video.
        </p>
      )}
      {jobs.length > 0 && (
        <ul class="jobs" aria-label="Videos">
          {jobs.map((job) => (
            <JobRow key={job.id} job={job} />
          ))}
        </ul>
      )}
      {state.hasMore && (
        <button type="button" class="secondary" onClick={() => void loadMoreJobs()} disabled={state.loading}>
          {state.loading ? "Loading…" : "Show older videos"}
        </button>
      )}
    </section>
  );
}

function JobRow(props: { job: Job }) {
  const { job } = props;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const live = liveErrors.value[job.id];
  const final = FINAL_STATUSES.has(job.status);
  const running = job.status === "QUEUED" || job.status === "PROCESSING";
  const stage = job.status === "PROCESSING" ? stageWord(job.stage) : null;
  const removed = percentRemoved(job.inputDurationS, job.outputDurationS);
  const nameId = `job-${job.id}-name`;
  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };
  const download = async (event: MouseEvent) => {
    if (Date.now() - job.fetchedAt < FRESH_URL_MS) return; // the link as it is
    event.preventDefault();
    await act(async () => {
      const fresh = await reloadJob(job.id);
      if (fresh?.downloadUrl) window.location.assign(fresh.downloadUrl);
    });
  };
  return (
    <li class={`job status-${job.status.toLowerCase()}`}>
      <div class="job-head">
        <h3 id={nameId} class="filename">
          {job.filename}
        </h3>
        <span class="badge" data-status={job.status}>
          {statusWord(job.status)}
        </span>
      </div>
      <p class="muted job-meta">
        {formatBytes(job.sizeBytes)} · uploaded {formatDate(job.createdAt)}
        {stage && <> · {stage}</>}
        {running && <span aria-hidden="true"> · {Math.round(job.progress * 100)}%</span>}
      </p>
      {running && (
        <ProgressBar
          value={job.progress}
          label={`Progress of ${job.filename}`}
          detail={stage ?? statusWord(job.status)}
        />
      )}
      {job.status === "COMPLETED" && (
        <p class="result">
          {formatDuration(job.inputDurationS)} → {formatDuration(job.outputDurationS)}
          {removed !== null && <strong> ({removed}% removed)</strong>}
        </p>
      )}
      {job.status === "COMPLETED" && job.outputExpired && (
        <p class="muted">The output was deleted when its retention ended. Upload the video again to get a new one.</p>
      )}
      {job.status === "REVIEW" && (
        <p class="result">
          The cuts are ready for your review.
          {job.reviewExpiresAt && <> Render before {formatDate(job.reviewExpiresAt)}, or the credit comes back.</>}
        </p>
      )}
      {(job.status === "FAILED" || job.status === "CANCELED") && job.error && (
        <p class="job-error" role="alert">
          {job.error}
        </p>
      )}
      {live && !FINAL_STATUSES.has(job.status) && <ErrorMessage error={live} onRetry={() => void reloadJob(job.id)} />}
      <ErrorMessage error={error} />
      <div class="actions">
        {job.status === "COMPLETED" && job.downloadUrl && (
          <a
            class="button"
            href={job.downloadUrl}
            download={outputName(job.filename)}
            aria-describedby={nameId}
            onClick={download}
          >
            Download
          </a>
        )}
        {job.status === "REVIEW" && (
          <a class="button" href={`/jobs/${job.id}/review`} aria-describedby={nameId}>
            Review cuts
          </a>
        )}
        {job.status === "COMPLETED" && !job.inputExpired && (
          <a class="button secondary" href={`/jobs/${job.id}/review`} aria-describedby={nameId}>
            Edit cuts
          </a>
        )}
        {(job.status === "FAILED" || job.status === "CANCELED") && !job.inputExpired && (
          <>
            <button
              type="button"
              disabled={busy}
              aria-describedby={`${nameId} ${job.id}-retry-cost`}
              onClick={() => void act(() => retryJob(job.id))}
            >
              Retry
            </button>
            <span id={`${job.id}-retry-cost`} class="muted">
              Retrying uses one credit.
            </span>
          </>
        )}
        {(running || job.status === "PENDING" || job.status === "REVIEW") && (
          <button
            type="button"
            class="secondary"
            disabled={busy}
            aria-describedby={nameId}
            onClick={() => void act(() => cancelJob(job.id))}
          >
            Cancel
          </button>
        )}
        {final && !confirmDelete && (
          <button type="button" class="secondary" aria-describedby={nameId} onClick={() => setConfirmDelete(true)}>
            Delete
          </button>
        )}
      </div>
      {job.exportFormats.length > 0 && !job.outputExpired && (
        <ExportMenu job={job} describedBy={nameId} onError={setError} />
      )}
      {confirmDelete && (
        <div class="actions confirm" role="group" aria-label={`Delete ${job.filename}`}>
          <span>Delete {job.filename} and its files for good? Credits already used are not returned.</span>
          <button type="button" class="danger" disabled={busy} onClick={() => void act(() => deleteJob(job.id))}>
            Delete for good
          </button>
          <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
            Keep it
          </button>
        </div>
      )}
    </li>
  );
}

/** The timeline in a video editor's format, referencing the uploaded file by its name. */
function ExportMenu(props: { job: Job; describedBy: string; onError: (error: unknown) => void }) {
  const { job } = props;
  const [format, setFormat] = useState<ExportFormat>(job.exportFormats[0]!);
  const [busy, setBusy] = useState(false);
  const selectId = `job-${job.id}-format`;
  const send = async () => {
    setBusy(true);
    props.onError(null);
    try {
      const url = await exportUrl(job.id, format);
      if (url) window.location.assign(url);
    } catch (failure) {
      props.onError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="export">
      <label for={selectId}>Editor format</label>
      <select id={selectId} value={format} onChange={(e) => setFormat(e.currentTarget.value as ExportFormat)}>
        {job.exportFormats.map((name) => (
          <option key={name} value={name}>
            {FORMAT_WORDS[name] ?? name}
          </option>
        ))}
      </select>
      <button
        type="button"
        class="secondary"
        disabled={busy}
        aria-describedby={props.describedBy}
        onClick={() => void send()}
      >
        Export for editors
      </button>
    </div>
  );
}

/** talk.mp4 -> talk_hushcut.mp4, as the worker names the output. */
export function outputName(filename: string): string {
  const dot = filename.lastIndexOf(".");
  const stem = dot > 0 ? filename.slice(0, dot) : filename;
  return `${stem}_hushcut.mp4`;
}
