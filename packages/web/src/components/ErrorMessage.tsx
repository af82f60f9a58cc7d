// An error as a sentence a person can act on (see api/errors.ts), announced when it appears.
import { describeError } from "../api/errors";

export function ErrorMessage(props: { error: unknown; onRetry?: () => void; id?: string }) {
  if (props.error == null) return null;
  return (
    <div class="error" role="alert" id={props.id}>
      <p>{describeError(props.error)}</p>
      {props.onRetry && (
        <button type="button" class="secondary" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
