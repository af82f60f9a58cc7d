// Credits: the balance, credit packs through Stripe Checkout, and the credit history.
import { useEffect, useState } from "preact/hooks";
import { request } from "../api/client";
import { ErrorMessage } from "../components/ErrorMessage";
import { TableScroll } from "../components/TableScroll";
import { usePageTitle } from "../components/title";
import { formatDate, formatMoney, plural } from "../format";
import { graphql, type ResultOf } from "../graphql";
import { asApiError } from "../api/errors";
import { currentWorkspace, refreshWorkspaces } from "../state/session";
import { readStored, removeStored, writeStored } from "../state/stored";

export const BillingQuery = graphql(`
  query Billing($workspaceId: ID!) {
    creditPacks {
      name
      credits
    }
    workspace(id: $workspaceId) {
      id
      credits
      role
      payments {
        id
        credits
        amount
        currency
        createdAt
      }
    }
  }
`);

export const Checkout = graphql(`
  mutation Checkout($workspaceId: ID!, $pack: String) {
    createCheckoutSession(workspaceId: $workspaceId, pack: $pack) {
      url
    }
  }
`);

export const LedgerQuery = graphql(`
  query Ledger($workspaceId: ID!, $after: String) {
    workspace(id: $workspaceId) {
      id
      ledger(first: 20, after: $after) {
        nodes {
          id
          amount
          reason
          note
          balanceAfter
          createdAt
          jobId
          job {
            id
            filename
          }
          payment {
            id
            amount
            currency
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

type BillingData = ResultOf<typeof BillingQuery>;
type LedgerEntry = NonNullable<ResultOf<typeof LedgerQuery>["workspace"]>["ledger"]["nodes"][number];

const REASON_WORDS: Record<string, string> = {
  STARTER: "Welcome credits",
  JOB_CHARGE: "Video processed",
  JOB_REFUND: "Refund",
  PAYMENT: "Credits bought",
  ADJUSTMENT: "Adjustment",
};

/** What the page knew before sending the buyer to Stripe, to tell the payment on return. */
type PendingCheckout = { workspaceId: string; payments: number; at: number };
const PENDING_KEY = "hushcut.checkout";
/** How long to wait, on return, for Stripe's webhook to add the credits. */
const WEBHOOK_WAIT_MS = 90_000;
const POLL_MS = 2_000;

export function Billing(props: { returned?: "success" | "canceled" }) {
  usePageTitle("Billing");
  const workspace = currentWorkspace.value;
  const [data, setData] = useState<BillingData | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [buying, setBuying] = useState<string | null>(null);
  const [arrival, setArrival] = useState<"waiting" | "arrived" | "late" | null>(null);

  const load = async (workspaceId: string) => {
    try {
      const result = await request(BillingQuery, { workspaceId });
      setData(result);
      setError(null);
      return result;
    } catch (failure) {
      setError(asApiError(failure));
      return null;
    }
  };

  useEffect(() => {
    if (!workspace) return;
    let stopped = false;
    void (async () => {
      const first = await load(workspace.id);
      if (props.returned !== "success") return;
      const pending = readPending();
      if (!pending || pending.workspaceId !== workspace.id) return;
      // Stripe sends the buyer back before (or while) its webhook adds the credits.
      setArrival("waiting");
      const deadline = Date.now() + WEBHOOK_WAIT_MS;
      let latest = first;
      while (!stopped && Date.now() < deadline) {
        if (latest?.workspace && latest.workspace.payments.length > pending.payments) {
          setArrival("arrived");
          clearPending();
          void refreshWorkspaces();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        latest = await load(workspace.id);
      }
      if (!stopped) setArrival("late");
    })();
    return () => {
      stopped = true;
    };
  }, [workspace?.id, props.returned]);

  if (!workspace) return <h1 tabIndex={-1}>Billing</h1>;

  const buy = async (pack: string) => {
    setBuying(pack);
    setError(null);
    try {
      const result = await request(Checkout, { workspaceId: workspace.id, pack });
      writePending({
        workspaceId: workspace.id,
        payments: data?.workspace?.payments.length ?? 0,
        at: Date.now(),
      });
      window.location.assign(result.createCheckoutSession.url);
    } catch (failure) {
      setError(asApiError(failure));
      setBuying(null);
    }
  };

  const packs = data?.creditPacks ?? [];
  const payments = data?.workspace?.payments ?? [];
  const credits = data?.workspace?.credits ?? workspace.credits;
  return (
    <>
      <h1 tabIndex={-1}>Billing</h1>
      {props.returned === "canceled" && (
        <p class="notice" role="status">
          Checkout was canceled. Nothing was charged.
        </p>
      )}
      {arrival === "waiting" && (
        <p class="notice" role="status">
          Thank you! Waiting for the payment to be confirmed…
        </p>
      )}
      {arrival === "arrived" && (
        <p class="notice success" role="status">
          Payment received: the credits were added.
        </p>
      )}
      {arrival === "late" && (
        <p class="notice" role="status">
          The payment has not been confirmed yet. The credits appear here as soon as it is; reload the page in a minute.
        </p>
      )}
      <section class="card" aria-labelledby="balance-title">
        <h2 id="balance-title">Balance</h2>
        <p class="balance">
          <strong>{plural(credits, "credit")}</strong> in {workspace.name}. Each video processed uses one credit; failed
          and canceled jobs give it back.
        </p>
      </section>
      <ErrorMessage error={error} onRetry={() => void load(workspace.id)} />
      <section class="card" aria-labelledby="buy-title">
        <h2 id="buy-title">Buy credits</h2>
        {data && packs.length === 0 && <p>Payments are not set up on this server.</p>}
        {packs.length > 0 && (
          <>
            <p>You pay on Stripe's checkout page and come back here.</p>
            <ul class="packs">
              {packs.map((pack) => (
                <li key={pack.name}>
                  <button type="button" disabled={buying !== null} onClick={() => void buy(pack.name)}>
                    {buying === pack.name ? "Opening checkout…" : `Buy ${plural(pack.credits, "credit")}`}
                  </button>
                  <span class="muted"> ({pack.name} pack)</span>
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <Ledger workspaceId={workspace.id} version={`${credits}:${payments.length}`} />
    </>
  );
}

function readPending(): PendingCheckout | null {
  try {
    const pending = JSON.parse(readStored(PENDING_KEY) ?? "null") as PendingCheckout | null;
    return pending && Date.now() - pending.at < 24 * 3600 * 1000 ? pending : null;
  } catch {
    return null;
  }
}

function writePending(pending: PendingCheckout): void {
  writeStored(PENDING_KEY, JSON.stringify(pending));
}

function clearPending(): void {
  removeStored(PENDING_KEY);
}

/** The credit movements, newest first, a page at a time; ``version`` changes reload it. */
function Ledger(props: { workspaceId: string; version: string }) {
  const [entries, setEntries] = useState<LedgerEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const load = async (after: string | null) => {
    setLoading(true);
    try {
      const data = await request(LedgerQuery, { workspaceId: props.workspaceId, after });
      const page = data.workspace?.ledger;
      setEntries((known) => [...(after && known ? known : []), ...(page?.nodes ?? [])]);
      setCursor(page?.pageInfo.endCursor ?? null);
      setMore(page?.pageInfo.hasNextPage ?? false);
      setError(null);
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, [props.workspaceId, props.version]);
  return (
    <section class="card" aria-labelledby="ledger-title">
      <h2 id="ledger-title">Credit history</h2>
      <ErrorMessage error={error} onRetry={() => void load(null)} />
      {entries === null && !error && <p role="status">Loading the history…</p>}
      {entries && entries.length === 0 && <p>No credit movements yet.</p>}
      {entries && entries.length > 0 && (
        <TableScroll label="Credit history">
          <table class="ledger">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">What</th>
                <th scope="col">Credits</th>
                <th scope="col">Balance</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td>{formatDate(entry.createdAt)}</td>
                  <td>{describeEntry(entry)}</td>
                  <td class={entry.amount < 0 ? "taken" : "added"}>
                    {entry.amount > 0 ? `+${entry.amount}` : `${entry.amount}`}
                  </td>
                  <td>{entry.balanceAfter}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {more && (
        <button type="button" class="secondary" disabled={loading} onClick={() => void load(cursor)}>
          {loading ? "Loading…" : "Show older"}
        </button>
      )}
    </section>
  );
}

function describeEntry(entry: LedgerEntry): string {
  const reason = REASON_WORDS[entry.reason] ?? entry.reason;
  if (entry.payment) return `${reason} (${formatMoney(entry.payment.amount, entry.payment.currency)})`;
  if (entry.job) return `${reason}: ${entry.job.filename}`;
  if (entry.jobId) return `${reason}: a deleted video`;
  return entry.note ? `${reason}: ${entry.note}` : reason;
}
