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
import { type Job, cancelJob, jobsState, liveErrors, loadJobs, loadMoreJobs, reloadJob, retryJob } from "../state/jobs";
import { asApiError } from "../api/errors";
import { ErrorMessage } from "./ErrorMessage";
import { ProgressBar } from "./ProgressBar";

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
  const live = liveErrors.value[job.id];
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
      {job.status === "FAILED" && job.error && (
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
        {(job.status === "FAILED" || job.status === "CANCELED") && (
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
        {(running || job.status === "PENDING") && (
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
      </div>
    </li>
  );
}

/** talk.mp4 -> talk_hushcut.mp4, as the worker names the output. */
export function outputName(filename: string): string {
  const dot = filename.lastIndexOf(".");
  const stem = dot > 0 ? filename.slice(0, dot) : filename;
  return `${stem}_hushcut.mp4`;
}
