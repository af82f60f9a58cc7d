// Words and numbers as the page shows them: job states, pipeline stages, durations.

/** Every job status of the API, in words (the web app's contract: tests look for these). */
export const STATUS_WORDS: Record<string, string> = {
  PENDING: "Waiting for upload",
  QUEUED: "Queued",
  PROCESSING: "Processing",
  REVIEW: "Ready for review",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELED: "Canceled",
};

export const FINAL_STATUSES = new Set(["COMPLETED", "FAILED", "CANCELED"]);

export function statusWord(status: string): string {
  return STATUS_WORDS[status] ?? capitalize(status.toLowerCase());
}

/** The worker's pipeline stages, in words. */
const STAGE_WORDS: Record<string, string> = {
  download: "Fetching the upload",
  probe: "Reading the file",
  analyze: "Analyzing",
  detect: "Finding silences",
  plan: "Planning cuts",
  render: "Rendering",
  upload: "Saving the result",
};

export function stageWord(stage: string | null | undefined): string | null {
  if (!stage) return null;
  return STAGE_WORDS[stage] ?? capitalize(stage.replace(/[_-]+/g, " "));
}

/** 75.4 -> "1:15", 3725 -> "1:02:05", 9.46 -> "9.5 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  if (seconds < 60) return `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Share of the input removed, in whole percent; null when not known. */
export function percentRemoved(input: number | null | undefined, output: number | null | undefined): number | null {
  if (input == null || output == null || input <= 0) return null;
  return Math.max(0, Math.round((1 - output / input) * 100));
}

export function formatBytes(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = parseDate(iso);
  return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
}

/** The API's times are UTC; one without a zone (SQLite keeps none) is read as UTC too. */
export function parseDate(iso: string): Date {
  return new Date(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`);
}

export function formatMoney(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
