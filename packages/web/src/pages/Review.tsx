// The review editor: the whole recording's waveform (wavesurfer.js, fed with the job's
// peaks, the uploaded video as its media) with the cuts as regions to drag, resize, add,
// switch off or remove; a preview that skips what will be cut; Render.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import type WaveSurfer from "wavesurfer.js";
import type RegionsPlugin from "wavesurfer.js/dist/plugins/regions.esm.js";
import type { Region } from "wavesurfer.js/dist/plugins/regions.esm.js";
import { request } from "../api/client";
import { ApiError, asApiError } from "../api/errors";
import { ErrorMessage } from "../components/ErrorMessage";
import { usePageTitle } from "../components/title";
import { formatDate, formatDuration, percentRemoved, statusWord } from "../format";
import { graphql, type ResultOf } from "../graphql";
import {
  type Cut,
  type Segment,
  activeCuts,
  cutsFromSegments,
  ms,
  outputLength,
  segmentsForCuts,
  skipCut,
} from "../review/cuts";
import { JobFields, upsertJob } from "../state/jobs";
import { refreshWorkspaces } from "../state/session";

export const ReviewJob = graphql(`
  query ReviewJob($id: ID!) {
    job(id: $id) {
      id
      workspaceId
      status
      filename
      inputUrl
      inputExpired
      reviewExpiresAt
      timeline {
        start
        end
        speed
      }
      analysis {
        durationS
        segments {
          start
          end
          speed
        }
        peaksUrl
      }
    }
  }
`);

export const RenderJob = graphql(
  `
    mutation RenderJob($jobId: ID!, $segments: [SegmentInput!]) {
      renderJob(jobId: $jobId, segments: $segments) {
        ...JobFields
      }
    }
  `,
  [JobFields],
);

type ReviewData = NonNullable<ResultOf<typeof ReviewJob>["job"]>;
type Peaks = { duration: number; peaksPerSecond: number; peaks: number[][] };

const CUT_COLOR = "rgba(200, 40, 40, 0.28)";
const KEPT_COLOR = "rgba(90, 90, 90, 0.12)";
/** A cut added with the button: this long, from the playback position. */
const NEW_CUT_S = 1;

/** The style nonce of this page's response (the policy admits wavesurfer's styles by it). */
function styleNonce(): string | undefined {
  return document.querySelector<HTMLMetaElement>('meta[name="style-nonce"]')?.content || undefined;
}

export function Review() {
  const { params } = useRoute();
  const jobId = params.id ?? "";
  const { route } = useLocation();
  const [job, setJob] = useState<ReviewData | null>(null);
  const [peaks, setPeaks] = useState<Peaks | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [cuts, setCuts] = useState<Cut[]>([]);
  const [edited, setEdited] = useState(false);
  const [skipping, setSkipping] = useState(true);
  const [ready, setReady] = useState(false);
  const [rendering, setRendering] = useState(false);
  const [renderError, setRenderError] = useState<unknown>(null);
  const [position, setPosition] = useState(0);
  usePageTitle(job ? `Review ${job.filename}` : "Review cuts");

  const video = useRef<HTMLVideoElement>(null);
  const waveform = useRef<HTMLDivElement>(null);
  const surfer = useRef<WaveSurfer | null>(null);
  const regions = useRef<RegionsPlugin | null>(null);
  const byId = useRef(new Map<string, Region>());
  /** Set while the page adds a region itself (region-created then is not a drawn cut). */
  const adding = useRef(false);
  const nextId = useRef(1);
  // The wavesurfer callbacks read the latest state through these.
  const cutsNow = useRef<Cut[]>([]);
  cutsNow.current = cuts;
  const skippingNow = useRef(true);
  skippingNow.current = skipping;

  const planned: Segment[] = job ? (job.timeline ?? job.analysis?.segments ?? []) : [];
  const duration = job?.analysis?.durationS ?? 0;

  const load = async () => {
    setError(null);
    try {
      const data = await request(ReviewJob, { id: jobId });
      const found = data.job;
      if (!found) throw new ApiError("NOT_FOUND", "no such job");
      if (!found.analysis || !found.inputUrl) {
        throw new ApiError(
          "CONFLICT",
          found.inputExpired
            ? "the uploaded video was deleted (its retention ended): upload it again to edit its cuts"
            : `this video cannot be reviewed now (${statusWord(found.status).toLowerCase()})`,
        );
      }
      const answer = await fetch(found.analysis.peaksUrl);
      if (!answer.ok)
        throw new ApiError("STORAGE_UNAVAILABLE", `the waveform could not be read (HTTP ${answer.status})`);
      const doc = (await answer.json()) as Peaks;
      const initial = cutsFromSegments(found.timeline ?? found.analysis.segments, found.analysis.durationS);
      nextId.current = initial.length + 1;
      setCuts(initial);
      setEdited(false);
      setPeaks(doc);
      setJob(found);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };

  useEffect(() => {
    void load();
  }, [jobId]);

  // The waveform, once the job, its peaks and the video element are there.
  useEffect(() => {
    if (!job || !peaks || !video.current || !waveform.current) return;
    let destroyed = false;
    void (async () => {
      const [{ default: WaveSurferClass }, { default: Regions }] = await Promise.all([
        import("wavesurfer.js"),
        import("wavesurfer.js/dist/plugins/regions.esm.js"),
      ]);
      if (destroyed || !video.current || !waveform.current) return;
      const plugin = Regions.create();
      const ws = WaveSurferClass.create({
        container: waveform.current,
        media: video.current,
        peaks: peaks.peaks,
        duration: peaks.duration || duration,
        height: 120,
        waveColor: "#6b7280",
        progressColor: "#1d4ed8",
        cursorColor: "#111827",
        normalize: true,
        plugins: [plugin],
        cspNonce: styleNonce(),
      });
      surfer.current = ws;
      regions.current = plugin;
      ws.on("ready", () => {
        for (const cut of cutsNow.current) addRegion(cut);
        plugin.enableDragSelection({ color: CUT_COLOR });
        setReady(true);
      });
      ws.on("timeupdate", (time) => {
        setPosition(time);
        if (!skippingNow.current || !ws.isPlaying()) return;
        const to = skipCut(time, activeCuts(cutsNow.current, ws.getDuration()));
        if (to === time) return;
        if (to >= ws.getDuration() - 0.01) ws.pause();
        ws.setTime(to);
      });
      plugin.on("region-created", (region) => {
        if (adding.current) return;
        // Drawn on the waveform with the mouse: a new cut.
        const id = `cut-${nextId.current++}`;
        region.setOptions({ id, content: label(id) });
        byId.current.set(id, region);
        watch(region);
        setCuts((now) => [...now, { id, start: ms(region.start), end: ms(region.end), enabled: true }]);
        setEdited(true);
      });
    })();
    return () => {
      destroyed = true;
      surfer.current?.destroy();
      surfer.current = null;
      regions.current = null;
      byId.current.clear();
      setReady(false);
    };
  }, [job, peaks]);

  function label(id: string): HTMLElement {
    const tag = document.createElement("span");
    tag.className = "region-label";
    tag.textContent = id.replace("cut-", "");
    return tag;
  }

  function watch(region: Region): void {
    region.on("update-end", () => {
      setCuts((now) =>
        now.map((cut) => (cut.id === region.id ? { ...cut, start: ms(region.start), end: ms(region.end) } : cut)),
      );
      setEdited(true);
    });
  }

  function addRegion(cut: Cut): void {
    const plugin = regions.current;
    if (!plugin) return;
    adding.current = true;
    let region: Region;
    try {
      region = plugin.addRegion({
        id: cut.id,
        start: cut.start,
        end: cut.end,
        color: cut.enabled ? CUT_COLOR : KEPT_COLOR,
        content: label(cut.id),
        drag: true,
        resize: true,
      });
    } finally {
      adding.current = false;
    }
    byId.current.set(cut.id, region);
    watch(region);
  }

  function change(id: string, patch: Partial<Cut>): void {
    setCuts((now) => now.map((cut) => (cut.id === id ? { ...cut, ...patch } : cut)));
    setEdited(true);
    const region = byId.current.get(id);
    if (!region) return;
    const options: Parameters<Region["setOptions"]>[0] = {};
    if (patch.start !== undefined) options.start = patch.start;
    if (patch.end !== undefined) options.end = patch.end;
    if (patch.enabled !== undefined) options.color = patch.enabled ? CUT_COLOR : KEPT_COLOR;
    region.setOptions(options);
  }

  function remove(id: string): void {
    setCuts((now) => now.filter((cut) => cut.id !== id));
    setEdited(true);
    byId.current.get(id)?.remove();
    byId.current.delete(id);
  }

  function addAtPosition(): void {
    const start = ms(Math.min(position, Math.max(0, duration - NEW_CUT_S)));
    const cut: Cut = {
      id: `cut-${nextId.current++}`,
      start,
      end: ms(Math.min(duration, start + NEW_CUT_S)),
      enabled: true,
    };
    setCuts((now) => [...now, cut]);
    setEdited(true);
    addRegion(cut);
  }

  const segments = useMemo(() => segmentsForCuts(cuts, planned, duration), [cuts, job]);
  const length = outputLength(segments);
  const removed = percentRemoved(duration, length);
  const problem =
    segments.length === 0
      ? "Everything would be cut: switch off or shorten a cut to keep something."
      : segments.length > 10_000
        ? "More than 10,000 pieces: remove some cuts."
        : null;
  const reEdit = job?.status === "COMPLETED";

  const render = async () => {
    if (!job || problem) return;
    setRendering(true);
    setRenderError(null);
    try {
      // Untouched in review, the plan as analyzed (null); a re-edit starts from what the
      // output was rendered from, so it sends that even when nothing changed.
      const data = await request(RenderJob, { jobId: job.id, segments: edited || job.timeline ? segments : null });
      upsertJob(data.renderJob);
      if (reEdit) void refreshWorkspaces();
      route("/");
    } catch (failure) {
      setRenderError(asApiError(failure));
      setRendering(false);
    }
  };

  if (error) {
    return (
      <>
        <h1 tabIndex={-1}>Review cuts</h1>
        <ErrorMessage error={error} onRetry={() => void load()} />
        <p>
          <a href="/">Back to your videos</a>
        </p>
      </>
    );
  }
  if (!job) {
    return (
      <>
        <h1 tabIndex={-1}>Review cuts</h1>
        <p role="status">Loading the waveform…</p>
      </>
    );
  }
  const sorted = [...cuts].sort((a, b) => a.start - b.start);
  return (
    <>
      <h1 tabIndex={-1}>Review cuts: {job.filename}</h1>
      <p class="hint">
        Red stretches are cut out. Drag a cut to move it or its edges to resize it, drag across the waveform to add one,
        or edit the times below. A cut switched off is kept.
        {job.status === "REVIEW" && job.reviewExpiresAt && (
          <> Render before {formatDate(job.reviewExpiresAt)}, or the review ends and the credit comes back.</>
        )}
      </p>
      <section class="card review" aria-labelledby="preview-title">
        <h2 id="preview-title">Preview</h2>
        <video
          ref={video}
          src={job.inputUrl ?? undefined}
          controls
          preload="auto"
          playsInline
          class="preview"
          aria-label={`Preview of ${job.filename}`}
        />
        <div ref={waveform} class="waveform" data-ready={ready ? "true" : "false"} aria-hidden="true" />
        {!ready && <p role="status">Drawing the waveform…</p>}
        <div class="row review-tools">
          <label class="check">
            <input type="checkbox" checked={skipping} onChange={(e) => setSkipping(e.currentTarget.checked)} />
            Skip the cuts while playing
          </label>
          <button type="button" class="secondary" onClick={addAtPosition} disabled={!ready}>
            Add a cut at {formatDuration(position)}
          </button>
        </div>
      </section>
      <section class="card" aria-labelledby="cuts-title">
        <h2 id="cuts-title">Cuts</h2>
        <p role="status" class="summary">
          Output {formatDuration(length)} of {formatDuration(duration)}
          {removed !== null && <> ({removed}% removed)</>}, {sorted.filter((cut) => cut.enabled).length} of{" "}
          {sorted.length} cuts on.
        </p>
        {sorted.length === 0 ? (
          <p class="empty">No cuts: the whole recording is kept. Add one above.</p>
        ) : (
          <ol class="cuts" aria-label="Cuts">
            {sorted.map((cut) => {
              const n = cut.id.replace("cut-", "");
              return (
                <li key={cut.id} class={cut.enabled ? "cut" : "cut off"} data-cut={cut.id}>
                  <span class="cut-number" aria-hidden="true">
                    {n}
                  </span>
                  {(["start", "end"] as const).map((edge) => (
                    <label key={edge}>
                      {edge === "start" ? "Start" : "End"} of cut {n} (s)
                      <input
                        type="number"
                        step="0.01"
                        min={0}
                        max={duration}
                        value={cut[edge]}
                        onChange={(e) => change(cut.id, { [edge]: clamp(Number(e.currentTarget.value), duration) })}
                      />
                    </label>
                  ))}
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={cut.enabled}
                      onChange={(e) => change(cut.id, { enabled: e.currentTarget.checked })}
                    />
                    Cut {n} on
                  </label>
                  <button type="button" class="secondary" onClick={() => remove(cut.id)}>
                    Remove cut {n}
                  </button>
                </li>
              );
            })}
          </ol>
        )}
      </section>
      <div class="actions">
        <button
          type="button"
          onClick={() => void render()}
          disabled={rendering || problem !== null}
          aria-describedby="render-cost"
        >
          {rendering ? "Sending…" : "Render"}
        </button>
        <span id="render-cost" class="muted">
          {reEdit ? "Rendering this edit again uses one credit." : "Rendering is included in the credit already paid."}
        </span>
        <a href="/">Back to your videos</a>
      </div>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <ErrorMessage error={renderError} />
    </>
  );
}

function clamp(value: number, duration: number): number {
  return Number.isFinite(value) ? ms(Math.max(0, Math.min(duration, value))) : 0;
}
