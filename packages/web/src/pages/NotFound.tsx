import { usePageTitle } from "../components/title";

export function NotFound() {
  usePageTitle("Page not found");
  return (
    <>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        There is no page at this address. <a href="/">Go to your videos</a>.
      </p>
    </>
  );
}
