// The cut options a workspace's uploads use: offered by the API (`cutOptions`, plugins'
// included), chosen in the options form, remembered per workspace in this browser.
import { signal } from "@preact/signals";
import { request } from "../api/client";
import type { CutOptionsInput } from "../api/upload";
import { graphql, type ResultOf } from "../graphql";
import { readStored, writeStored } from "./stored";

export const CutOptionsQuery = graphql(`
  query CutOptions {
    cutOptions {
      name
      plugin
      key
      description
      default
      schema
    }
  }
`);

export type CutOption = ResultOf<typeof CutOptionsQuery>["cutOptions"][number];

export const cutOptions = signal<CutOption[] | null>(null);
export const cutOptionsError = signal<unknown>(null);

export async function loadCutOptions(): Promise<void> {
  if (cutOptions.value) return;
  try {
    cutOptions.value = (await request(CutOptionsQuery, {})).cutOptions;
    cutOptionsError.value = null;
  } catch (error) {
    cutOptionsError.value = error;
  }
}

export type Scalar = string | number | boolean;

/** How a form offers one value, read from the option's JSON Schema. */
export type FieldKind =
  | { kind: "boolean" }
  | { kind: "choice"; choices: Scalar[] }
  | { kind: "number"; integer: boolean; min?: number; max?: number }
  | { kind: "text" };

export function fieldKind(schema: unknown): FieldKind {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum)) return { kind: "choice", choices: s.enum as Scalar[] };
  if (s.type === "boolean") return { kind: "boolean" };
  if (s.type === "integer" || s.type === "number") {
    const bound = (key: string) => (typeof s[key] === "number" ? (s[key] as number) : undefined);
    const field: FieldKind = { kind: "number", integer: s.type === "integer" };
    const min = bound("minimum") ?? bound("exclusiveMinimum");
    const max = bound("maximum") ?? bound("exclusiveMaximum");
    if (min !== undefined) field.min = min;
    if (max !== undefined) field.max = max;
    return field;
  }
  return { kind: "text" };
}

/** What the form holds: built-in fields by name, plugin values by plugin and key. */
export type ChosenOptions = {
  builtIn: Record<string, Scalar>;
  plugins: Record<string, Record<string, Scalar>>;
};

export const NO_OPTIONS: ChosenOptions = { builtIn: {}, plugins: {} };

const key = (workspaceId: string) => `hushcut.options.${workspaceId}`;

export function storedOptions(workspaceId: string): ChosenOptions {
  try {
    const parsed = JSON.parse(readStored(key(workspaceId)) ?? "null") as ChosenOptions | null;
    if (parsed && typeof parsed.builtIn === "object" && typeof parsed.plugins === "object") return parsed;
  } catch {
    // Unreadable: start from the defaults.
  }
  return NO_OPTIONS;
}

export function storeOptions(workspaceId: string, options: ChosenOptions): void {
  writeStored(key(workspaceId), JSON.stringify(options));
}

/** Set (or, with ``undefined``, clear) one option's value. */
export function withValue(options: ChosenOptions, option: CutOption, value: Scalar | undefined): ChosenOptions {
  if (option.plugin === null) {
    const builtIn = { ...options.builtIn };
    if (value === undefined) delete builtIn[option.name];
    else builtIn[option.name] = value;
    return { ...options, builtIn };
  }
  const values = { ...(options.plugins[option.plugin] ?? {}) };
  if (value === undefined) delete values[option.key];
  else values[option.key] = value;
  const plugins = { ...options.plugins, [option.plugin]: values };
  if (Object.keys(values).length === 0) delete plugins[option.plugin];
  return { ...options, plugins };
}

export function valueOf(options: ChosenOptions, option: CutOption): Scalar | undefined {
  return option.plugin === null ? options.builtIn[option.name] : options.plugins[option.plugin]?.[option.key];
}

/** The requestUpload options for what was chosen; null when everything is default. */
export function toInput(options: ChosenOptions): CutOptionsInput | null {
  const input: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options.builtIn)) input[name] = value;
  if (Object.keys(options.plugins).length > 0) input.plugins = options.plugins;
  return Object.keys(input).length > 0 ? (input as CutOptionsInput) : null;
}

/** "frame_ms" -> "Frame ms", "minSilenceS" -> "Min silence s". */
export function humanize(name: string): string {
  const words = name
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
