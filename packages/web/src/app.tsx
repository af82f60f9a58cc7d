// The app: who is signed in decides which pages exist; preact-iso routes the rest.
import { useEffect } from "preact/hooks";
import { LocationProvider, Route, Router, lazy, useLocation } from "preact-iso";
import { ErrorMessage } from "./components/ErrorMessage";
import { Layout } from "./components/Layout";
import { PublicLayout } from "./components/PublicLayout";
import { usePageTitle } from "./components/title";
import { Billing } from "./pages/Billing";
import { Dashboard } from "./pages/Dashboard";
import { InvitationPage } from "./pages/Invitation";
import { Landing } from "./pages/Landing";
import { NotFound } from "./pages/NotFound";
import { SignIn, safeNext } from "./pages/SignIn";
import { TeamPage } from "./pages/Team";
import { Tokens } from "./pages/Tokens";
import { loadSession, loadSignInMethods, session } from "./state/session";

/** The review editor and its waveform library load when a review is opened. */
const Review = lazy(() => import("./pages/Review").then((module) => module.Review));

/** Links the app routes itself; the server's own pages (sign-in with Google, GraphiQL,
 * downloads) are real navigations. */
export const APP_LINKS = /^\/(?!(auth|api|storage|webhooks|assets)\/|graphql\b)/;

export function App() {
  useEffect(() => {
    void loadSession();
    void loadSignInMethods();
  }, []);
  return (
    <LocationProvider scope={APP_LINKS}>
      <Pages />
    </LocationProvider>
  );
}

function Pages() {
  const state = session.value;
  if (state.status === "loading") {
    return (
      <p class="loading" role="status">
        Loading Hushcut…
      </p>
    );
  }
  if (state.status === "error") return <Unreachable />;
  if (state.status === "signed-out") {
    return (
      <Router>
        <Route path="/" component={Landing} />
        <Route default component={SignIn} />
      </Router>
    );
  }
  return (
    <Layout>
      <Router>
        <Route path="/" component={Dashboard} />
        <Route path="/billing" component={Billing} />
        <Route path="/billing/success" component={BillingSuccess} />
        <Route path="/billing/canceled" component={BillingCanceled} />
        <Route path="/jobs/:id/review" component={Review} />
        <Route path="/tokens" component={Tokens} />
        <Route path="/team" component={TeamPage} />
        <Route path="/invite/:token" component={InvitationPage} />
        <Route path="/signin" component={AfterSignIn} />
        <Route default component={NotFound} />
      </Router>
    </Layout>
  );
}

const BillingSuccess = () => <Billing returned="success" />;
const BillingCanceled = () => <Billing returned="canceled" />;

/** Signed in already (or just now): on to where the visitor was going. */
function AfterSignIn() {
  const { query, route } = useLocation();
  useEffect(() => route(safeNext(query.next), true), [query.next]);
  return null;
}

function Unreachable() {
  usePageTitle("Unreachable");
  const state = session.value;
  return (
    <PublicLayout>
      <h1 tabIndex={-1}>Hushcut cannot be reached</h1>
      <ErrorMessage error={state.status === "error" ? state.error : null} onRetry={() => void loadSession()} />
    </PublicLayout>
  );
}
