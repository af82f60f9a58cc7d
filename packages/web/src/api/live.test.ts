import { describe, expect, it } from "vitest";
import { retryDelay, websocketUrl } from "./live";

describe("live updates", () => {
  it("reconnects with a growing, bounded, jittered delay", () => {
    expect(retryDelay(0, () => 0.5)).toBe(500);
    expect(retryDelay(3, () => 0.5)).toBe(4000);
    expect(retryDelay(20, () => 0.5)).toBe(15_000);
    expect(retryDelay(20, () => 1)).toBeLessThanOrEqual(18_750);
    expect(retryDelay(0, () => 0)).toBeGreaterThanOrEqual(375);
  });

  it("uses the page's own origin, wss behind https", () => {
    expect(websocketUrl({ protocol: "https:", host: "app.example.com" } as Location)).toBe(
      "wss://app.example.com/graphql",
    );
    expect(websocketUrl({ protocol: "http:", host: "127.0.0.1:8000" } as Location)).toBe("ws://127.0.0.1:8000/graphql");
  });
});
