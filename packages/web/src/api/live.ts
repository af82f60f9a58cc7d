// Live updates over graphql-ws (graphql-transport-ws), authenticated by the session
// cookie. A dropped socket is reconnected with backoff and its subscriptions resumed
// (jobUpdates answers the current state first, so nothing is missed); `liveStatus`
// tells the page, which says so.
import { signal } from "@preact/signals";
import { createClient, type Client } from "graphql-ws";
import type { TadaDocumentNode } from "gql.tada";
import { documentSource, notifyUnauthenticated } from "./client";
import { ApiError } from "./errors";

export type LiveStatus = "idle" | "connecting" | "connected" | "reconnecting";

/** The socket's state; "reconnecting" only after a connection that served us was lost. */
export const liveStatus = signal<LiveStatus>("idle");
/** When the socket came back after a loss (the page says "Live updates are back"). */
export const liveRestoredAt = signal<number | null>(null);

/** Close codes after which retrying cannot help: the server refused the credentials. */
const REFUSED = new Set([4401, 4403]);
const PONG_TIMEOUT_MS = 10_000;

let active = 0;
let lost = false;
let client: Client | null = null;

export function websocketUrl(location: Location = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/graphql`;
}

/** Delay before reconnect attempt ``retries`` (0-based): 0.5 s doubling to 15 s, +-25 %. */
export function retryDelay(retries: number, random: () => number = Math.random): number {
  const base = Math.min(500 * 2 ** retries, 15_000);
  return Math.round(base * (0.75 + random() * 0.5));
}

function closeCode(event: unknown): number | null {
  return typeof event === "object" && event !== null && "code" in event
    ? Number((event as { code: unknown }).code)
    : null;
}

function liveClient(): Client {
  if (client) return client;
  let socket: WebSocket | null = null;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  client = createClient({
    url: websocketUrl(),
    lazy: true,
    lazyCloseTimeout: 3_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, retryDelay(retries))),
    // Every closed socket is worth another try (a restarting server refuses connections
    // for a moment), except when the server refused who we are.
    shouldRetry: (event) => !REFUSED.has(closeCode(event) ?? 0),
    // A socket can die without a close frame (sleep, network change): ping, and give up
    // on it when no pong comes back.
    keepAlive: 20_000,
    on: {
      connecting: () => {
        liveStatus.value = lost ? "reconnecting" : "connecting";
      },
      connected: (opened) => {
        socket = opened as WebSocket;
        if (lost) liveRestoredAt.value = Date.now();
        lost = false;
        liveStatus.value = "connected";
      },
      ping: (received) => {
        if (received) return;
        pongTimer = setTimeout(() => {
          if (socket && socket.readyState === WebSocket.OPEN) socket.close(4408, "pong timeout");
        }, PONG_TIMEOUT_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
      closed: (event) => {
        clearTimeout(pongTimer);
        socket = null;
        const code = closeCode(event);
        if (code !== null && REFUSED.has(code)) {
          liveStatus.value = "idle";
          notifyUnauthenticated();
        } else if (active > 0) {
          lost = true;
          liveStatus.value = "reconnecting";
        } else {
          liveStatus.value = "idle";
        }
      },
    },
  });
  return client;
}

/** Close the socket and forget it: the next subscription opens a new one, authenticated
 * by whoever is signed in then (a socket is authenticated once, when it opens). */
export function resetLive(): void {
  const open = client;
  client = null;
  active = 0;
  lost = false;
  liveStatus.value = "idle";
  void open?.dispose();
}

export type LiveHandlers<R> = {
  next: (data: R) => void;
  error?: (error: ApiError) => void;
  complete?: () => void;
};

/** Subscribe to ``document``; call the returned function to stop. */
export function subscribe<R, V>(document: TadaDocumentNode<R, V>, variables: V, handlers: LiveHandlers<R>): () => void {
  active += 1;
  let open = true;
  const finish = () => {
    if (open) {
      open = false;
      active -= 1;
    }
  };
  const dispose = liveClient().subscribe<R>(
    { query: documentSource(document), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        const first = result.errors?.[0];
        if (first) {
          const code = String(first.extensions?.code ?? "INTERNAL_SERVER_ERROR");
          if (code === "UNAUTHENTICATED") notifyUnauthenticated();
          handlers.error?.(new ApiError(code, first.message));
        } else if (result.data) {
          handlers.next(result.data);
        }
      },
      error: (error) => {
        finish();
        const code = REFUSED.has(closeCode(error) ?? 0) ? "UNAUTHENTICATED" : "NETWORK";
        handlers.error?.(new ApiError(code, "live updates stopped"));
      },
      complete: () => {
        finish();
        handlers.complete?.();
      },
    },
  );
  return () => {
    finish();
    dispose();
  };
}
