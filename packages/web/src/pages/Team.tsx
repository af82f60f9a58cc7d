// The people of the workspace: members and their roles, invitations, leaving.
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { request } from "../api/client";
import { asApiError } from "../api/errors";
import { ErrorMessage } from "../components/ErrorMessage";
import { TableScroll } from "../components/TableScroll";
import { usePageTitle } from "../components/title";
import { formatDate } from "../format";
import { graphql, type ResultOf, type VariablesOf } from "../graphql";
import { currentWorkspace, refreshWorkspaces, session } from "../state/session";

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

/** Pending invitations: owners and admins only (others get FORBIDDEN, so asked apart). */
export const InvitationsQuery = graphql(`
  query Invitations($workspaceId: ID!) {
    workspace(id: $workspaceId) {
      id
      invitations {
        id
        email
        role
        expiresAt
      }
    }
  }
`);

export const InviteMember = graphql(`
  mutation InviteMember($workspaceId: ID!, $email: String!, $role: Role!) {
    inviteMember(workspaceId: $workspaceId, email: $email, role: $role) {
      id
      email
      role
      expiresAt
    }
  }
`);

export const RevokeInvitation = graphql(`
  mutation RevokeInvitation($id: ID!) {
    revokeInvitation(id: $id) {
      id
    }
  }
`);

export const ChangeMemberRole = graphql(`
  mutation ChangeMemberRole($workspaceId: ID!, $userId: ID!, $role: Role!) {
    changeMemberRole(workspaceId: $workspaceId, userId: $userId, role: $role) {
      userId
      role
    }
  }
`);

export const RemoveMember = graphql(`
  mutation RemoveMember($workspaceId: ID!, $userId: ID!) {
    removeMember(workspaceId: $workspaceId, userId: $userId) {
      id
    }
  }
`);

export const LeaveWorkspace = graphql(`
  mutation LeaveWorkspace($workspaceId: ID!) {
    leaveWorkspace(workspaceId: $workspaceId)
  }
`);

type Team = NonNullable<ResultOf<typeof TeamQuery>["workspace"]>;
type Invitation = NonNullable<ResultOf<typeof InvitationsQuery>["workspace"]>["invitations"][number];
type Role = VariablesOf<typeof InviteMember>["role"];

export const ROLE_WORDS: Record<string, string> = { OWNER: "Owner", ADMIN: "Admin", MEMBER: "Member" };

/** The roles ``mine`` may give: only an owner makes an owner. */
function grantable(mine: string): Role[] {
  return mine === "OWNER" ? ["MEMBER", "ADMIN", "OWNER"] : ["MEMBER", "ADMIN"];
}

export function TeamPage() {
  usePageTitle("Team");
  const workspace = currentWorkspace.value;
  const state = session.value;
  const me = state.status === "signed-in" ? state.me.id : null;
  const { route } = useLocation();
  const [team, setTeam] = useState<Team | null>(null);
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("MEMBER");
  const [leaving, setLeaving] = useState(false);

  const load = async (workspaceId: string) => {
    try {
      const data = await request(TeamQuery, { workspaceId });
      setTeam(data.workspace);
      const manages = data.workspace?.role === "OWNER" || data.workspace?.role === "ADMIN";
      setInvitations(manages ? ((await request(InvitationsQuery, { workspaceId })).workspace?.invitations ?? []) : []);
      setError(null);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  useEffect(() => {
    setTeam(null);
    setInvitations([]);
    setNotice(null);
    if (workspace) void load(workspace.id);
  }, [workspace?.id]);

  const act = async (action: () => Promise<unknown>, done?: string) => {
    if (!workspace) return;
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await action();
      if (done) setNotice(done);
      await load(workspace.id);
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  const invite = (event: Event) => {
    event.preventDefault();
    if (!workspace || !email.trim()) return;
    const address = email.trim();
    void act(async () => {
      await request(InviteMember, { workspaceId: workspace.id, email: address, role });
      setEmail("");
    }, `Invitation sent to ${address}.`);
  };

  const leave = async () => {
    if (!workspace) return;
    setBusy(true);
    try {
      await request(LeaveWorkspace, { workspaceId: workspace.id });
      await refreshWorkspaces();
      route("/");
    } catch (failure) {
      setError(asApiError(failure));
      setBusy(false);
    }
  };

  const manages = team?.role === "OWNER" || team?.role === "ADMIN";
  // The server keeps an owner in every workspace: its last owner cannot leave.
  const soleOwner = team?.role === "OWNER" && team.members.filter((m) => m.role === "OWNER").length <= 1;
  return (
    <>
      <h1 tabIndex={-1}>Team</h1>
      <ErrorMessage error={error} onRetry={workspace && !team ? () => void load(workspace.id) : undefined} />
      {notice && (
        <p class="notice success" role="status">
          {notice}
        </p>
      )}
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
                  {manages && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {team.members.map((member) => {
                  const editable =
                    manages && member.userId !== me && (team.role === "OWNER" || member.role !== "OWNER");
                  const who = member.name || member.email;
                  return (
                    <tr key={member.userId}>
                      <td>
                        {member.name || "–"}
                        {member.userId === me && <span class="muted"> (you)</span>}
                      </td>
                      <td>{member.email}</td>
                      <td>
                        {editable ? (
                          <select
                            aria-label={`Role of ${who}`}
                            value={member.role}
                            disabled={busy}
                            onChange={(e) => {
                              const next = e.currentTarget.value as Role;
                              void act(
                                () =>
                                  request(ChangeMemberRole, {
                                    workspaceId: team.id,
                                    userId: member.userId,
                                    role: next,
                                  }),
                                `${who} is now ${ROLE_WORDS[next]!.toLowerCase()}.`,
                              );
                            }}
                          >
                            {grantable(team.role).map((option) => (
                              <option key={option} value={option}>
                                {ROLE_WORDS[option]}
                              </option>
                            ))}
                          </select>
                        ) : (
                          (ROLE_WORDS[member.role] ?? member.role)
                        )}
                      </td>
                      {manages && (
                        <td>
                          {editable && (
                            <button
                              type="button"
                              class="secondary"
                              disabled={busy}
                              onClick={() =>
                                void act(
                                  () => request(RemoveMember, { workspaceId: team.id, userId: member.userId }),
                                  `${who} was removed; their API tokens for ${team.name} stopped working.`,
                                )
                              }
                            >
                              Remove {who}
                            </button>
                          )}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </TableScroll>
          <p class="hint">
            Your role: {ROLE_WORDS[team.role] ?? team.role}. Owners and admins invite people, change roles, manage
            billing and every token; a workspace always keeps an owner.
          </p>
          {soleOwner ? (
            <p class="hint">You are the only owner of {team.name}: to leave it, first make another member an owner.</p>
          ) : !leaving ? (
            <button type="button" class="secondary" onClick={() => setLeaving(true)}>
              Leave {team.name}
            </button>
          ) : (
            <div class="actions confirm" role="group" aria-label={`Leave ${team.name}`}>
              <span>Leave {team.name}? You lose access to its videos until someone invites you again.</span>
              <button type="button" class="danger" disabled={busy} onClick={() => void leave()}>
                Leave for good
              </button>
              <button type="button" class="secondary" onClick={() => setLeaving(false)}>
                Stay
              </button>
            </div>
          )}
        </section>
      )}
      {team && manages && (
        <section class="card" aria-labelledby="invite-title">
          <h2 id="invite-title">Invite someone</h2>
          <form class="invite" onSubmit={invite}>
            <div class="field">
              <label for="invite-email">Email address</label>
              <input
                id="invite-email"
                type="email"
                required
                autoComplete="off"
                value={email}
                onInput={(e) => setEmail(e.currentTarget.value)}
              />
            </div>
            <div class="field">
              <label for="invite-role">Role</label>
              <select id="invite-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
                {grantable(team.role).map((option) => (
                  <option key={option} value={option}>
                    {ROLE_WORDS[option]}
                  </option>
                ))}
              </select>
            </div>
            <button type="submit" disabled={busy}>
              Send invitation
            </button>
          </form>
          <p class="hint">
            They get an email with a link that works once, for the person signed in with that address, and expires.
          </p>
          <h3>Pending invitations</h3>
          {invitations.length === 0 ? (
            <p class="empty">No pending invitations.</p>
          ) : (
            <TableScroll label="Pending invitations">
              <table class="invitations">
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Role</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {invitations.map((invitation) => (
                    <tr key={invitation.id}>
                      <td>{invitation.email}</td>
                      <td>{ROLE_WORDS[invitation.role] ?? invitation.role}</td>
                      <td>{formatDate(invitation.expiresAt)}</td>
                      <td>
                        <button
                          type="button"
                          class="secondary"
                          disabled={busy}
                          onClick={() =>
                            void act(
                              () => request(RevokeInvitation, { id: invitation.id }),
                              `The invitation to ${invitation.email} was revoked.`,
                            )
                          }
                        >
                          Revoke invitation to {invitation.email}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          )}
        </section>
      )}
    </>
  );
}
