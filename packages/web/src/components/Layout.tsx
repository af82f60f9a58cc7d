// The signed-in frame: brand, navigation, workspace switcher with its credits, sign out.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { useLocation } from "preact-iso";
import { plural } from "../format";
import { chooseWorkspace, currentWorkspace, session, signOut } from "../state/session";
import { ConnectionBanner } from "./ConnectionBanner";

const NAV = [
  { href: "/", label: "Videos" },
  { href: "/billing", label: "Billing" },
  { href: "/tokens", label: "API tokens" },
  { href: "/team", label: "Team" },
];

export function Layout(props: { children: ComponentChildren }) {
  const { path, route } = useLocation();
  useFocusOnNavigation(path);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/">
          <Logo /> Hushcut
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => {
              const current = item.href === "/" ? path === "/" : path.startsWith(item.href);
              return (
                <li key={item.href}>
                  <a href={item.href} aria-current={current ? "page" : undefined}>
                    {item.label}
                  </a>
                </li>
              );
            })}
          </ul>
        </nav>
        <div class="account">
          <WorkspaceSwitcher />
          <button type="button" class="secondary" onClick={() => void signOut().finally(() => route("/"))}>
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}

function WorkspaceSwitcher() {
  const state = session.value;
  const current = currentWorkspace.value;
  if (state.status !== "signed-in" || !current) return null;
  const workspaces = state.me.workspaces;
  return (
    <div class="workspace">
      {workspaces.length > 1 ? (
        <>
          <label for="workspace-switcher">Workspace</label>
          <select id="workspace-switcher" value={current.id} onChange={(e) => chooseWorkspace(e.currentTarget.value)}>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </>
      ) : (
        <span class="workspace-name">
          <span class="visually-hidden">Workspace: </span>
          {current.name}
        </span>
      )}
      <a class="credits" href="/billing" aria-live="polite">
        {plural(current.credits, "credit")}
      </a>
    </div>
  );
}

/** After a client-side navigation, focus goes to the new page's heading (as a page load would). */
function useFocusOnNavigation(path: string): void {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = document.querySelector<HTMLElement>("main h1");
    heading?.focus();
  }, [path]);
}

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="7" fill="currentColor" />
      <path d="M6 16h3M11 9v14M15 12v8M23 10v12M27 16h-2" stroke="#fff" stroke-width="2.5" stroke-linecap="round" />
    </svg>
  );
}
