/** Small shared pieces: a data table, a polling hook, formatting. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export interface Column<T> {
  label: string;
  render: (row: T) => ComponentChildren;
}

export function Table<T>({ caption, rows, columns, empty = 'Nothing yet.' }: { caption: string; rows: T[]; columns: Column<T>[]; empty?: string }) {
  if (rows.length === 0)
    return (
      <p class="empty" aria-label={caption}>
        {caption}: {empty}
      </p>
    );
  return (
    <div class="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col">{c.label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr>
              {columns.map((c) => (
                <td>{c.render(r)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Loads `load()` now, again every `everyMs` (0: never), and whenever `deps` change; `reload` forces one. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = [], everyMs = 0) {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (v) => live && (setValue(v), setError(undefined)),
        (e: Error) => live && setError(e),
      );
    void run();
    const timer = everyMs > 0 ? setInterval(run, everyMs) : undefined;
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
  }, [...deps, tick]);
  return { value, error, reload: () => setTick((t) => t + 1) };
}

export function LoadError({ error }: { error?: Error }) {
  return error ? (
    <p role="alert" class="alert error">
      {error.message}
    </p>
  ) : null;
}

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');
export const short = (id: string | null | undefined) => (id ? id.slice(0, 8) : '—');
