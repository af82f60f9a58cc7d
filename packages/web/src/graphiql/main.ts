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

/** CodeMirror's input areas carry no label; name each after the editor it belongs to, and
 * let the keyboard reach the scrolling part of each editor. */
function labelEditors(): void {
  for (const editor of document.querySelectorAll<HTMLElement>(".CodeMirror")) {
    const label = editorLabel(editor);
    const input = editor.querySelector("textarea");
    if (input && !input.hasAttribute("aria-label")) input.setAttribute("aria-label", label);
    const scroller = editor.querySelector<HTMLElement>(".CodeMirror-scroll");
    // CodeMirror makes it unreachable (tabindex -1); a long query must scroll by keyboard.
    if (scroller && scroller.tabIndex < 0) {
      scroller.tabIndex = 0;
      scroller.setAttribute("role", "region");
      scroller.setAttribute("aria-label", `${label}, scrolling area`);
    }
  }
}

function editorLabel(editor: HTMLElement): string {
  if (editor.closest(".graphiql-query-editor")) return "Query";
  if (editor.closest(".result-window")) return "Result";
  const tool = editor.closest(".graphiql-editor-tool");
  if (tool) {
    const editors = Array.from(tool.querySelectorAll(":scope > .graphiql-editor"));
    const index = editors.findIndex((element) => element.contains(editor));
    return index === 1 ? "Request headers (JSON)" : "Variables (JSON)";
  }
  return "Editor";
}

new MutationObserver(labelEditors).observe(document.body, { childList: true, subtree: true });

const root = document.getElementById("graphiql");
if (root) {
  root.textContent = "";
  createRoot(root).render(
    createElement(GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      shouldPersistHeaders: false,
      forcedTheme: "light",
      isHeadersEditorEnabled: true,
    }),
  );
}
