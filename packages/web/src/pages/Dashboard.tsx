// Videos: the upload area and the workspace's jobs, live.
import { JobList } from "../components/JobList";
import { usePageTitle } from "../components/title";
import { UploadPanel } from "../components/UploadPanel";
import { currentWorkspace } from "../state/session";

export function Dashboard() {
  usePageTitle("Videos");
  const workspace = currentWorkspace.value;
  return (
    <>
      <h1 tabIndex={-1}>Videos</h1>
      {workspace ? (
        <div class="dashboard" data-ready="true">
          <UploadPanel workspaceId={workspace.id} />
          <JobList workspaceId={workspace.id} />
        </div>
      ) : (
        <p>You are not a member of any workspace. Ask a workspace owner to invite you.</p>
      )}
    </>
  );
}
