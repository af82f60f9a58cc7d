// GraphiQL at GET /graphql, bundled here so it works offline (no CDN). Queries use the
// browser's session cookie (with its CSRF token) unless an Authorization header is set
// in the headers pane; subscriptions run over graphql-ws on the same path.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/graphiql.min.css";
import "./page.css";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
const csrf = cookie("hushcut_csrf");
const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  subscriptionUrl: `${scheme}//${window.location.host}/graphql`,
  headers: csrf ? { "X-CSRF-Token": csrf } : {},
});

const DEFAULT_QUERY = `# The Hushcut GraphQL API (docs: docs/api.md in the repository).
# Signed in in this browser? Queries run as you. Otherwise add a header:
#   {"Authorization": "Bearer hc_..."}
query Me {
  me {
    email
    workspaces {
      id
      name
      credits
    }
  }
}
`;

const root = document.getElementById("graphiql");
if (root) {
  root.textContent = "";
  createRoot(root).render(
    createElement(GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      shouldPersistHeaders: false,
      isHeadersEditorEnabled: true,
    }),
  );
}
