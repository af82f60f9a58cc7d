// Uploads in flight (they outlive a page change inside the app): progress, then the job.
import { effect, signal } from "@preact/signals";
import { ApiError, asApiError } from "../api/errors";
import { type UploadChoice, uploadVideo } from "../api/upload";
import { reloadJob } from "./jobs";
import { currentWorkspace, refreshWorkspaces, session } from "./session";

export type UploadPhase = "starting" | "uploading" | "confirming" | "failed";

export type UploadItem = {
  key: number;
  workspaceId: string;
  filename: string;
  size: number;
  sent: number;
  phase: UploadPhase;
  error: ApiError | null;
  controller: AbortController;
};

export const uploads = signal<UploadItem[]>([]);

let nextKey = 1;

// Signing out stops the uploads under way (their jobs stay unconfirmed: nothing charged).
effect(() => {
  if (session.value.status === "signed-out") {
    for (const item of uploads.peek()) item.controller.abort();
    uploads.value = [];
  }
});

function update(key: number, change: Partial<UploadItem>): void {
  uploads.value = uploads.value.map((item) => (item.key === key ? { ...item, ...change } : item));
}

export function dismissUpload(key: number): void {
  uploads.value = uploads.value.filter((item) => item.key !== key);
}

export function abortUpload(key: number): void {
  uploads.value.find((item) => item.key === key)?.controller.abort();
}

/** Upload ``file`` to ``workspaceId`` as ``choice`` says and follow the job it becomes. */
export async function startUpload(workspaceId: string, file: File, choice: UploadChoice): Promise<void> {
  const item: UploadItem = {
    key: nextKey++,
    workspaceId,
    filename: file.name,
    size: file.size,
    sent: 0,
    phase: "starting",
    error: null,
    controller: new AbortController(),
  };
  uploads.value = [...uploads.value, item];
  if ((currentWorkspace.value?.credits ?? 1) < 1) {
    // Said before sending gigabytes: confirming would be refused for want of a credit.
    await refreshWorkspaces();
    if ((currentWorkspace.value?.credits ?? 1) < 1) {
      update(item.key, { phase: "failed", error: new ApiError("INSUFFICIENT_CREDITS", "no credits") });
      return;
    }
  }
  try {
    const jobId = await uploadVideo(
      workspaceId,
      file,
      choice,
      {
        created: () => update(item.key, { phase: "uploading" }),
        progress: (sent) => update(item.key, { sent }),
        confirming: () => update(item.key, { phase: "confirming" }),
      },
      item.controller.signal,
    );
    dismissUpload(item.key);
    void refreshWorkspaces(); // one credit was taken
    await reloadJob(jobId);
  } catch (error) {
    const failure = asApiError(error);
    if (failure.code === "ABORTED") dismissUpload(item.key);
    else update(item.key, { phase: "failed", error: failure });
  }
}
