/** Calls in progress, registrations and the CDR queue now; charts of the last hours from GET /v1/stats/calls. */
import { useMemo, useState } from 'preact/hooks';
import { api, qs } from '../api';
import { type ChartSeries, LineChart } from '../chart';
import { LoadError, useLoad } from '../ui';

interface Overview {
  calls: { inProgress: number; answered: number; ringing: number };
  registrations: { users: number; devices: number; truncated: boolean };
  cdrQueue: { waiting: number; active: number; delayed: number; failed: number };
}
interface Point {
  at: string;
  attempts: number;
  callsPerMinute: number;
  asr: number | null;
  acdSeconds: number | null;
  pddMs: number | null;
}
interface Stats {
  from: string;
  to: string;
  bucket: string;
  bucketSeconds: number;
  totals: Omit<Point, 'at'> & { answered: number };
  series: { trunkId: string | null; direction: string; points: Point[] }[];
}
interface Trunk {
  id: string;
  name: string;
}

const WINDOWS = { '1h': ['1 hour', 3600, '1m'], '6h': ['6 hours', 6 * 3600, '5m'], '24h': ['24 hours', 86400, '15m'] } as const;

export function DashboardPage(_: { args: string[] }) {
  const [win, setWin] = useState<keyof typeof WINDOWS>('6h');
  const overview = useLoad(() => api<Overview>('/v1/overview'), [], 5000);
  const stats = useLoad(() => {
    const [, seconds, bucket] = WINDOWS[win];
    const to = new Date();
    return api<Stats>(`/v1/stats/calls${qs({ from: new Date(to.getTime() - seconds * 1000).toISOString(), to: to.toISOString(), bucket })}`);
  }, [win], 30_000);
  const trunks = useLoad(() => api<{ data: Trunk[] }>('/v1/trunks?limit=1000'), []);
  const names = new Map((trunks.value?.data ?? []).map((t) => [t.id, t.name]));
  const charts = useMemo(() => {
    const st = stats.value;
    const list = st?.series ?? [];
    // Every bucket start of the window: calls per minute is 0 where a bucket had no call (the others have no value there).
    const buckets: number[] = [];
    if (st) for (let t = Math.floor(Date.parse(st.from) / 1000 / st.bucketSeconds) * st.bucketSeconds; t < Date.parse(st.to) / 1000; t += st.bucketSeconds) buckets.push(t);
    const metric = (pick: (p: Point) => number | null, zero = false): ChartSeries[] =>
      list.map((s) => {
        const values = new Map<number, number | null>(zero ? buckets.map((b) => [b, 0]) : []);
        for (const p of s.points) values.set(Date.parse(p.at) / 1000, pick(p));
        return { label: `${s.trunkId ? (names.get(s.trunkId) ?? s.trunkId.slice(0, 8)) : 'no trunk'} · ${s.direction}`, values };
      });
    return {
      range: st ? ([Date.parse(st.from) / 1000, Date.parse(st.to) / 1000] as [number, number]) : undefined,
      cpm: metric((p) => p.callsPerMinute, true),
      asr: metric((p) => (p.asr === null ? null : Math.round(p.asr * 1000) / 10)),
      acd: metric((p) => p.acdSeconds),
      pdd: metric((p) => p.pddMs),
    };
  }, [stats.value, trunks.value]);
  const o = overview.value;
  const t = stats.value?.totals;
  return (
    <>
      <LoadError error={overview.error ?? stats.error} />
      <section aria-label="Now" class="cards">
        <Card label="Calls in progress" value={o?.calls.inProgress} detail={o ? `${o.calls.answered} answered, ${o.calls.ringing} setting up` : ''} />
        <Card label="Registered users" value={o?.registrations.users} detail={o ? `${o.registrations.devices} devices${o.registrations.truncated ? ' (first 5000 users)' : ''}` : ''} />
        <Card label="CDR queue depth" value={o ? o.cdrQueue.waiting + o.cdrQueue.active + o.cdrQueue.delayed : undefined} detail={o ? `${o.cdrQueue.failed} failed jobs` : ''} />
        <Card label="Attempts in window" value={t?.attempts} detail={t ? `ASR ${t.asr === null ? '—' : `${Math.round(t.asr * 1000) / 10} %`}, ACD ${t.acdSeconds ?? '—'} s, PDD ${t.pddMs ?? '—'} ms` : ''} />
      </section>
      <section aria-label="History">
        <h2>Last {WINDOWS[win][0]}</h2>
        <label for="window">Window</label>{' '}
        <select id="window" onChange={(e) => setWin((e.currentTarget as HTMLSelectElement).value as keyof typeof WINDOWS)}>
          {Object.entries(WINDOWS).map(([k, [label]]) => (
            <option value={k} selected={k === win}>
              {label}
            </option>
          ))}
        </select>
        <p class="hint">Per trunk and direction, from the CDRs; buckets of {stats.value?.bucket ?? WINDOWS[win][2]}.</p>
        <div class="charts">
          <LineChart title="Calls per minute" unit="calls/min" series={charts.cpm} range={charts.range} />
          <LineChart title="ASR" unit="% answered" series={charts.asr} range={charts.range} />
          <LineChart title="ACD" unit="seconds" series={charts.acd} range={charts.range} />
          <LineChart title="Post-dial delay" unit="ms" series={charts.pdd} range={charts.range} />
        </div>
      </section>
    </>
  );
}

function Card({ label, value, detail }: { label: string; value?: number; detail: string }) {
  return (
    <div class="card" role="group" aria-label={label}>
      <span class="card-label">{label}</span>
      <span class="card-value">{value ?? '…'}</span>
      <span class="card-detail">{detail}</span>
    </div>
  );
}
