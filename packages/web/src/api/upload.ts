// The upload flow of the API: requestUpload -> send the bytes to the presigned URL
// exactly as told -> confirmUpload (which charges one credit and queues the job).
//
// Sending the bytes is a `Transfer`, so a multipart transfer (large files, resumable)
// can take over from the single PUT without touching the rest of the flow.
import { request } from "./client";
import { ApiError } from "./errors";
import { graphql, type ResultOf, type VariablesOf } from "../graphql";

export const RequestUpload = graphql(`
  mutation RequestUpload(
    $workspaceId: ID!
    $filename: String!
    $sizeBytes: Long!
    $contentType: String!
    $options: CutOptionsInput
  ) {
    requestUpload(
      workspaceId: $workspaceId
      filename: $filename
      sizeBytes: $sizeBytes
      contentType: $contentType
      options: $options
    ) {
      job {
        id
      }
      url
      method
      headers {
        name
        value
      }
    }
  }
`);

export const ConfirmUpload = graphql(`
  mutation ConfirmUpload($jobId: ID!, $review: Boolean) {
    confirmUpload(jobId: $jobId, review: $review) {
      id
      status
    }
  }
`);

export const CancelUpload = graphql(`
  mutation CancelUpload($jobId: ID!) {
    cancelJob(jobId: $jobId) {
      id
    }
  }
`);

export type CutOptionsInput = NonNullable<VariablesOf<typeof RequestUpload>["options"]>;
export type Ticket = ResultOf<typeof RequestUpload>["requestUpload"];
export type Progress = (sent: number, total: number) => void;
/** Sends ``file`` where ``ticket`` says; rejects with an ApiError. */
export type Transfer = (file: Blob, ticket: Ticket, progress: Progress, signal: AbortSignal) => Promise<void>;

/** Headers a browser sets itself and refuses to take from a script. */
const BROWSER_HEADERS = new Set(["content-length", "host", "connection"]);

/** One PUT (or whatever method the ticket names), with upload progress events. */
export const singleRequest: Transfer = (file, ticket, progress, signal) =>
  new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(ticket.method, ticket.url);
    for (const header of ticket.headers) {
      if (!BROWSER_HEADERS.has(header.name.toLowerCase())) xhr.setRequestHeader(header.name, header.value);
    }
    xhr.upload.onprogress = (event) => progress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        progress(file.size, file.size);
        resolve();
      } else {
        reject(new ApiError("UPLOAD_FAILED", `storage answered HTTP ${xhr.status}`));
      }
    };
    xhr.onerror = () => reject(new ApiError("UPLOAD_FAILED", "the connection to storage failed"));
    xhr.onabort = () => reject(new ApiError("ABORTED", "upload canceled"));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file);
  });

/** Media types by extension, for files the browser does not type (e.g. .mkv). */
const MEDIA_TYPES: Record<string, string> = {
  mp4: "video/mp4",
  m4v: "video/mp4",
  mov: "video/quicktime",
  mkv: "video/x-matroska",
  webm: "video/webm",
  avi: "video/x-msvideo",
  mpg: "video/mpeg",
  mpeg: "video/mpeg",
  ts: "video/mp2t",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  aac: "audio/aac",
  wav: "audio/wav",
  flac: "audio/flac",
  ogg: "audio/ogg",
  opus: "audio/ogg",
};

export function mediaType(file: { name: string; type: string }): string {
  if (file.type.startsWith("video/") || file.type.startsWith("audio/")) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return MEDIA_TYPES[extension] ?? (file.type || "application/octet-stream");
}

export type UploadSteps = {
  /** Bytes sent so far. */
  progress: Progress;
  /** The job exists (PENDING): the list can show it. */
  created?: (jobId: string) => void;
  /** Sending is done; the credit is being taken. */
  confirming?: () => void;
};

/** How a file is to be cut: its options, and whether the cuts wait for a review. */
export type UploadChoice = { options: CutOptionsInput | null; review?: boolean };

/** Upload ``file`` to a new job of ``workspaceId`` and queue it; the job's id. With
 * ``review`` the worker only analyzes it, and the job waits in REVIEW for a render. */
export async function uploadVideo(
  workspaceId: string,
  file: File,
  { options, review = false }: UploadChoice,
  steps: UploadSteps,
  signal: AbortSignal,
  transfer: Transfer = singleRequest,
): Promise<string> {
  const { requestUpload: ticket } = await request(RequestUpload, {
    workspaceId,
    filename: file.name,
    sizeBytes: file.size,
    contentType: mediaType(file),
    options,
  });
  const jobId = ticket.job.id;
  steps.created?.(jobId);
  try {
    await transfer(file, ticket, steps.progress, signal);
  } catch (error) {
    // Nothing was charged; the unconfirmed job is canceled so it does not linger.
    void request(CancelUpload, { jobId }).catch(() => undefined);
    throw error;
  }
  steps.confirming?.();
  await request(ConfirmUpload, { jobId, review });
  return jobId;
}
