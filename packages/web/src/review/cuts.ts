// The review editor's model: the analysis's keep list seen as cuts (the gaps between kept
// segments), edited by the person, and turned back into the segments renderJob takes.

export type Segment = { start: number; end: number; speed: number };

/** A range the render leaves out, unless it is switched off (then it is kept). */
export type Cut = { id: string; start: number; end: number; enabled: boolean };

/** Shorter than this, a piece is left out of what is sent (the server cuts to the frame). */
export const MIN_PIECE_S = 0.01;

/** Round to the millisecond: what a person reads and what is sent. */
export function ms(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** The gaps between ``segments`` (ordered, not overlapping) inside ``[0, duration]``. */
export function cutsFromSegments(segments: readonly Segment[], duration: number): Cut[] {
  const cuts: Cut[] = [];
  let at = 0;
  for (const segment of segments) {
    if (segment.start - at > MIN_PIECE_S)
      cuts.push({ id: `cut-${cuts.length + 1}`, start: at, end: segment.start, enabled: true });
    at = Math.max(at, segment.end);
  }
  if (duration - at > MIN_PIECE_S) {
    cuts.push({ id: `cut-${cuts.length + 1}`, start: ms(at), end: ms(duration), enabled: true });
  }
  return cuts;
}

/** The switched-on cuts, clamped to the recording, ordered and merged where they overlap. */
export function activeCuts(cuts: readonly Cut[], duration: number): { start: number; end: number }[] {
  const ranges = cuts
    .filter((cut) => cut.enabled)
    .map((cut) => ({
      start: Math.max(0, Math.min(cut.start, cut.end)),
      end: Math.min(duration, Math.max(cut.start, cut.end)),
    }))
    .filter((range) => range.end - range.start > 0)
    .sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/**
 * What renderJob renders for these cuts: everything outside the switched-on cuts. A kept
 * stretch the analysis planned at another speed (a plugin's speed-up) keeps that speed;
 * anything else plays at normal speed.
 */
export function segmentsForCuts(cuts: readonly Cut[], planned: readonly Segment[], duration: number): Segment[] {
  // The plan's speeds over the whole recording: its segments, and speed 1 between them.
  const speeds: Segment[] = [];
  let at = 0;
  for (const segment of planned) {
    if (segment.start > at) speeds.push({ start: at, end: segment.start, speed: 1 });
    speeds.push({ ...segment });
    at = segment.end;
  }
  if (at < duration) speeds.push({ start: at, end: duration, speed: 1 });

  const kept: { start: number; end: number }[] = [];
  at = 0;
  for (const cut of activeCuts(cuts, duration)) {
    if (cut.start > at) kept.push({ start: at, end: cut.start });
    at = cut.end;
  }
  if (at < duration) kept.push({ start: at, end: duration });

  const pieces: Segment[] = [];
  for (const keep of kept) {
    for (const part of speeds) {
      const start = Math.max(keep.start, part.start);
      const end = Math.min(keep.end, part.end);
      if (end - start < MIN_PIECE_S) continue;
      const last = pieces[pieces.length - 1];
      if (last && last.speed === part.speed && Math.abs(last.end - start) < 1e-9) last.end = end;
      else pieces.push({ start, end, speed: part.speed });
    }
  }
  return pieces.map((piece) => ({ start: ms(piece.start), end: ms(piece.end), speed: piece.speed }));
}

/** Seconds the output lasts for ``segments``. */
export function outputLength(segments: readonly Segment[]): number {
  return segments.reduce((sum, segment) => sum + (segment.end - segment.start) / segment.speed, 0);
}

/** Where the preview plays from at ``time``: past the end of a cut it is in, else ``time``. */
export function skipCut(time: number, cuts: readonly { start: number; end: number }[]): number {
  for (const cut of cuts) {
    if (time >= cut.start && time < cut.end) return cut.end;
  }
  return time;
}
