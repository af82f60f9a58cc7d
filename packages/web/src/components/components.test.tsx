import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { outputName } from "./JobList";
import { ErrorMessage } from "./ErrorMessage";
import { ProgressBar } from "./ProgressBar";

describe("ProgressBar", () => {
  it("is a progressbar with its value for assistive technology", () => {
    const html = render(<ProgressBar value={0.426} label="Progress of talk.mp4" detail="Rendering" />);
    expect(html).toContain('role="progressbar"');
    expect(html).toContain('aria-valuenow="43"');
    expect(html).toContain('aria-valuetext="43% (Rendering)"');
    expect(html).toContain('aria-label="Progress of talk.mp4"');
  });

  it("stays within 0-100", () => {
    expect(render(<ProgressBar value={1.7} label="x" />)).toContain('aria-valuenow="100"');
    expect(render(<ProgressBar value={-1} label="x" />)).toContain('aria-valuenow="0"');
  });
});

describe("ErrorMessage", () => {
  it("announces a human sentence, not a code", () => {
    const html = render(<ErrorMessage error={new ApiError("INSUFFICIENT_CREDITS", "no credits")} />);
    expect(html).toContain('role="alert"');
    expect(html).toContain("no credits left");
    expect(html).not.toContain("INSUFFICIENT_CREDITS");
  });

  it("shows nothing without an error", () => {
    expect(render(<ErrorMessage error={null} />)).toBe("");
  });
});

describe("outputName", () => {
  it("names the download as the worker names the output", () => {
    expect(outputName("talk.mp4")).toBe("talk_hushcut.mp4");
    expect(outputName("my.talk.mov")).toBe("my.talk_hushcut.mp4");
  });
});

describe("APP_LINKS", () => {
  it("routes the app's pages and leaves the server's to the browser", async () => {
    const { APP_LINKS } = await import("../app");
    for (const path of ["/", "/billing", "/billing/success?session_id=x", "/tokens", "/invite/abc"]) {
      expect(APP_LINKS.test(path), path).toBe(true);
    }
    for (const path of ["/auth/google/login?next=%2F", "/graphql", "/storage/output/x.mp4", "/api/health"]) {
      expect(APP_LINKS.test(path), path).toBe(false);
    }
  });
});
