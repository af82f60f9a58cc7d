// The upload flow of the API: requestUpload -> send the bytes to the presigned URL
// exactly as told -> confirmUpload (which charges one credit and queues the job).
//
// Files from MULTIPART_FROM bytes go in parts instead (startMultipartUpload ->
// signUploadParts -> PUT each part -> confirmUpload): a few at once, each retried alone,
// and resumable after a dropped connection or a reload from the parts storage holds.
import { request } from "./client";
import { ApiError, asApiError } from "./errors";
import { graphql, type VariablesOf } from "../graphql";

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

export const StartMultipartUpload = graphql(`
  mutation StartMultipartUpload(
    $workspaceId: ID!
    $filename: String!
    $sizeBytes: Long!
    $contentType: String!
    $options: CutOptionsInput
    $partSizeBytes: Long
  ) {
    startMultipartUpload(
      workspaceId: $workspaceId
      filename: $filename
      sizeBytes: $sizeBytes
      contentType: $contentType
      options: $options
      partSizeBytes: $partSizeBytes
    ) {
      job {
        id
      }
      partSizeBytes
      partCount
    }
  }
`);

export const SignUploadParts = graphql(`
  mutation SignUploadParts($jobId: ID!, $partNumbers: [Int!]!) {
    signUploadParts(jobId: $jobId, partNumbers: $partNumbers) {
      partNumber
      sizeBytes
      url
      method
      headers {
        name
        value
      }
    }
  }
`);

export const UploadState = graphql(`
  query UploadState($id: ID!) {
    job(id: $id) {
      id
      sizeBytes
      multipartUpload {
        partSizeBytes
        partCount
        uploadedParts {
          partNumber
          sizeBytes
        }
      }
    }
  }
`);

export const AbortMultipartUpload = graphql(`
  mutation AbortMultipartUpload($jobId: ID!) {
    abortMultipartUpload(jobId: $jobId) {
      id
    }
  }
`);

/** From this size a file goes in parts (resumable); below, in one request. */
export const MULTIPART_FROM = 10 * 1024 * 1024;
/** The size of every part but the last (the server raises it for files of over 10,000). */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts sent at once, part URLs signed per call, and tries of a part before pausing. */
const PARALLEL = 3;
const SIGN_BATCH = 12;
const ATTEMPTS = 3;
const RETRY_DELAY_MS = 500;

export type CutOptionsInput = NonNullable<VariablesOf<typeof RequestUpload>["options"]>;
/** Where and how to send some bytes: a presigned request. */
export type Ticket = { url: string; method: string; headers: readonly { name: string; value: string }[] };
export type Progress = (sent: number, total: number) => void;
/** Sends ``file`` where ``ticket`` says; rejects with an ApiError. */
export type Transfer = (file: Blob, ticket: Ticket, progress: Progress, signal: AbortSignal) => Promise<void>;

/** An upload in parts stopped short: its job waits (PENDING) with the parts sent so far. */
export class UploadInterrupted extends ApiError {
  readonly jobId: string;

  constructor(jobId: string, cause: ApiError) {
    super("UPLOAD_INTERRUPTED", cause.message);
    this.jobId = jobId;
  }
}

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
  /** The job exists (PENDING): the list can show it. ``resumable`` for an upload in parts. */
  created?: (jobId: string, resumable: boolean) => void;
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
  if (file.size >= MULTIPART_FROM) {
    const { startMultipartUpload: started } = await request(StartMultipartUpload, {
      workspaceId,
      filename: file.name,
      sizeBytes: file.size,
      contentType: mediaType(file),
      options,
      partSizeBytes: PART_SIZE,
    });
    const jobId = started.job.id;
    steps.created?.(jobId, true);
    await sendParts(jobId, file, started.partSizeBytes, started.partCount, [], steps.progress, signal, transfer);
    steps.confirming?.();
    await request(ConfirmUpload, { jobId, review });
    return jobId;
  }
  const { requestUpload: ticket } = await request(RequestUpload, {
    workspaceId,
    filename: file.name,
    sizeBytes: file.size,
    contentType: mediaType(file),
    options,
  });
  const jobId = ticket.job.id;
  steps.created?.(jobId, false);
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

/** Go on with the upload in parts of ``jobId`` from ``file`` (the same file): only the
 * parts storage does not hold yet are sent, then the job is confirmed. */
export async function resumeUpload(
  jobId: string,
  file: File,
  review: boolean,
  steps: UploadSteps,
  signal: AbortSignal,
  transfer: Transfer = singleRequest,
): Promise<string> {
  const { job } = await request(UploadState, { id: jobId });
  const upload = job?.multipartUpload;
  if (!job || !upload) {
    throw new ApiError("CONFLICT", "this upload is over (finished, canceled or given up): upload the file again");
  }
  if (job.sizeBytes !== file.size) {
    throw new ApiError("BAD_USER_INPUT", "that is not the file this upload was started with: choose the same file");
  }
  const held = upload.uploadedParts.filter(
    (part) => part.sizeBytes === partLength(part.partNumber, upload.partSizeBytes, file.size),
  );
  await sendParts(jobId, file, upload.partSizeBytes, upload.partCount, held, steps.progress, signal, transfer);
  steps.confirming?.();
  await request(ConfirmUpload, { jobId, review });
  return jobId;
}

/** Give up an upload in parts: the parts are dropped and the job canceled (never charged). */
export async function abortUpload(jobId: string): Promise<void> {
  await request(AbortMultipartUpload, { jobId });
}

function partLength(number: number, partSize: number, size: number): number {
  return Math.min(partSize, size - (number - 1) * partSize);
}

/** Send the parts of ``file`` not in ``held``, ``PARALLEL`` at a time, each tried
 * ``ATTEMPTS`` times; UploadInterrupted when one will not go (the others are kept). */
async function sendParts(
  jobId: string,
  file: File,
  partSize: number,
  partCount: number,
  held: readonly { partNumber: number; sizeBytes: number }[],
  progress: Progress,
  signal: AbortSignal,
  transfer: Transfer,
): Promise<void> {
  const have = new Set(held.map((part) => part.partNumber));
  const queue: number[] = [];
  for (let n = 1; n <= partCount; n++) if (!have.has(n)) queue.push(n);
  let done = held.reduce((sum, part) => sum + part.sizeBytes, 0);
  const sending = new Map<number, number>();
  const report = () => progress(done + [...sending.values()].reduce((a, b) => a + b, 0), file.size);
  report();
  const signed = new Map<number, Ticket>();

  const ticketFor = async (number: number): Promise<Ticket> => {
    if (!signed.has(number)) {
      const batch = [number, ...queue.filter((n) => !signed.has(n))].slice(0, SIGN_BATCH);
      const { signUploadParts } = await request(SignUploadParts, { jobId, partNumbers: batch });
      for (const part of signUploadParts) signed.set(part.partNumber, part);
    }
    return signed.get(number)!;
  };

  const sendOne = async (number: number): Promise<void> => {
    const start = (number - 1) * partSize;
    const blob = file.slice(start, start + partLength(number, partSize, file.size));
    for (let attempt = 1; ; attempt++) {
      try {
        const ticket = await ticketFor(number);
        await transfer(
          blob,
          ticket,
          (sent) => {
            sending.set(number, sent);
            report();
          },
          signal,
        );
        sending.delete(number);
        done += blob.size;
        report();
        return;
      } catch (error) {
        sending.delete(number);
        const failure = asApiError(error);
        if (failure.code === "ABORTED" || signal.aborted) throw new ApiError("ABORTED", "upload canceled");
        signed.delete(number); // perhaps expired: signed again on the next try
        if (attempt >= ATTEMPTS) throw failure;
        await wait(RETRY_DELAY_MS * 2 ** (attempt - 1), signal);
      }
    }
  };

  const worker = async (): Promise<void> => {
    for (let number = queue.shift(); number !== undefined; number = queue.shift()) await sendOne(number);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  } catch (error) {
    queue.length = 0; // the other workers stop after their current part
    const failure = asApiError(error);
    if (failure.code === "ABORTED") {
      void abortUpload(jobId).catch(() => undefined);
      throw failure;
    }
    throw new UploadInterrupted(jobId, failure);
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
