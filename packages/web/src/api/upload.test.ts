import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./errors";
import { type Transfer, mediaType, uploadVideo } from "./upload";

type Sent = { query: string; variables: Record<string, unknown> };

/** A fetch that answers GraphQL operations by name and records what was sent. */
function fakeApi(answers: Record<string, unknown>): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal("fetch", async (_url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as Sent;
    sent.push(body);
    const name = /(?:mutation|query) (\w+)/.exec(body.query)?.[1] ?? "";
    return new Response(JSON.stringify(answers[name]), { headers: { "Content-Type": "application/json" } });
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
