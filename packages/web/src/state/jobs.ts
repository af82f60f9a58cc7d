// The jobs of the current workspace, newest first, kept live by jobUpdates subscriptions.
import { effect, signal } from "@preact/signals";
import { request } from "../api/client";
import { type ApiError, asApiError } from "../api/errors";
import { resetLive, subscribe } from "../api/live";
import { FINAL_STATUSES } from "../format";
import { graphql, type ResultOf, type VariablesOf } from "../graphql";
import { refreshWorkspaces, session } from "./session";

export const JobFields = graphql(`
  fragment JobFields on Job {
    id
    workspaceId
    status
    stage
    progress
    filename
    sizeBytes
    error
    inputDurationS
    outputDurationS
    createdAt
    finishedAt
    downloadUrl
    outputExpired
    inputExpired
    reviewExpiresAt
    exportFormats
  }
`);

export type Job = ResultOf<typeof JobFields> & { fetchedAt: number };

export const JobsPage = graphql(
  `
    query JobsPage($workspaceId: ID!, $after: String) {
      workspace(id: $workspaceId) {
        id
        jobs(first: 20, after: $after) {
          nodes {
            ...JobFields
          }
          pageInfo {
            hasNextPage
            endCursor
          }
        }
      }
    }
  `,
  [JobFields],
);

export const JobById = graphql(
  `
    query JobById($id: ID!) {
      job(id: $id) {
        ...JobFields
      }
    }
  `,
  [JobFields],
);

export const JobUpdates = graphql(
  `
    subscription JobUpdates($jobId: ID!) {
      jobUpdates(jobId: $jobId) {
        ...JobFields
      }
    }
  `,
  [JobFields],
);

export const CancelJob = graphql(
  `
    mutation CancelJob($jobId: ID!) {
      cancelJob(jobId: $jobId) {
        ...JobFields
      }
    }
  `,
  [JobFields],
);

export const RetryJob = graphql(
  `
    mutation RetryJob($jobId: ID!) {
      retryJob(jobId: $jobId) {
        ...JobFields
      }
    }
  `,
  [JobFields],
);

export const DeleteJob = graphql(`
  mutation DeleteJob($jobId: ID!) {
    deleteJob(jobId: $jobId)
  }
`);

export const JobExport = graphql(`
  query JobExport($id: ID!, $format: ExportFormat!) {
    job(id: $id) {
      id
      exportUrl(format: $format)
    }
  }
`);

export type ExportFormat = VariablesOf<typeof JobExport>["format"];

export type JobsState = {
  workspaceId: string | null;
  jobs: Job[];
  loading: boolean;
  error: ApiError | null;
  endCursor: string | null;
  hasMore: boolean;
};

const EMPTY: JobsState = { workspaceId: null, jobs: [], loading: false, error: null, endCursor: null, hasMore: false };

export const jobsState = signal<JobsState>(EMPTY);
/** Errors of the live subscription per job (shown on the job's row). */
export const liveErrors = signal<Record<string, ApiError>>({});

const watching = new Map<string, () => void>();

function stamp(job: ResultOf<typeof JobFields>): Job {
  return { ...job, fetchedAt: Date.now() };
}

/** Put ``job`` in the list (replacing its older state) and keep following it while it runs. */
export function upsertJob(fields: ResultOf<typeof JobFields>): void {
  const job = stamp(fields);
  const state = jobsState.value;
  if (job.workspaceId !== state.workspaceId) return; // another workspace is shown now
  const index = state.jobs.findIndex((j) => j.id === job.id);
  const jobs = [...state.jobs];
  noteChange(index >= 0 ? jobs[index]!.status : null, job.status);
  if (index >= 0) jobs[index] = job;
  else jobs.unshift(job);
  jobsState.value = { ...state, jobs };
  follow(job);
}

/** A job that has just failed or been canceled gave its credit back: show the balance. */
function noteChange(previous: string | null, status: string): void {
  if (status !== previous && (status === "FAILED" || status === "CANCELED")) void refreshWorkspaces();
}

function follow(job: Job): void {
  const running = !FINAL_STATUSES.has(job.status) && job.status !== "PENDING";
  if (!running || watching.has(job.id)) return;
  const stop = subscribe(
    JobUpdates,
    { jobId: job.id },
    {
      next: (data) => replaceJob(data.jobUpdates),
      error: (error) => {
        watching.delete(job.id);
        liveErrors.value = { ...liveErrors.value, [job.id]: error };
      },
      complete: () => {
        watching.delete(job.id);
      },
    },
  );
  watching.set(job.id, stop);
}

function replaceJob(fields: ResultOf<typeof JobFields>): void {
  const state = jobsState.value;
  const known = state.jobs.find((j) => j.id === fields.id);
  if (!known) return;
  noteChange(known.status, fields.status);
  jobsState.value = { ...state, jobs: state.jobs.map((j) => (j.id === fields.id ? stamp(fields) : j)) };
}

export function stopFollowing(): void {
  for (const stop of watching.values()) stop();
  watching.clear();
}

// Signed out (or the session ended): nothing of that person stays on the page or on the
// socket, which the next person would otherwise inherit.
effect(() => {
  if (session.value.status === "signed-out") {
    stopFollowing();
    resetLive();
    jobsState.value = EMPTY;
    liveErrors.value = {};
  }
});

/** Load the first page of ``workspaceId``'s jobs (again), following the running ones. */
export async function loadJobs(workspaceId: string): Promise<void> {
  if (jobsState.value.workspaceId !== workspaceId) {
    stopFollowing();
    liveErrors.value = {};
  }
  jobsState.value = {
    ...EMPTY,
    workspaceId,
    jobs: jobsState.value.workspaceId === workspaceId ? jobsState.value.jobs : [],
    loading: true,
  };
  try {
    const data = await request(JobsPage, { workspaceId, after: null });
    if (jobsState.value.workspaceId !== workspaceId) return;
    const page = data.workspace?.jobs;
    const jobs = (page?.nodes ?? []).map(stamp);
    jobsState.value = {
      workspaceId,
      jobs,
      loading: false,
      error: null,
      endCursor: page?.pageInfo.endCursor ?? null,
      hasMore: page?.pageInfo.hasNextPage ?? false,
    };
    jobs.forEach(follow);
  } catch (error) {
    if (jobsState.value.workspaceId !== workspaceId) return;
    jobsState.value = { ...jobsState.value, loading: false, error: asApiError(error) };
  }
}

export async function loadMoreJobs(): Promise<void> {
  const state = jobsState.value;
  if (!state.workspaceId || !state.hasMore || state.loading) return;
  jobsState.value = { ...state, loading: true };
  try {
    const data = await request(JobsPage, { workspaceId: state.workspaceId, after: state.endCursor });
    const page = data.workspace?.jobs;
    const known = new Set(jobsState.value.jobs.map((j) => j.id));
    const more = (page?.nodes ?? []).filter((j) => !known.has(j.id)).map(stamp);
    jobsState.value = {
      ...jobsState.value,
      jobs: [...jobsState.value.jobs, ...more],
      loading: false,
      error: null,
      endCursor: page?.pageInfo.endCursor ?? null,
      hasMore: page?.pageInfo.hasNextPage ?? false,
    };
    more.forEach(follow);
  } catch (error) {
    jobsState.value = { ...jobsState.value, loading: false, error: asApiError(error) };
  }
}

/** The job as it is now (e.g. a fresh download URL). */
export async function reloadJob(jobId: string): Promise<Job | null> {
  const data = await request(JobById, { id: jobId });
  if (!data.job) return null;
  upsertJob(data.job);
  return stamp(data.job);
}

export async function cancelJob(jobId: string): Promise<void> {
  const data = await request(CancelJob, { jobId });
  upsertJob(data.cancelJob);
  void refreshWorkspaces();
}

export async function retryJob(jobId: string): Promise<void> {
  const data = await request(RetryJob, { jobId });
  liveErrors.value = Object.fromEntries(Object.entries(liveErrors.value).filter(([id]) => id !== jobId));
  upsertJob(data.retryJob);
  void refreshWorkspaces();
}

/** Delete a finished job: its files go at once and it leaves the list. */
export async function deleteJob(jobId: string): Promise<void> {
  await request(DeleteJob, { jobId });
  const state = jobsState.value;
  jobsState.value = { ...state, jobs: state.jobs.filter((job) => job.id !== jobId) };
}

/** A fresh link to the job's timeline in an editor's format (null if there is none now). */
export async function exportUrl(jobId: string, format: ExportFormat): Promise<string | null> {
  const data = await request(JobExport, { id: jobId, format });
  return data.job?.exportUrl ?? null;
}
