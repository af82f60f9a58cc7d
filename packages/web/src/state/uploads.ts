// Uploads in flight (they outlive a page change inside the app): progress, then the job.
// An upload in parts that stopped short (a dropped connection, a closed tab) is kept in
// this browser's storage, so it can be resumed with the same file.
import { effect, signal } from "@preact/signals";
import { ApiError, asApiError } from "../api/errors";
import {
  type UploadChoice,
  type UploadSteps,
  UploadInterrupted,
  abortUpload,
  resumeUpload,
  uploadVideo,
} from "../api/upload";
import { reloadJob } from "./jobs";
import { currentWorkspace, refreshWorkspaces, session } from "./session";
import { readStored, writeStored } from "./stored";

export type UploadPhase = "starting" | "uploading" | "confirming" | "failed" | "interrupted";

export type UploadItem = {
  key: number;
  workspaceId: string;
  filename: string;
  size: number;
  sent: number;
  phase: UploadPhase;
  error: ApiError | null;
  controller: AbortController;
  /** The job of an upload in parts (resumable), once it exists. */
  jobId: string | null;
  review: boolean;
  /** The file, while this page has it (not after a reload: it must be chosen again). */
  file: File | null;
};

/** An upload in parts not finished yet, as kept across reloads. */
type KeptUpload = { jobId: string; workspaceId: string; filename: string; size: number; review: boolean };
const KEPT_KEY = "hushcut.uploads";

export const uploads = signal<UploadItem[]>([]);

let nextKey = 1;
let restoredFor: string | null = null;

effect(() => {
  const state = session.value;
  if (state.status === "signed-out") {
    // Signing out stops the uploads under way (their jobs stay unconfirmed: nothing charged).
    for (const item of uploads.peek()) item.controller.abort();
    uploads.value = [];
    restoredFor = null;
  } else if (state.status === "signed-in" && restoredFor !== state.me.id) {
    restoredFor = state.me.id;
    const known = new Set(state.me.workspaces.map((w) => w.id));
    uploads.value = [
      ...uploads.peek(),
      ...readKept()
        .filter((kept) => known.has(kept.workspaceId))
        .map((kept) => newItem({ ...kept, phase: "interrupted", jobId: kept.jobId, file: null })),
    ];
  }
});

function readKept(): KeptUpload[] {
  try {
    const kept = JSON.parse(readStored(KEPT_KEY) ?? "[]") as unknown;
    return Array.isArray(kept) ? (kept as KeptUpload[]) : [];
  } catch {
    return [];
  }
}

function keep(upload: KeptUpload): void {
  writeStored(KEPT_KEY, JSON.stringify([...readKept().filter((k) => k.jobId !== upload.jobId), upload]));
}

function forget(jobId: string | null): void {
  if (jobId) writeStored(KEPT_KEY, JSON.stringify(readKept().filter((k) => k.jobId !== jobId)));
}

function newItem(fields: {
  workspaceId: string;
  filename: string;
  size: number;
  review: boolean;
  phase: UploadPhase;
  jobId: string | null;
  file: File | null;
}): UploadItem {
  return { key: nextKey++, sent: 0, error: null, controller: new AbortController(), ...fields };
}

function update(key: number, change: Partial<UploadItem>): void {
  uploads.value = uploads.value.map((item) => (item.key === key ? { ...item, ...change } : item));
}

export function dismissUpload(key: number): void {
  uploads.value = uploads.value.filter((item) => item.key !== key);
}

export function abortUploadItem(key: number): void {
  uploads.value.find((item) => item.key === key)?.controller.abort();
}

/** Give up an interrupted upload: its parts are dropped and its job canceled. */
export async function discardUpload(key: number): Promise<void> {
  const item = uploads.value.find((i) => i.key === key);
  if (!item) return;
  dismissUpload(key);
  forget(item.jobId);
  if (item.jobId) await abortUpload(item.jobId).catch(() => undefined);
}

/** Upload ``file`` to ``workspaceId`` as ``choice`` says and follow the job it becomes. */
export async function startUpload(workspaceId: string, file: File, choice: UploadChoice): Promise<void> {
  const item = newItem({
    workspaceId,
    filename: file.name,
    size: file.size,
    review: choice.review ?? false,
    phase: "starting",
    jobId: null,
    file,
  });
  uploads.value = [...uploads.value, item];
  if ((currentWorkspace.value?.credits ?? 1) < 1) {
    // Said before sending gigabytes: confirming would be refused for want of a credit.
    await refreshWorkspaces();
    if ((currentWorkspace.value?.credits ?? 1) < 1) {
      update(item.key, { phase: "failed", error: new ApiError("INSUFFICIENT_CREDITS", "no credits") });
      return;
    }
  }
  await run(item, (steps, signal) => uploadVideo(workspaceId, file, choice, steps, signal));
}

/** Go on with an interrupted upload in parts, with ``file`` if the page no longer has it. */
export async function resumeUploadItem(key: number, chosen?: File): Promise<void> {
  const item = uploads.value.find((i) => i.key === key);
  const file = chosen ?? item?.file;
  if (!item || !item.jobId || !file) return;
  const jobId = item.jobId;
  const fresh = { ...item, file, phase: "uploading" as const, error: null, controller: new AbortController() };
  uploads.value = uploads.value.map((i) => (i.key === key ? fresh : i));
  await run(fresh, (steps, signal) => resumeUpload(jobId, file, item.review, steps, signal));
}

async function run(
  item: UploadItem,
  send: (steps: UploadSteps, signal: AbortSignal) => Promise<string>,
): Promise<void> {
  const { key } = item;
  try {
    const jobId = await send(
      {
        created: (id, resumable) => {
          update(key, { phase: "uploading", jobId: resumable ? id : null });
          if (resumable) {
            keep({
              jobId: id,
              workspaceId: item.workspaceId,
              filename: item.filename,
              size: item.size,
              review: item.review,
            });
          }
        },
        progress: (sent) => update(key, { sent, phase: "uploading" }),
        confirming: () => update(key, { phase: "confirming" }),
      },
      item.controller.signal,
    );
    forget(jobId);
    dismissUpload(key);
    void refreshWorkspaces(); // one credit was taken
    await reloadJob(jobId);
  } catch (error) {
    const failure = asApiError(error);
    const jobId = uploads.value.find((i) => i.key === key)?.jobId ?? null;
    if (failure instanceof UploadInterrupted) {
      update(key, { phase: "interrupted", error: failure });
      return;
    }
    forget(jobId);
    if (failure.code === "ABORTED") dismissUpload(key);
    else update(key, { phase: "failed", error: failure });
  }
}
