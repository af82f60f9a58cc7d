// A progress bar for people and assistive technology: role="progressbar" with its value.

export function ProgressBar(props: { value: number; label: string; detail?: string | null }) {
  const percent = Math.round(Math.min(1, Math.max(0, props.value)) * 100);
  return (
    <div
      class="progress"
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      aria-valuetext={props.detail ? `${percent}% (${props.detail})` : `${percent}%`}
    >
      <div class="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}
