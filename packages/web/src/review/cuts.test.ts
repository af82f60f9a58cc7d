import { describe, expect, it } from "vitest";
import { type Cut, activeCuts, cutsFromSegments, outputLength, segmentsForCuts, skipCut } from "./cuts";

const PLAN = [
  { start: 0, end: 1.5, speed: 1 },
  { start: 3.9, end: 6, speed: 1 },
];

describe("cuts", () => {
  it("are the gaps between the planned segments, the tail included", () => {
    expect(cutsFromSegments(PLAN, 8)).toEqual([
      { id: "cut-1", start: 1.5, end: 3.9, enabled: true },
      { id: "cut-2", start: 6, end: 8, enabled: true },
    ]);
    expect(cutsFromSegments([{ start: 0.5, end: 8, speed: 1 }], 8)).toEqual([
      { id: "cut-1", start: 0, end: 0.5, enabled: true },
    ]);
  });

  it("give back the plan when left as they are", () => {
    expect(segmentsForCuts(cutsFromSegments(PLAN, 8), PLAN, 8)).toEqual(PLAN);
  });

  it("keep what is switched off, shrunk or removed, and cut what is added", () => {
    const cuts: Cut[] = [
      { id: "a", start: 2, end: 3.9, enabled: true }, // shrunk: 1.5..2 comes back
      { id: "b", start: 6, end: 8, enabled: false }, // switched off: the tail stays
      { id: "c", start: 4.5, end: 5, enabled: true }, // added inside a kept stretch
    ];
    expect(segmentsForCuts(cuts, PLAN, 8)).toEqual([
      { start: 0, end: 2, speed: 1 },
      { start: 3.9, end: 4.5, speed: 1 },
      { start: 5, end: 8, speed: 1 },
    ]);
    expect(outputLength(segmentsForCuts(cuts, PLAN, 8))).toBeCloseTo(5.6);
  });

  it("keep a planned speed-up where it is kept", () => {
    const plan = [
      { start: 0, end: 2, speed: 1 },
      { start: 2, end: 4, speed: 4 },
      { start: 4, end: 6, speed: 1 },
    ];
    const cuts: Cut[] = [{ id: "a", start: 3, end: 5, enabled: true }];
    expect(segmentsForCuts(cuts, plan, 6)).toEqual([
      { start: 0, end: 2, speed: 1 },
      { start: 2, end: 3, speed: 4 },
      { start: 5, end: 6, speed: 1 },
    ]);
  });

  it("merge overlapping cuts and clamp them to the recording", () => {
    const cuts: Cut[] = [
      { id: "a", start: 3, end: 1, enabled: true },
      { id: "b", start: 2, end: 9, enabled: true },
    ];
    expect(activeCuts(cuts, 8)).toEqual([{ start: 1, end: 8 }]);
  });

  it("are skipped by the preview", () => {
    const cuts = [{ start: 1.5, end: 3.9 }];
    expect(skipCut(1.6, cuts)).toBe(3.9);
    expect(skipCut(1.4, cuts)).toBe(1.4);
    expect(skipCut(3.9, cuts)).toBe(3.9);
  });
});
