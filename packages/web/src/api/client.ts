// GraphQL over HTTP for queries and mutations: the session cookie authenticates, and the
// CSRF cookie is echoed in X-CSRF-Token as the API requires of cookie sessions.
import { print } from "@0no-co/graphql.web";
import type { TadaDocumentNode } from "gql.tada";
import { ApiError } from "./errors";

export const CSRF_COOKIE = "hushcut_csrf";

type GraphQLResponse<R> = {
  data?: R | null;
  errors?: { message: string; extensions?: { code?: string } }[];
};

/** Called with every UNAUTHENTICATED answer (the session ended: show the sign-in page). */
let onUnauthenticated: () => void = () => {};

export function handleUnauthenticated(callback: () => void): void {
  onUnauthenticated = callback;
}

export function notifyUnauthenticated(): void {
  onUnauthenticated();
}

export function readCookie(name: string): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

const printed = new WeakMap<object, string>();

/** The document's text, as sent (printed once per document). */
export function documentSource(document: object): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document as Parameters<typeof print>[0]);
    printed.set(document, text);
  }
  return text;
}

/** Run one operation; its data, or an ApiError carrying the first error's code. */
export async function request<R, V>(document: TadaDocumentNode<R, V>, variables: V): Promise<R> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const csrf = readCookie(CSRF_COOKIE);
  if (csrf) headers["X-CSRF-Token"] = csrf;
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: JSON.stringify({ query: documentSource(document), variables }),
    });
  } catch {
    throw new ApiError("NETWORK", "the server cannot be reached");
  }
  let body: GraphQLResponse<R>;
  try {
    body = (await response.json()) as GraphQLResponse<R>;
  } catch {
    const code = response.status === 429 ? "RATE_LIMITED" : "INTERNAL_SERVER_ERROR";
    throw new ApiError(code, `HTTP ${response.status}`);
  }
  const first = body.errors?.[0];
  if (first) {
    const code = first.extensions?.code ?? (response.status === 429 ? "RATE_LIMITED" : "INTERNAL_SERVER_ERROR");
    if (code === "UNAUTHENTICATED") notifyUnauthenticated();
    throw new ApiError(code, first.message);
  }
  if (body.data == null) throw new ApiError("INTERNAL_SERVER_ERROR", "empty answer");
  return body.data;
}
