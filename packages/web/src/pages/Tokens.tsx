// API tokens of the workspace: create one (shown once, with a copy button) and revoke.
import { useEffect, useState } from "preact/hooks";
import { request } from "../api/client";
import { asApiError } from "../api/errors";
import { CopyButton } from "../components/CopyButton";
import { ErrorMessage } from "../components/ErrorMessage";
import { TableScroll } from "../components/TableScroll";
import { usePageTitle } from "../components/title";
import { formatDate } from "../format";
import { graphql, type ResultOf } from "../graphql";
import { currentWorkspace } from "../state/session";

const TokenFields = graphql(`
  fragment TokenFields on ApiToken {
    id
    name
    prefix
    createdAt
    lastUsedAt
    revokedAt
  }
`);

export const TokensQuery = graphql(
  `
    query Tokens($workspaceId: ID!) {
      workspace(id: $workspaceId) {
        id
        apiTokens {
          ...TokenFields
        }
      }
    }
  `,
  [TokenFields],
);

export const CreateToken = graphql(
  `
    mutation CreateToken($workspaceId: ID!, $name: String!) {
      createApiToken(workspaceId: $workspaceId, name: $name) {
        token
        apiToken {
          ...TokenFields
        }
      }
    }
  `,
  [TokenFields],
);

export const RevokeToken = graphql(
  `
    mutation RevokeToken($id: ID!) {
      revokeApiToken(id: $id) {
        ...TokenFields
      }
    }
  `,
  [TokenFields],
);

type Token = ResultOf<typeof TokenFields>;

export function Tokens() {
  usePageTitle("API tokens");
  const workspace = currentWorkspace.value;
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState<string | null>(null);

  const load = async (workspaceId: string) => {
    try {
      const data = await request(TokensQuery, { workspaceId });
      setTokens(data.workspace?.apiTokens ?? []);
      setError(null);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  useEffect(() => {
    setTokens(null);
    setCreated(null);
    if (workspace) void load(workspace.id);
  }, [workspace?.id]);
  if (!workspace) return <h1 tabIndex={-1}>API tokens</h1>;

  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await request(CreateToken, { workspaceId: workspace.id, name: name.trim() });
      setCreated({ name: data.createApiToken.apiToken.name, token: data.createApiToken.token });
      setTokens([...(tokens ?? []), data.createApiToken.apiToken]);
      setName("");
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (id: string) => {
    setBusy(true);
    setError(null);
    try {
      const data = await request(RevokeToken, { id });
      setTokens((tokens ?? []).map((t) => (t.id === id ? data.revokeApiToken : t)));
      setConfirming(null);
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>API tokens</h1>
      <p>
        Programs use a token to call the GraphQL API at <a href="/graphql">/graphql</a> (header{" "}
        <code>Authorization: Bearer &lt;token&gt;</code>). A token reaches only this workspace,{" "}
        <strong>{workspace.name}</strong>.
      </p>
      <ErrorMessage error={error} />
      <section class="card" aria-labelledby="new-token-title">
        <h2 id="new-token-title">Create a token</h2>
        <form class="inline-form" onSubmit={create}>
          <div class="field">
            <label for="token-name">Token name</label>
            <input
              id="token-name"
              required
              maxLength={100}
              value={name}
              placeholder="e.g. CI pipeline"
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </div>
          <button type="submit" disabled={busy}>
            Create token
          </button>
        </form>
        {created && (
          <div class="new-token" role="status">
            <p>
              <strong>Copy the token “{created.name}” now: it is shown only once.</strong>
            </p>
            <div class="row">
              <label for="new-token-value" class="visually-hidden">
                New API token
              </label>
              <input
                id="new-token-value"
                class="token-value"
                readOnly
                value={created.token}
                onFocus={(e) => e.currentTarget.select()}
              />
              <CopyButton text={created.token} targetId="new-token-value" label="Copy token" />
            </div>
            <button type="button" class="secondary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        )}
      </section>
      <section class="card" aria-labelledby="tokens-title">
        <h2 id="tokens-title">Tokens</h2>
        {tokens === null && !error && <p role="status">Loading tokens…</p>}
        {tokens !== null && tokens.length === 0 && <p>No tokens yet.</p>}
        {tokens !== null && tokens.length > 0 && (
          <TableScroll label="API tokens">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Starts with</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.map((token) => (
                  <tr key={token.id}>
                    <td>{token.name}</td>
                    <td>
                      <code>{token.prefix}…</code>
                    </td>
                    <td>{formatDate(token.createdAt)}</td>
                    <td>{token.lastUsedAt ? formatDate(token.lastUsedAt) : "Never"}</td>
                    <td>
                      <div class="actions">
                        {token.revokedAt ? (
                          <span class="muted">Revoked {formatDate(token.revokedAt)}</span>
                        ) : confirming === token.id ? (
                          <>
                            <button type="button" class="danger" disabled={busy} onClick={() => void revoke(token.id)}>
                              Revoke “{token.name}” now
                            </button>
                            <button type="button" class="secondary" onClick={() => setConfirming(null)}>
                              Keep
                            </button>
                          </>
                        ) : (
                          <button type="button" class="secondary" onClick={() => setConfirming(token.id)}>
                            Revoke<span class="visually-hidden"> {token.name}</span>
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
        <p class="hint">Revoking a token stops it at once, including a browser signed in with it.</p>
      </section>
    </>
  );
}
