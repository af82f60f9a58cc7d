// Says when the live-updates socket was lost, while it reconnects, and when it is back.
import { useEffect, useState } from "preact/hooks";
import { liveRestoredAt, liveStatus } from "../api/live";

const RESTORED_SHOWN_MS = 6_000;

export function ConnectionBanner() {
  const status = liveStatus.value;
  const restoredAt = liveRestoredAt.value;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (restoredAt === null) return;
    setNow(Date.now());
    const timer = setTimeout(() => setNow(Date.now()), RESTORED_SHOWN_MS);
    return () => clearTimeout(timer);
  }, [restoredAt]);
  let message: string | null = null;
  let tone = "info";
  if (status === "reconnecting") {
    message = "Live updates were interrupted. Reconnecting…";
    tone = "warning";
  } else if (status === "connected" && restoredAt !== null && now - restoredAt < RESTORED_SHOWN_MS) {
    message = "Reconnected: live updates are back.";
  }
  // The live region stays in the page so screen readers announce changes to its text.
  return (
    <div class={`banner ${message ? tone : "hidden"}`} role="status" aria-live="polite">
      {message}
    </div>
  );
}
