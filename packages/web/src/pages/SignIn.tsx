// Sign in with Google (when the server has it) or by trading an API token for a session.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ErrorMessage } from "../components/ErrorMessage";
import { PublicLayout } from "../components/PublicLayout";
import { usePageTitle } from "../components/title";
import { session, signInMethods, signInWithToken } from "../state/session";

/** Where to go after signing in: a local path only (never another site). */
export function safeNext(next: string | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/signin") ? next : "/";
}

export function SignIn() {
  usePageTitle("Sign in");
  const { query, path, route } = useLocation();
  const next = safeNext(query.next ?? (path !== "/signin" ? path : undefined));
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const methods = signInMethods.value;
  const state = session.value;
  const ended = state.status === "signed-out" && state.ended;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signInWithToken(token);
      setToken(""); // not kept: the session cookie replaces it
      route(next, true);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <PublicLayout>
      <div class="narrow">
        <h1 tabIndex={-1}>Sign in</h1>
        {ended && (
          <p role="status" class="notice">
            Your session has ended. Sign in again to continue.
          </p>
        )}
        {methods?.google && (
          <>
            <p>
              <a class="button large" href={`/auth/google/login?next=${encodeURIComponent(next)}`}>
                Sign in with Google
              </a>
            </p>
            <p class="divider">
              <span>or with an API token</span>
            </p>
          </>
        )}
        <form class="card" onSubmit={submit}>
          <div class="field">
            <label for="api-token">API token</label>
            <input
              id="api-token"
              name="api-token"
              type="password"
              autocomplete="off"
              spellcheck={false}
              required
              aria-describedby="api-token-help"
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
            />
            <p id="api-token-help" class="hint">
              A token signs you in to its workspace. On the machine running Hushcut, create one with{" "}
              <code>uv run hushcut token create --email you@example.com</code> (it prints the token on its last line),
              or under API tokens once you are signed in.
            </p>
          </div>
          <ErrorMessage error={error} />
          <button type="submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      </div>
    </PublicLayout>
  );
}
