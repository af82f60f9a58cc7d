import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./errors";
import { PART_SIZE, type Transfer, UploadInterrupted, mediaType, resumeUpload, uploadVideo } from "./upload";

type Sent = { query: string; variables: Record<string, unknown> };

/** A fetch that answers GraphQL operations by name (an answer, or a function of the
 * variables) and records what was sent. */
function fakeApi(answers: Record<string, unknown>): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal("fetch", async (_url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as Sent;
    sent.push(body);
    const name = /(?:mutation|query) (\w+)/.exec(body.query)?.[1] ?? "";
    const answer = answers[name];
    const data = typeof answer === "function" ? (answer as (v: unknown) => unknown)(body.variables) : answer;
    return new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } });
  });
  return sent;
}

const ticket = {
  data: {
    requestUpload: {
      job: { id: "job-1" },
      url: "/storage/input/job-1/talk.mp4?sig=x",
      method: "PUT",
      headers: [{ name: "Content-Type", value: "video/mp4" }],
    },
  },
};

afterEach(() => vi.unstubAllGlobals());

describe("uploadVideo", () => {
  const file = new File([new Uint8Array(1000)], "talk.mp4", { type: "video/mp4" });

  it("requests a ticket, sends the bytes as told, then confirms", async () => {
    const sent = fakeApi({
      RequestUpload: ticket,
      ConfirmUpload: { data: { confirmUpload: { id: "job-1", status: "QUEUED" } } },
    });
    const progress: number[] = [];
    const transfer: Transfer = async (blob, t, onProgress) => {
      expect(t.url).toContain("/storage/input/job-1/");
      onProgress(blob.size / 2, blob.size);
      onProgress(blob.size, blob.size);
    };
    const jobId = await uploadVideo(
      "ws-1",
      file,
      { options: { marginS: 0.2 } },
      { progress: (n) => progress.push(n) },
      new AbortController().signal,
      transfer,
    );
    expect(jobId).toBe("job-1");
    expect(progress).toEqual([500, 1000]);
    expect(sent.map((s) => /(?:mutation|query) (\w+)/.exec(s.query)?.[1])).toEqual(["RequestUpload", "ConfirmUpload"]);
    expect(sent[0]!.variables).toEqual({
      workspaceId: "ws-1",
      filename: "talk.mp4",
      sizeBytes: 1000,
      contentType: "video/mp4",
      options: { marginS: 0.2 },
    });
  });

  it("does not confirm (charge) when sending fails, and cancels the unconfirmed job", async () => {
    const sent = fakeApi({ RequestUpload: ticket, CancelUpload: { data: { cancelJob: { id: "job-1" } } } });
    const failing: Transfer = async () => {
      throw new ApiError("UPLOAD_FAILED", "storage answered HTTP 500");
    };
    await expect(
      uploadVideo("ws-1", file, { options: null }, { progress: () => {} }, new AbortController().signal, failing),
    ).rejects.toMatchObject({
      code: "UPLOAD_FAILED",
    });
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(sent.map((s) => /(?:mutation|query) (\w+)/.exec(s.query)?.[1])).toEqual(["RequestUpload", "CancelUpload"]);
  });

  it("reports the API's refusal with its code", async () => {
    fakeApi({
      RequestUpload: { errors: [{ message: "size over the limit", extensions: { code: "BAD_USER_INPUT" } }] },
    });
    await expect(
      uploadVideo("ws-1", file, { options: null }, { progress: () => {} }, new AbortController().signal),
    ).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
      message: "size over the limit",
    });
  });
});

describe("mediaType", () => {
  it("keeps the browser's media type, and types files it does not know by extension", () => {
    expect(mediaType({ name: "a.mp4", type: "video/mp4" })).toBe("video/mp4");
    expect(mediaType({ name: "a.MKV", type: "" })).toBe("video/x-matroska");
    expect(mediaType({ name: "a.m4a", type: "" })).toBe("audio/mp4");
    expect(mediaType({ name: "notes.txt", type: "text/plain" })).toBe("text/plain");
  });
});

describe("an upload in parts", () => {
  const size = 2 * PART_SIZE + 1234;
  const big = new File([new Uint8Array(size)], "long.mp4", { type: "video/mp4" });
  const held = [
    { partNumber: 1, sizeBytes: PART_SIZE },
    { partNumber: 2, sizeBytes: PART_SIZE },
  ];
  const signed = (numbers: number[]) =>
    numbers.map((n) => ({
      partNumber: n,
      sizeBytes: n < 3 ? PART_SIZE : 1234,
      url: `/storage/input/job-2/long.mp4?upload=u&part=${n}`,
      method: "PUT",
      headers: [],
    }));

  it("stops short keeping the parts sent, and resumes with only the rest", async () => {
    const sent = fakeApi({
      StartMultipartUpload: {
        data: { startMultipartUpload: { job: { id: "job-2" }, partSizeBytes: PART_SIZE, partCount: 3 } },
      },
      SignUploadParts: (variables: { partNumbers: number[] }) => ({
        data: { signUploadParts: signed(variables.partNumbers) },
      }),
      UploadState: {
        data: {
          job: {
            id: "job-2",
            sizeBytes: size,
            multipartUpload: { partSizeBytes: PART_SIZE, partCount: 3, uploadedParts: held },
          },
        },
      },
      ConfirmUpload: { data: { confirmUpload: { id: "job-2", status: "QUEUED" } } },
    });
    const names = () => sent.map((s) => /(?:mutation|query) (\w+)/.exec(s.query)?.[1]);
    const delivered: number[] = [];
    let online = false;
    const transfer: Transfer = async (blob, t, onProgress) => {
      const part = Number(/part=(\d+)/.exec(t.url)![1]);
      if (part === 3 && !online) throw new ApiError("UPLOAD_FAILED", "the connection to storage failed");
      expect(blob.size).toBe(part < 3 ? PART_SIZE : 1234);
      delivered.push(part);
      onProgress(blob.size, blob.size);
    };

    const failure = await uploadVideo(
      "ws-1",
      big,
      { options: null, review: true },
      { progress: () => {} },
      new AbortController().signal,
      transfer,
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UploadInterrupted);
    expect((failure as UploadInterrupted).jobId).toBe("job-2");
    expect(delivered.sort()).toEqual([1, 2]);
    expect(names()).not.toContain("ConfirmUpload"); // nothing charged
    expect(sent[0]!.variables).toMatchObject({ sizeBytes: size, partSizeBytes: PART_SIZE });

    online = true;
    const progress: number[] = [];
    const abort = new AbortController().signal;
    expect(await resumeUpload("job-2", big, true, { progress: (n) => progress.push(n) }, abort, transfer)).toBe(
      "job-2",
    );
    expect(delivered.sort()).toEqual([1, 2, 3]); // part 3 alone, once
    expect(progress[0]).toBe(2 * PART_SIZE); // the parts held count as sent
    expect(progress.at(-1)).toBe(size);
    expect(names().at(-1)).toBe("ConfirmUpload");
    expect(sent.at(-1)!.variables).toEqual({ jobId: "job-2", review: true });
  }, 15_000);
});
