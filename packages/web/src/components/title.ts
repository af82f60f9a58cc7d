// The document title of each page ("Billing · Hushcut"), for tabs, history and screen readers.
import { useEffect } from "preact/hooks";

export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Hushcut` : "Hushcut";
  }, [title]);
}
