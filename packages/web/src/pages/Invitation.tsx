// The page an invitation's link opens (APP_URL/invite/<token>): join the workspace.
import { useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { request } from "../api/client";
import { asApiError } from "../api/errors";
import { ErrorMessage } from "../components/ErrorMessage";
import { usePageTitle } from "../components/title";
import { graphql } from "../graphql";
import { chooseWorkspace, refreshWorkspaces, session, signOut } from "../state/session";

export const AcceptInvitation = graphql(`
  mutation AcceptInvitation($token: String!) {
    acceptInvitation(token: $token) {
      id
      name
    }
  }
`);

export function InvitationPage() {
  usePageTitle("Invitation");
  const { params } = useRoute();
  const { route, url } = useLocation();
  const state = session.value;
  const email = state.status === "signed-in" ? state.me.email : "";
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [refused, setRefused] = useState<"not-found" | "forbidden" | null>(null);

  const accept = async () => {
    setBusy(true);
    setError(null);
    setRefused(null);
    try {
      const data = await request(AcceptInvitation, { token: params.token ?? "" });
      await refreshWorkspaces();
      chooseWorkspace(data.acceptInvitation.id);
      route("/team");
    } catch (failure) {
      const problem = asApiError(failure);
      if (problem.code === "NOT_FOUND") setRefused("not-found");
      else if (problem.code === "FORBIDDEN") setRefused("forbidden");
      else setError(problem);
      setBusy(false);
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>Join a workspace</h1>
      <section class="card">
        <p>
          Someone invited you to their Hushcut workspace. Accept to join it as <strong>{email}</strong>: you will see
          its videos and credits with the role they gave you.
        </p>
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => void accept()}>
            {busy ? "Joining…" : "Accept invitation"}
          </button>
          <a href="/">Not now</a>
        </div>
        {refused && (
          <div class="error" role="alert">
            <p>
              This invitation cannot be used: it was used or revoked, it expired, or it was sent to another address than{" "}
              {email}. Ask for a new one, or sign in with the invited address.
            </p>
            <button
              type="button"
              class="secondary"
              onClick={() => void signOut().finally(() => route(`/signin?next=${encodeURIComponent(url)}`))}
            >
              Sign in with another account
            </button>
          </div>
        )}
        <ErrorMessage error={error} />
      </section>
    </>
  );
}
