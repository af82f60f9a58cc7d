// Copies a text to the clipboard and says so.
import { useState } from "preact/hooks";

export function CopyButton(props: { text: string; label?: string; targetId?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setState("copied");
    } catch {
      // No clipboard permission (or not a secure context): select it for Ctrl+C instead.
      const field = props.targetId ? (document.getElementById(props.targetId) as HTMLInputElement | null) : null;
      field?.select();
      setState("failed");
    }
  };
  return (
    <span class="copy">
      <button type="button" onClick={copy}>
        {props.label ?? "Copy"}
      </button>
      <span role="status" class="copy-status">
        {state === "copied" ? "Copied." : state === "failed" ? "Selected: press Ctrl+C (⌘C) to copy." : ""}
      </span>
    </span>
  );
}
