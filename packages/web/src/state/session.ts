// Who is signed in (the `me` query), how one can sign in here, and the current workspace.
import { computed, signal } from "@preact/signals";
import { handleUnauthenticated, request } from "../api/client";
import { ApiError } from "../api/errors";
import { graphql, type ResultOf } from "../graphql";
import { readStored, writeStored } from "./stored";

export const MeQuery = graphql(`
  query Me {
    me {
      id
      email
      name
      workspaces {
        id
        name
        credits
        role
      }
    }
  }
`);

export type Me = ResultOf<typeof MeQuery>["me"];
export type WorkspaceSummary = Me["workspaces"][number];

export type SessionState =
  | { status: "loading" }
  | { status: "signed-out"; ended?: boolean }
  | { status: "error"; error: ApiError }
  | { status: "signed-in"; me: Me };

export const session = signal<SessionState>({ status: "loading" });

const WORKSPACE_KEY = "hushcut.workspace";
const chosenWorkspace = signal<string | null>(readStored(WORKSPACE_KEY));

/** The workspace the pages work in: the one chosen last, else the first. */
export const currentWorkspace = computed<WorkspaceSummary | null>(() => {
  const state = session.value;
  if (state.status !== "signed-in") return null;
  const all = state.me.workspaces;
  return all.find((w) => w.id === chosenWorkspace.value) ?? all[0] ?? null;
});

export function chooseWorkspace(id: string): void {
  chosenWorkspace.value = id;
  writeStored(WORKSPACE_KEY, id);
}

handleUnauthenticated(() => {
  if (session.value.status === "signed-in") session.value = { status: "signed-out", ended: true };
});

/** Ask the API who we are (the session cookie, if any, says). */
export async function loadSession(): Promise<void> {
  try {
    const data = await request(MeQuery, {});
    session.value = { status: "signed-in", me: data.me };
  } catch (error) {
    const failure = error instanceof ApiError ? error : new ApiError("NETWORK", String(error));
    session.value = failure.code === "UNAUTHENTICATED" ? { status: "signed-out" } : { status: "error", error: failure };
  }
}

let refreshes = 0;

/** Re-read the workspaces and their credits (after a charge, a refund, a payment). Only the
 * latest call's answer counts: an older one may have been read before a refund. */
export async function refreshWorkspaces(): Promise<void> {
  if (session.value.status !== "signed-in") return;
  const mine = ++refreshes;
  try {
    const data = await request(MeQuery, {});
    if (mine === refreshes && session.value.status === "signed-in") {
      session.value = { status: "signed-in", me: data.me };
    }
  } catch {
    // The balance shown stays as it was; the next refresh tries again.
  }
}

export type SignInMethods = { google: boolean; token: boolean };

export const signInMethods = signal<SignInMethods | null>(null);

export async function loadSignInMethods(): Promise<void> {
  try {
    const response = await fetch("/auth/methods", { credentials: "same-origin" });
    signInMethods.value = response.ok ? ((await response.json()) as SignInMethods) : { google: false, token: true };
  } catch {
    signInMethods.value = { google: false, token: true };
  }
}

/** Trade an API token for a session cookie; the token itself is not kept anywhere. */
export async function signInWithToken(token: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch("/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ token: token.trim() }),
    });
  } catch {
    throw new ApiError("NETWORK", "the server cannot be reached");
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    const code =
      response.status === 401 ? "INVALID_TOKEN" : response.status === 429 ? "RATE_LIMITED" : "BAD_USER_INPUT";
    throw new ApiError(code, body.error ?? `HTTP ${response.status}`);
  }
  await loadSession();
}

export async function signOut(): Promise<void> {
  try {
    await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
  } finally {
    session.value = { status: "signed-out" };
  }
}
