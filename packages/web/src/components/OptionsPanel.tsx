// The options form: threshold, minimum silence, margin, mode and every plugin option the
// API offers. Values are kept per workspace; empty fields use the defaults.
import type { JSX } from "preact";
import { useEffect } from "preact/hooks";
import {
  type ChosenOptions,
  type CutOption,
  type Scalar,
  cutOptions,
  cutOptionsError,
  fieldKind,
  humanize,
  loadCutOptions,
  valueOf,
  withValue,
} from "../state/options";
import { ErrorMessage } from "./ErrorMessage";

/** The built-in options in a creator's words (plugins' options use the API's text). */
const BUILT_IN: Record<string, { label: string; help: string; step?: string; placeholder?: string }> = {
  thresholdDb: {
    label: "Silence threshold (dBFS)",
    help: "Sound quieter than this counts as silence. Empty: measured from each recording's background noise.",
    step: "1",
    placeholder: "Automatic",
  },
  minSilenceS: { label: "Minimum silence (seconds)", help: "Shorter pauses are kept.", step: "0.05" },
  marginS: {
    label: "Margin kept around speech (seconds)",
    help: "Kept before and after speech at every cut, so no word is clipped.",
    step: "0.05",
  },
  mode: {
    label: "Render mode",
    help: "Smart copies the untouched video and re-encodes only around the cuts: fast, no quality loss.",
  },
};

const CHOICE_LABELS: Record<string, string> = {
  SMART: "Smart (fast)",
  REENCODE: "Re-encode everything",
};

export function OptionsPanel(props: { value: ChosenOptions; onChange: (value: ChosenOptions) => void }) {
  useEffect(() => {
    void loadCutOptions();
  }, []);
  const options = cutOptions.value;
  const builtIn = options?.filter((o) => o.plugin === null) ?? [];
  const plugins = new Map<string, CutOption[]>();
  for (const option of options ?? []) {
    if (option.plugin !== null) plugins.set(option.plugin, [...(plugins.get(option.plugin) ?? []), option]);
  }
  const changed = Object.keys(props.value.builtIn).length + Object.keys(props.value.plugins).length > 0;
  return (
    <details class="options">
      <summary>Cut options{changed ? " (changed)" : " (defaults)"}</summary>
      <ErrorMessage error={cutOptionsError.value} onRetry={() => void loadCutOptions()} />
      {options === null && !cutOptionsError.value && <p role="status">Loading options…</p>}
      {options !== null && (
        <div class="options-body">
          <p class="hint">Used for every upload to this workspace from this browser. Empty fields use the defaults.</p>
          <div class="option-grid">
            {builtIn.map((option) => (
              <OptionField key={option.name} option={option} {...props} />
            ))}
          </div>
          {[...plugins.entries()].map(([plugin, pluginOptions]) => (
            <fieldset key={plugin} class="plugin-options">
              <legend>Plugin: {plugin}</legend>
              <div class="option-grid">
                {pluginOptions.map((option) => (
                  <OptionField key={option.name} option={option} {...props} />
                ))}
              </div>
            </fieldset>
          ))}
          <button
            type="button"
            class="secondary"
            disabled={!changed}
            onClick={() => props.onChange({ builtIn: {}, plugins: {} })}
          >
            Reset to defaults
          </button>
        </div>
      )}
    </details>
  );
}

function OptionField(props: { option: CutOption; value: ChosenOptions; onChange: (value: ChosenOptions) => void }) {
  const { option } = props;
  const id = `option-${option.name.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
  const help = `${id}-help`;
  const known = option.plugin === null ? BUILT_IN[option.name] : undefined;
  const label = known?.label ?? humanize(option.key);
  const description = known?.help ?? option.description;
  const kind = fieldKind(option.schema);
  const current = valueOf(props.value, option);
  const set = (value: Scalar | undefined) => props.onChange(withValue(props.value, option, value));
  const defaultValue = option.default as Scalar | null;
  let control: JSX.Element;
  if (kind.kind === "boolean") {
    const checked = (current ?? defaultValue ?? false) === true;
    return (
      <div class="field checkbox">
        <input
          id={id}
          type="checkbox"
          checked={checked}
          aria-describedby={help}
          onChange={(e) => set(e.currentTarget.checked === defaultValue ? undefined : e.currentTarget.checked)}
        />
        <label for={id}>{label}</label>
        <p id={help} class="hint">
          {description}
        </p>
      </div>
    );
  } else if (kind.kind === "choice") {
    const selected = String(current ?? defaultValue ?? "");
    control = (
      <select
        id={id}
        aria-describedby={help}
        value={selected}
        onChange={(e) => {
          const choice = kind.choices.find((c) => String(c) === e.currentTarget.value);
          set(choice === undefined || choice === defaultValue ? undefined : choice);
        }}
      >
        {kind.choices.map((choice) => (
          <option key={String(choice)} value={String(choice)}>
            {CHOICE_LABELS[String(choice)] ?? String(choice)}
            {choice === defaultValue ? " (default)" : ""}
          </option>
        ))}
      </select>
    );
  } else if (kind.kind === "number") {
    control = (
      <input
        id={id}
        type="number"
        inputMode="decimal"
        aria-describedby={help}
        min={kind.min}
        max={kind.max}
        step={known?.step ?? (kind.integer ? "1" : "any")}
        placeholder={known?.placeholder ?? (defaultValue == null ? "Automatic" : `${defaultValue} (default)`)}
        value={current === undefined ? "" : String(current)}
        onChange={(e) => {
          const text = e.currentTarget.value.trim();
          const number = Number(text);
          set(text === "" || !Number.isFinite(number) ? undefined : number);
        }}
      />
    );
  } else {
    control = (
      <input
        id={id}
        type="text"
        aria-describedby={help}
        placeholder={defaultValue == null ? "" : `${defaultValue} (default)`}
        value={current === undefined ? "" : String(current)}
        onChange={(e) => set(e.currentTarget.value === "" ? undefined : e.currentTarget.value)}
      />
    );
  }
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {control}
      <p id={help} class="hint">
        {description}
      </p>
    </div>
  );
}
