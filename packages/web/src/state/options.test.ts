import { describe, expect, it } from "vitest";
import { type CutOption, NO_OPTIONS, fieldKind, humanize, toInput, valueOf, withValue } from "./options";

const option = (name: string, plugin: string | null, schema: unknown, value: unknown = null): CutOption => ({
  name: plugin ? `${plugin}.${name}` : name,
  plugin,
  key: name,
  description: "",
  default: value,
  schema,
});

describe("fieldKind", () => {
  it("reads the JSON Schemas the API sends", () => {
    expect(fieldKind({ type: "boolean" })).toEqual({ kind: "boolean" });
    expect(fieldKind({ type: "integer", enum: [10, 20, 30] })).toEqual({ kind: "choice", choices: [10, 20, 30] });
    expect(fieldKind({ type: "number", exclusiveMinimum: 1, maximum: 8 })).toEqual({
      kind: "number",
      integer: false,
      min: 1,
      max: 8,
    });
    expect(fieldKind({ type: "integer", minimum: 0, maximum: 3 })).toEqual({
      kind: "number",
      integer: true,
      min: 0,
      max: 3,
    });
    expect(fieldKind({ type: "string" })).toEqual({ kind: "text" });
    expect(fieldKind(null)).toEqual({ kind: "text" });
  });
});

describe("chosen options", () => {
  const margin = option("marginS", null, { type: "number" }, 0.15);
  const factor = option("factor", "speedup", { type: "number" }, 4);

  it("become requestUpload options, and nothing when all are default", () => {
    expect(toInput(NO_OPTIONS)).toBeNull();
    let chosen = withValue(NO_OPTIONS, margin, 0.3);
    chosen = withValue(chosen, factor, 2);
    expect(valueOf(chosen, factor)).toBe(2);
    expect(toInput(chosen)).toEqual({ marginS: 0.3, plugins: { speedup: { factor: 2 } } });
    chosen = withValue(withValue(chosen, factor, undefined), margin, undefined);
    expect(toInput(chosen)).toBeNull();
  });

  it("names options for people", () => {
    expect(humanize("frame_ms")).toBe("Frame ms");
    expect(humanize("minSilenceS")).toBe("Min silence s");
  });
});
