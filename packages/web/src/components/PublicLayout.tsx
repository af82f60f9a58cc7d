// The frame of pages for signed-out visitors.
import type { ComponentChildren } from "preact";
import { Logo } from "./Layout";

export function PublicLayout(props: { children: ComponentChildren; signInLink?: boolean }) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/">
          <Logo /> Hushcut
        </a>
        {props.signInLink && (
          <nav aria-label="Account">
            <a class="button" href="/signin">
              Sign in
            </a>
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
      <footer class="footer">
        <p>
          Programs use the same API: <a href="/graphql">GraphQL at /graphql</a>.
        </p>
      </footer>
    </>
  );
}
