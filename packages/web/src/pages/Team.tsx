// The people of the workspace and their roles.
import { useEffect, useState } from "preact/hooks";
import { request } from "../api/client";
import { asApiError } from "../api/errors";
import { ErrorMessage } from "../components/ErrorMessage";
import { TableScroll } from "../components/TableScroll";
import { usePageTitle } from "../components/title";
import { graphql, type ResultOf } from "../graphql";
import { currentWorkspace, session } from "../state/session";

export const TeamQuery = graphql(`
  query Team($workspaceId: ID!) {
    workspace(id: $workspaceId) {
      id
      name
      role
      members {
        userId
        email
        name
        role
      }
    }
  }
`);

type Team = NonNullable<ResultOf<typeof TeamQuery>["workspace"]>;

const ROLE_WORDS: Record<string, string> = { OWNER: "Owner", ADMIN: "Admin", MEMBER: "Member" };

export function TeamPage() {
  usePageTitle("Team");
  const workspace = currentWorkspace.value;
  const state = session.value;
  const me = state.status === "signed-in" ? state.me.id : null;
  const [team, setTeam] = useState<Team | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = async (workspaceId: string) => {
    try {
      const data = await request(TeamQuery, { workspaceId });
      setTeam(data.workspace);
      setError(null);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  useEffect(() => {
    setTeam(null);
    if (workspace) void load(workspace.id);
  }, [workspace?.id]);
  return (
    <>
      <h1 tabIndex={-1}>Team</h1>
      <ErrorMessage error={error} onRetry={workspace ? () => void load(workspace.id) : undefined} />
      {team === null && !error && <p role="status">Loading members…</p>}
      {team && (
        <section class="card" aria-labelledby="members-title">
          <h2 id="members-title">Members of {team.name}</h2>
          <TableScroll label="Members">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                </tr>
              </thead>
              <tbody>
                {team.members.map((member) => (
                  <tr key={member.userId}>
                    <td>
                      {member.name || "–"}
                      {member.userId === me && <span class="muted"> (you)</span>}
                    </td>
                    <td>{member.email}</td>
                    <td>{ROLE_WORDS[member.role] ?? member.role}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
          <p class="hint">
            Your role: {ROLE_WORDS[team.role] ?? team.role}. Owners and admins manage billing and every token.
          </p>
        </section>
      )}
    </>
  );
}
