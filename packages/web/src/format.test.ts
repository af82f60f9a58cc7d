import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, parseDate, percentRemoved, stageWord, statusWord } from "./format";

function schemaEnum(name: string): string[] {
  const schema = readFileSync(resolve(__dirname, "../../../docs/schema.graphql"), "utf8");
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(schema)?.[1] ?? "";
  return body
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /^[A-Z_]+$/.test(line));
}

describe("statusWord", () => {
  it("says the contract's words", () => {
    expect(statusWord("QUEUED")).toBe("Queued");
    expect(statusWord("PROCESSING")).toBe("Processing");
    expect(statusWord("COMPLETED")).toBe("Completed");
    expect(statusWord("FAILED")).toBe("Failed");
  });

  it("has words for every JobStatus of the schema", () => {
    const statuses = schemaEnum("JobStatus");
    expect(statuses).toContain("CANCELED");
    for (const status of statuses) expect(statusWord(status)).toMatch(/^[A-Z][a-z ]+$/);
  });
});

describe("formatting", () => {
  it("formats durations", () => {
    expect(formatDuration(9.46)).toBe("9.5 s");
    expect(formatDuration(75.4)).toBe("1:15");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(null)).toBe("–");
  });

  it("computes the share removed", () => {
    expect(percentRemoved(60, 44.13)).toBe(26);
    expect(percentRemoved(60, null)).toBeNull();
    expect(percentRemoved(0, 0)).toBeNull();
  });

  it("names stages, known or not", () => {
    expect(stageWord("detect")).toBe("Finding silences");
    expect(stageWord("loud_norm")).toBe("Loud norm");
    expect(stageWord(null)).toBeNull();
  });

  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 bytes");
    expect(formatBytes(23_665_565)).toBe("24 MB");
    expect(formatBytes(2_500_000_000)).toBe("2.5 GB");
  });

  it("reads times without a zone as UTC", () => {
    expect(parseDate("2026-01-02T03:04:05").toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(parseDate("2026-01-02T03:04:05+01:00").toISOString()).toBe("2026-01-02T02:04:05.000Z");
  });
});
