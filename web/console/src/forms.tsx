/**
 * Form building blocks: a labelled field that shows the API's message for its name (aria-invalid
 * and aria-describedby point at it), a form-level alert for what names no field, and a hook that
 * runs a submit and keeps its error.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from './api';

export interface FormState {
  busy: boolean;
  error?: ApiError | Error;
  done?: string;
}

/** Runs `work` on submit with the form's values; keeps busy/error/done for the form to show. */
export function useSubmit(work: (values: Record<string, string>, form: HTMLFormElement) => Promise<string | void>) {
  const [state, setState] = useState<FormState>({ busy: false });
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const values: Record<string, string> = {};
    new FormData(form).forEach((v, k) => {
      if (typeof v === 'string') values[k] = v;
    });
    setState({ busy: true });
    try {
      const done = await work(values, form);
      setState({ busy: false, done: done ?? 'Saved' });
    } catch (err) {
      setState({ busy: false, error: err as Error });
      // Focus the first field the API named, so keyboard and screen-reader users land on it.
      queueMicrotask(() => (form.querySelector('[aria-invalid="true"]') as HTMLElement | null)?.focus());
    }
  };
  return { state, onSubmit };
}

const fieldsOf = (s: FormState) => (s.error instanceof ApiError ? s.error.fields : {});

let nextId = 0;

interface FieldProps {
  /** The API's field name (as in its problem's errors[].field). */
  name: string;
  label: string;
  state: FormState;
  type?: 'text' | 'password' | 'number' | 'datetime-local' | 'email';
  value?: string;
  placeholder?: string;
  required?: boolean;
  hint?: string;
  options?: readonly (string | [string, string])[];
  /** Another name the API may use for this field's errors (e.g. "body"). */
  alias?: string;
  /** The API's field name when the form's input name differs (e.g. rules.0.name for an input named rules.s3.name). */
  errorName?: string;
  multiline?: boolean;
  autoComplete?: string;
  /** Select only: called with the chosen value. */
  onChange?: (value: string) => void;
}

export function Field(p: FieldProps) {
  const [id] = useState(() => `f${++nextId}-${p.name.replace(/[^A-Za-z0-9]/g, '-')}`);
  const fields = fieldsOf(p.state);
  const key = p.errorName ?? p.name;
  const message = fields[key] ?? (p.alias ? fields[p.alias] : undefined) ?? Object.entries(fields).find(([k]) => k.startsWith(`${key}.`))?.[1];
  const describedBy = [message ? `${id}-err` : '', p.hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  const common = { id, name: p.name, 'aria-invalid': message ? ('true' as const) : undefined, 'aria-describedby': describedBy, required: p.required };
  let control: JSX.Element;
  if (p.options)
    control = (
      <select {...common} onChange={p.onChange && ((e) => p.onChange!((e.currentTarget as HTMLSelectElement).value))}>
        {p.options.map((o) => {
          const [v, text] = typeof o === 'string' ? [o, o || '—'] : o;
          return (
            <option value={v} selected={v === p.value}>
              {text}
            </option>
          );
        })}
      </select>
    );
  else if (p.multiline) control = <textarea {...common} rows={6} placeholder={p.placeholder} defaultValue={p.value} />;
  else control = <input {...common} type={(p.type ?? 'text') as 'text'} defaultValue={p.value} placeholder={p.placeholder} autoComplete={p.autoComplete ?? 'off'} />;
  return (
    <div class={`field${message ? ' invalid' : ''}`}>
      <label for={id}>{p.label}</label>
      {control}
      {p.hint && (
        <small id={`${id}-hint`} class="hint">
          {p.hint}
        </small>
      )}
      {message && (
        <span id={`${id}-err`} class="field-error">
          {message}
        </span>
      )}
    </div>
  );
}

/** The form's outcome: the API's detail and any field it named that has no control here. */
export function FormStatus({ state, known = [] }: { state: FormState; known?: string[] }) {
  if (state.busy) return <p role="status">Working…</p>;
  if (state.error) {
    const fields = fieldsOf(state);
    const other = Object.entries(fields).filter(([k]) => !known.some((n) => k === n || k.startsWith(`${n}.`)));
    return (
      <div role="alert" class="alert error">
        <p>{state.error.message}</p>
        {other.length > 0 && (
          <ul>
            {other.map(([k, m]) => (
              <li>
                <code>{k}</code>: {m}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  if (state.done)
    return (
      <p role="status" class="alert ok">
        {state.done}
      </p>
    );
  return <p role="status" class="visually-hidden"></p>;
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** A value for a JSON body: '' becomes null (or undefined with `omit`), numbers parsed. */
export const orNull = (v: string | undefined) => (v === undefined || v.trim() === '' ? null : v.trim());
export const numOrNull = (v: string | undefined) => (v === undefined || v.trim() === '' ? null : Number(v));
