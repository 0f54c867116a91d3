/**
 * deploy/grafana/pstn-gateway.json is a dashboard of metrics the gateway really exports: every
 * PromQL expression names only metrics found in the registry the gateway builds (platform metrics,
 * call metrics, process metrics), and the metrics operators asked for each have a panel.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CallMetrics } from './calls/call-metrics';
import { createMetricsRegistry, GatewayMetrics } from './platform/metrics';

interface Panel {
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(resolve(__dirname, '../deploy/grafana/pstn-gateway.json'), 'utf8')) as { title: string; uid: string; schemaVersion: number; panels: Panel[] };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Every series name the registry exposes: histograms as _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const registry = createMetricsRegistry();
  new GatewayMetrics(registry);
  new CallMetrics(registry, () => ({ sessions: 0, portPairsFree: 0 }));
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

describe('Grafana dashboard (deploy/grafana/pstn-gateway.json)', () => {
  it('is a dashboard model with panels, each with a position, and a unique id', () => {
    expect(dashboard).toMatchObject({ title: expect.any(String), uid: 'pstn-gateway', schemaVersion: expect.any(Number) });
    expect(panels.length).toBeGreaterThan(10);
    for (const p of panels) expect(p.gridPos).toEqual({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
    const ids = panels.map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('every PromQL expression refers only to metrics the gateway exports', async () => {
    const names = await exportedNames();
    const unknown = exprs.flatMap(({ panel, expr }) => [...expr.matchAll(/\bgateway_[a-z0-9_]+/g)].map((m) => m[0]).filter((n) => !names.has(n)).map((n) => `${panel}: ${n}`));
    expect(exprs.length).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
    // Nothing but gateway_ metrics (a typo without the prefix would escape the check above).
    for (const { expr } of exprs) expect(expr.match(/\b(?!gateway_)[a-z_]+_(total|seconds|bytes|ratio)\b/g)).toBeNull();
  });

  it('has a panel on each metric of issue 16 and on the call metrics', () => {
    const used = new Set(exprs.flatMap(({ expr }) => [...expr.matchAll(/\bgateway_[a-z0-9_]+/g)].map((m) => m[0])));
    for (const name of [
      'gateway_registrations_active',
      'gateway_sip_register_total',
      'gateway_sip_requests_total',
      'gateway_sip_responses_total',
      'gateway_sip_auth_failures_total',
      'gateway_cdr_queue_jobs',
      'gateway_cdr_queue_oldest_waiting_seconds',
      'gateway_fraud_refusals_total',
      'gateway_calls_in_progress',
      'gateway_call_attempts_total',
      'gateway_calls_answered_total',
      'gateway_post_dial_delay_seconds_bucket',
    ])
      expect([...used]).toContain(name);
  });
});
