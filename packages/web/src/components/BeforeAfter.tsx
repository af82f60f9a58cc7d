// The landing page's example: a real 60-second talk before and after Hushcut.

/** Kept stretches (seconds) of the 60 s sample talk, as `hushcut cut` plans them by default. */
export const SAMPLE_DURATION_S = 60;
export const SAMPLE_KEPT: [number, number][] = [
  [0.82, 7.78],
  [8.71, 16.57],
  [18.71, 24.1],
  [25.15, 27.98],
  [29.41, 33.42],
  [34.84, 39.71],
  [42.3, 48.2],
  [49.87, 54.06],
  [55.53, 57.65],
];

const WIDTH = 600;
const SCALE = WIDTH / SAMPLE_DURATION_S;

export function BeforeAfter() {
  const kept = SAMPLE_KEPT.reduce((sum, [start, end]) => sum + end - start, 0);
  const removed = Math.round((1 - kept / SAMPLE_DURATION_S) * 100);
  let offset = 0;
  const joined = SAMPLE_KEPT.map(([start, end]) => {
    const at = offset;
    offset += end - start;
    return [at, end - start] as const;
  });
  return (
    <figure class="before-after">
      <svg viewBox={`0 0 ${WIDTH} 118`} role="img" aria-labelledby="before-after-caption">
        <text x="0" y="14" class="ba-label">
          Before: 1:00
        </text>
        <rect x="0" y="22" width={WIDTH} height="30" rx="4" class="ba-silence" />
        {SAMPLE_KEPT.map(([start, end]) => (
          <rect key={start} x={start * SCALE} y="22" width={(end - start) * SCALE} height="30" class="ba-speech" />
        ))}
        <text x="0" y="80" class="ba-label">
          After: {Math.floor(kept / 60)}:{String(Math.round(kept % 60)).padStart(2, "0")}
        </text>
        {joined.map(([at, length]) => (
          <rect key={at} x={at * SCALE} y="88" width={length * SCALE - 1} height="30" class="ba-speech" />
        ))}
      </svg>
      <figcaption id="before-after-caption">
        A 60-second talk with its pauses (light) cut out: {Math.round(kept)} seconds of speech are left, {removed}%
        shorter, with a little margin kept around every word.
      </figcaption>
    </figure>
  );
}
