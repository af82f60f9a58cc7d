// Drop a file or choose one: it is uploaded at once with the workspace's options.
import { useEffect, useState } from "preact/hooks";
import { formatBytes } from "../format";
import { type ChosenOptions, storedOptions, storeOptions, toInput } from "../state/options";
import {
  type UploadItem,
  abortUploadItem,
  discardUpload,
  dismissUpload,
  resumeUploadItem,
  startUpload,
  uploads,
} from "../state/uploads";
import { ErrorMessage } from "./ErrorMessage";
import { OptionsPanel } from "./OptionsPanel";
import { ProgressBar } from "./ProgressBar";

export function UploadPanel(props: { workspaceId: string }) {
  const [options, setOptions] = useState<ChosenOptions>(() => storedOptions(props.workspaceId));
  const [dragging, setDragging] = useState(false);
  const [review, setReview] = useState(false);
  useEffect(() => setOptions(storedOptions(props.workspaceId)), [props.workspaceId]);

  const changeOptions = (value: ChosenOptions) => {
    setOptions(value);
    storeOptions(props.workspaceId, value);
  };
  const send = (files: FileList | null | undefined) => {
    for (const file of Array.from(files ?? []))
      void startUpload(props.workspaceId, file, { options: toInput(options), review });
  };

  return (
    <section class="card upload" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a recording</h2>
      <div
        class={`dropzone${dragging ? " dragging" : ""}`}
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
        }}
        onDragLeave={(e) => {
          if (e.currentTarget === e.target) setDragging(false);
        }}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          send(e.dataTransfer?.files);
        }}
      >
        <p>
          Drag a video or audio file here, or choose one. It is uploaded and processed at once (one credit)
          {review ? ", and its cuts wait for your review." : "."}
        </p>
        <label for="video-file" class="file-label">
          Video file
        </label>
        <input
          id="video-file"
          type="file"
          accept="video/*,audio/*,.mkv,.mov,.mp4,.webm,.m4a,.mp3,.wav"
          multiple
          onChange={(e) => {
            send(e.currentTarget.files);
            e.currentTarget.value = "";
          }}
        />
      </div>
      <label class="check">
        <input type="checkbox" checked={review} onChange={(e) => setReview(e.currentTarget.checked)} />
        Review cuts before rendering
      </label>
      <OptionsPanel value={options} onChange={changeOptions} />
      <UploadList workspaceId={props.workspaceId} />
    </section>
  );
}

function UploadList(props: { workspaceId: string }) {
  const items = uploads.value.filter((item) => item.workspaceId === props.workspaceId);
  if (items.length === 0) return null;
  return (
    <ul class="uploads" aria-label="Uploads in progress">
      {items.map((item) => (
        <li key={item.key} class="upload-item">
          <div class="row">
            <span class="filename">{item.filename}</span>
            <span class="muted">{formatBytes(item.size)}</span>
          </div>
          {item.phase === "interrupted" ? (
            <Interrupted item={item} />
          ) : item.phase === "failed" ? (
            <>
              <ErrorMessage error={item.error} />
              <button type="button" class="secondary" onClick={() => dismissUpload(item.key)}>
                Dismiss
              </button>
            </>
          ) : (
            <>
              <ProgressBar
                value={item.size > 0 ? item.sent / item.size : 0}
                label={`Upload of ${item.filename}`}
                detail={item.phase === "confirming" ? "queuing" : "uploading"}
              />
              <div class="row">
                <span class="muted" aria-hidden="true">
                  {item.phase === "starting"
                    ? "Starting…"
                    : item.phase === "confirming"
                      ? "Uploaded, queuing…"
                      : `Uploading: ${formatBytes(item.sent)} of ${formatBytes(item.size)}`}
                </span>
                {item.phase !== "confirming" && (
                  <button type="button" class="secondary" onClick={() => abortUploadItem(item.key)}>
                    Cancel upload
                  </button>
                )}
              </div>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

/** An upload in parts that stopped short: resume it (choosing the file again after a
 * reload) or give it up. */
function Interrupted(props: { item: UploadItem }) {
  const { item } = props;
  const inputId = `resume-${item.key}`;
  return (
    <>
      <ProgressBar
        value={item.size > 0 ? item.sent / item.size : 0}
        label={`Upload of ${item.filename}`}
        detail="interrupted"
      />
      {item.error ? (
        <ErrorMessage error={item.error} />
      ) : (
        <p class="muted">This upload was interrupted. The parts already sent are kept.</p>
      )}
      <div class="actions">
        {item.file ? (
          <button type="button" onClick={() => void resumeUploadItem(item.key)}>
            Resume upload
          </button>
        ) : (
          <span class="resume-file">
            <label for={inputId}>Choose {item.filename} again to resume</label>
            <input
              id={inputId}
              type="file"
              onChange={(e) => {
                const file = e.currentTarget.files?.[0];
                if (file) void resumeUploadItem(item.key, file);
                e.currentTarget.value = "";
              }}
            />
          </span>
        )}
        <button type="button" class="secondary" onClick={() => void discardUpload(item.key)}>
          Discard upload
        </button>
      </div>
    </>
  );
}
