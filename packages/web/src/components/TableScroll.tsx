// A table that scrolls sideways on narrow screens; the keyboard can scroll it too.
import type { ComponentChildren } from "preact";

export function TableScroll(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}
