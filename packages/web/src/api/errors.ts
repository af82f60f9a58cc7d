// Every error code the API documents (docs/api.md), and the ones the page makes itself,
// as a sentence a person can act on.

/** An error of the API or of the page's own requests, with its `extensions.code`. */
export class ApiError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
  }
}

/** ``error`` as an ApiError (anything unexpected is an internal error). */
export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError("INTERNAL_SERVER_ERROR", String(error));
}

/** What each code means for the person looking at the page. */
export const CODE_MESSAGES: Record<string, string> = {
  UNAUTHENTICATED: "Your session has ended. Sign in again.",
  FORBIDDEN: "Your role in this workspace does not allow this.",
  NOT_FOUND: "That no longer exists, or it belongs to a workspace you are not in.",
  BAD_USER_INPUT: "Something you entered was not accepted.",
  INSUFFICIENT_CREDITS: "This workspace has no credits left. Buy credits on the Billing page, then try again.",
  CONFLICT: "That cannot be done in the item's current state. The page shows its state now.",
  RATE_LIMITED: "Too many requests in a short time. Wait a minute, then try again.",
  STORAGE_UNAVAILABLE: "File storage cannot be reached right now. Nothing was charged; try again.",
  BILLING_UNAVAILABLE: "The payment provider cannot be reached right now. Nothing was charged; try again.",
  EMAIL_UNAVAILABLE: "The email service cannot be reached right now, so nothing was sent or kept. Try again.",
  GRAPHQL_VALIDATION_FAILED: "The page sent a request the server does not understand. Reload the page.",
  INTERNAL_SERVER_ERROR: "Something went wrong on our side. Try again in a moment.",
  // Made by the page itself:
  NETWORK: "The server cannot be reached. Check your connection, then try again.",
  UPLOAD_FAILED: "The upload did not finish. Try again.",
  UPLOAD_INTERRUPTED:
    "The connection dropped during the upload. The parts already sent are kept: resume when you are back online.",
  INVALID_TOKEN: "That API token is not valid, or it was revoked.",
};

/** Codes whose server message says exactly what to fix (which option, which state). */
const DETAILED = new Set(["BAD_USER_INPUT", "CONFLICT", "FORBIDDEN"]);

/** A message for any error: the code's sentence, plus the server's detail where it helps. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const known = CODE_MESSAGES[error.code];
    if (known === undefined) return error.message || CODE_MESSAGES.INTERNAL_SERVER_ERROR!;
    if (DETAILED.has(error.code) && error.message) return `${known} ${capitalize(error.message)}.`;
    return known;
  }
  return CODE_MESSAGES.INTERNAL_SERVER_ERROR!;
}

function capitalize(text: string): string {
  const trimmed = text.trim().replace(/\.$/, "");
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
}
