import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ApiError, CODE_MESSAGES, describeError } from "./errors";

/** The codes of the error table in docs/api.md (the API's documented contract). */
function documentedCodes(): string[] {
  const doc = readFileSync(resolve(__dirname, "../../../../docs/api.md"), "utf8");
  const table = doc.slice(doc.indexOf("## Errors"), doc.indexOf("##", doc.indexOf("## Errors") + 3));
  return [...table.matchAll(/^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \|/gm)].flatMap((m) =>
    m[1]!.split(", ").map((code) => code.replaceAll("`", "")),
  );
}

describe("describeError", () => {
  it("has a human message for every code docs/api.md documents", () => {
    const codes = documentedCodes();
    expect(codes).toContain("INSUFFICIENT_CREDITS");
    expect(codes.length).toBeGreaterThanOrEqual(10);
    for (const code of codes) {
      const message = describeError(new ApiError(code, "raw server text"));
      expect(message, code).toBe(message.trim());
      expect(CODE_MESSAGES[code], code).toBeDefined();
      expect(message, code).not.toMatch(/^[A-Z_]+$/);
    }
  });

  it("adds the server's detail where it says what to fix", () => {
    const message = describeError(new ApiError("BAD_USER_INPUT", "option 'margin_s': too large"));
    expect(message).toBe("Something you entered was not accepted. Option 'margin_s': too large.");
  });

  it("does not show internal details", () => {
    const message = describeError(new ApiError("INTERNAL_SERVER_ERROR", "Traceback: KeyError"));
    expect(message).not.toContain("Traceback");
  });

  it("falls back to the server's message for a code it does not know", () => {
    expect(describeError(new ApiError("TEAPOT", "I am a teapot"))).toBe("I am a teapot");
    expect(describeError(new Error("boom"))).toBe(CODE_MESSAGES.INTERNAL_SERVER_ERROR);
  });
});
