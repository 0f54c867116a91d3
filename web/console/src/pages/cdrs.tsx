/** CDR search (number, account, disposition, time), CSV export of the same search, and a CDR's SIP ladder. */
import { useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api';
import { Field, FormStatus, useSubmit } from '../forms';
import { Ladder, type SipMessage } from '../ladder';
import { LoadError, Table, useLoad, when } from '../ui';

export interface Cdr {
  id: string;
  callId: string;
  direction: string;
  accountId: string | null;
  trunkId: string | null;
  caller: string | null;
  dialed: string | null;
  callee: string | null;
  translatedTo: string | null;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string;
  durationSeconds: number;
  disposition: string;
  sipCode: number | null;
  sipReason: string | null;
  hangupBy: string | null;
  cost: string | null;
  currency: string | null;
  status: string;
}

const DISPOSITIONS = ['', 'answered', 'busy', 'noAnswer', 'failed', 'cancelled', 'rejected'];

/** datetime-local (the browser's local time) to ISO-8601 with offset, as the API wants. */
export const isoOf = (local: string | undefined) => (local ? new Date(local).toISOString() : undefined);

export function CdrsPage({ args }: { args: string[] }) {
  return args[0] ? <CdrDetail id={args[0]} /> : <CdrSearch />;
}

function CdrSearch() {
  const [query, setQuery] = useState<Record<string, string | undefined>>({ limit: '50' });
  const [rows, setRows] = useState<Cdr[] | undefined>(undefined);
  const { state, onSubmit } = useSubmit(async (v) => {
    const q = { number: v.number?.trim(), accountId: v.accountId?.trim(), disposition: v.disposition, from: isoOf(v.from), to: isoOf(v.to), limit: '50' };
    const page = await api<{ data: Cdr[] }>(`/v1/cdrs${qs(q)}`);
    setQuery(q);
    setRows(page.data);
    return `${page.data.length} CDR(s)`;
  });
  const first = useLoad(() => api<{ data: Cdr[] }>('/v1/cdrs?limit=50'), []);
  const shown = rows ?? first.value?.data ?? [];
  const exportQuery = { ...query };
  delete exportQuery.limit;
  return (
    <>
      <form onSubmit={onSubmit} aria-label="Search CDRs" class="inline">
        <Field name="number" label="Number (caller, dialled or callee)" state={state} placeholder="+12025550100" />
        <Field name="accountId" label="Account id" state={state} />
        <Field name="disposition" label="Disposition" state={state} options={DISPOSITIONS} />
        <Field name="from" label="From" type="datetime-local" state={state} />
        <Field name="to" label="To" type="datetime-local" state={state} />
        <button type="submit">Search</button>
        <FormStatus state={state} known={['number', 'accountId', 'disposition', 'from', 'to']} />
      </form>
      <p>
        <a href={`/v1/cdrs/export${qs(exportQuery)}`} download="cdrs.csv">
          Export these CDRs as CSV
        </a>
      </p>
      <LoadError error={first.error} />
      <Table
        caption="CDRs"
        rows={shown}
        columns={[
          { label: 'Started', render: (c) => <a href={`#/cdrs/${c.id}`}>{when(c.startedAt)}</a> },
          { label: 'Direction', render: (c) => c.direction },
          { label: 'Caller', render: (c) => c.caller ?? '—' },
          { label: 'Dialled', render: (c) => c.dialed ?? '—' },
          { label: 'Disposition', render: (c) => c.disposition },
          { label: 'SIP', render: (c) => (c.sipCode ? `${c.sipCode} ${c.sipReason ?? ''}` : '—') },
          { label: 'Seconds', render: (c) => c.durationSeconds },
          { label: 'Cost', render: (c) => (c.cost ? `${c.cost} ${c.currency ?? ''}` : c.status) },
          { label: 'Ladder', render: (c) => <a href={`#/cdrs/${c.id}`} aria-label={`SIP ladder of the call from ${c.caller ?? '?'} to ${c.dialed ?? '?'}`}>SIP ladder</a> },
        ]}
      />
    </>
  );
}

function CdrDetail({ id }: { id: string }) {
  const cdr = useLoad(() => api<Cdr>(`/v1/cdrs/${encodeURIComponent(id)}`), [id]);
  const sip = useLoad(async () => {
    if (!cdr.value) return undefined;
    try {
      return await api<{ messages: SipMessage[] }>(`/v1/calls/${encodeURIComponent(cdr.value.callId)}/sip`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return { messages: [] as SipMessage[] };
      throw e;
    }
  }, [cdr.value?.callId]);
  const c = cdr.value;
  return (
    <>
      <p>
        <a href="#/cdrs">Back to the CDRs</a>
      </p>
      <LoadError error={cdr.error ?? sip.error} />
      {c && (
        <dl class="facts">
          <dt>Call id</dt>
          <dd>
            <code>{c.callId}</code>
          </dd>
          <dt>Direction</dt>
          <dd>{c.direction}</dd>
          <dt>Caller → dialled</dt>
          <dd>
            {c.caller ?? '—'} → {c.dialed ?? '—'} {c.translatedTo ? `(translated to ${c.translatedTo})` : ''}
          </dd>
          <dt>Disposition</dt>
          <dd>
            {c.disposition} {c.sipCode ? `(${c.sipCode} ${c.sipReason ?? ''})` : ''}, hung up by {c.hangupBy ?? '—'}
          </dd>
          <dt>Time</dt>
          <dd>
            {when(c.startedAt)} – {when(c.endedAt)}, {c.durationSeconds} s
          </dd>
          <dt>Cost</dt>
          <dd>{c.cost ? `${c.cost} ${c.currency ?? ''}` : c.status}</dd>
        </dl>
      )}
      <h2>SIP ladder</h2>
      {sip.value && sip.value.messages.length === 0 && <p>No SIP messages were captured for this call (the capture keeps them for a limited time).</p>}
      {sip.value && sip.value.messages.length > 0 && <Ladder messages={sip.value.messages} />}
    </>
  );
}

