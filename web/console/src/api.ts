/**
 * The console's one way to the gateway's API: same-origin fetch with the session cookie, the CSRF
 * header on every change (src/auth/console-sessions.ts), and problem details (RFC 9457) turned
 * into an ApiError whose `fields` maps each named field to the API's own message, for the forms.
 */

export interface FieldProblem {
  field: string;
  message: string;
  row?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: Record<string, string> = {},
    readonly problems: FieldProblem[] = [],
  ) {
    super(message);
  }
}

/** Called when an answer says the session is gone (401): the app shows the login page. */
let onSignedOut: () => void = () => undefined;
export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Sent as is (CSV uploads) with this content type. */
  raw?: { body: string | Blob; type: string };
  headers?: Record<string, string>;
}

export async function api<T = unknown>(path: string, o: RequestOptions = {}): Promise<T> {
  const method = o.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json', ...o.headers };
  if (method !== 'GET') headers['X-Console-Request'] = '1';
  let body: BodyInit | undefined;
  if (o.raw) {
    headers['Content-Type'] = o.raw.type;
    body = o.raw.body;
  } else if (o.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const p = (json ?? {}) as { detail?: string; title?: string; errors?: FieldProblem[] };
    const problems = Array.isArray(p.errors) ? p.errors : [];
    const fields: Record<string, string> = {};
    for (const e of problems) fields[e.row !== undefined ? `row ${e.row}: ${e.field}` : e.field] ??= e.message;
    if (res.status === 401 && !path.startsWith('/console/session')) onSignedOut();
    throw new ApiError(res.status, p.detail ?? p.title ?? `${res.status} ${res.statusText}`, fields, problems);
  }
  return json as T;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** A query string from the non-empty values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; http://<lan address> is not one). */
export function newIdempotencyKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
