/** Trunks and least-cost routes: lists, create forms, and the route lookup dry run (GET /v1/routes/lookup). */
import { useState } from 'preact/hooks';
import { api, qs, type Page } from '../api';
import { Field, FormStatus, numOrNull, orNull, Section, useSubmit } from '../forms';
import { LoadError, Table, useLoad } from '../ui';

interface Trunk {
  id: string;
  name: string;
  host: string;
  port: number;
  transport: string;
  username: string | null;
  inboundAddresses: string[];
  maxChannels: number | null;
  enabled: boolean;
}
interface Route {
  id: string;
  prefix: string;
  trunkId: string;
  priority: number;
  weight: number;
}
interface Candidate {
  routeId: string;
  prefix: string;
  priority: number;
  weight: number;
  trunkId: string;
}

export function RoutingPage(_: { args: string[] }) {
  const trunks = useLoad(() => api<Page<Trunk>>('/v1/trunks?limit=1000'), []);
  const routes = useLoad(() => api<Page<Route>>('/v1/routes?limit=1000'), []);
  const [candidates, setCandidates] = useState<Candidate[] | undefined>(undefined);
  const trunkName = (id: string) => trunks.value?.data.find((t) => t.id === id)?.name ?? id.slice(0, 8);
  const trunkOptions: [string, string][] = [['', 'choose a trunk'], ...(trunks.value?.data ?? []).map((t): [string, string] => [t.id, `${t.name} (${t.host}:${t.port})`])];
  const newTrunk = useSubmit(async (v, form) => {
    const t = await api<Trunk>('/v1/trunks', {
      method: 'POST',
      body: {
        name: v.name,
        host: v.host,
        port: numOrNull(v.port) ?? 5060,
        transport: v.transport,
        username: orNull(v.username),
        password: orNull(v.password),
        inboundAddresses: (orNull(v.inboundAddresses) ?? '').split(/[\s,]+/).filter(Boolean),
        maxChannels: numOrNull(v.maxChannels),
      },
    });
    form.reset();
    trunks.reload();
    return `Trunk ${t.name} created.`;
  });
  const newRoute = useSubmit(async (v, form) => {
    const r = await api<Route>('/v1/routes', { method: 'POST', body: { prefix: v.prefix.trim(), trunkId: v.trunkId, priority: numOrNull(v.priority) ?? 100, weight: numOrNull(v.weight) ?? 1 } });
    form.reset();
    routes.reload();
    return `Route ${r.prefix || '(catch-all)'} → ${trunkName(r.trunkId)} created.`;
  });
  const lookup = useSubmit(async (v) => {
    const r = await api<{ data: Candidate[] }>(`/v1/routes/lookup${qs({ destination: v.destination.trim() })}`);
    setCandidates(r.data);
    return r.data.length ? `${r.data.length} trunk(s) would be tried, in this order.` : 'No route matches: the call would be refused.';
  });
  return (
    <>
      <LoadError error={trunks.error ?? routes.error} />
      <Table
        caption="Trunks"
        rows={trunks.value?.data ?? []}
        columns={[
          { label: 'Name', render: (t) => t.name },
          { label: 'Address', render: (t) => `${t.transport}:${t.host}:${t.port}` },
          { label: 'Inbound from', render: (t) => t.inboundAddresses.join(', ') || '—' },
          { label: 'Channels', render: (t) => t.maxChannels ?? 'unlimited' },
          { label: 'Enabled', render: (t) => (t.enabled ? 'yes' : 'no') },
        ]}
      />
      <Section title="New trunk">
        <form onSubmit={newTrunk.onSubmit} aria-label="New trunk">
          <Field name="name" label="Trunk name" state={newTrunk.state} required />
          <Field name="host" label="Host" state={newTrunk.state} required hint="Name or IP address, without scheme or port" />
          <Field name="port" label="Port" type="number" state={newTrunk.state} value="5060" />
          <Field name="transport" label="Transport" state={newTrunk.state} options={['udp', 'tcp', 'tls']} />
          <Field name="username" label="Auth username" state={newTrunk.state} />
          <Field name="password" label="Auth password" type="password" state={newTrunk.state} autoComplete="new-password" />
          <Field name="inboundAddresses" label="Inbound addresses" state={newTrunk.state} hint="CIDRs the trunk sends calls from, comma-separated" />
          <Field name="maxChannels" label="Max channels" type="number" state={newTrunk.state} />
          <button type="submit">Create trunk</button>
          <FormStatus state={newTrunk.state} known={['name', 'host', 'port', 'transport', 'username', 'password', 'inboundAddresses', 'maxChannels']} />
        </form>
      </Section>
      <Table
        caption="Routes"
        rows={routes.value?.data ?? []}
        columns={[
          { label: 'Prefix', render: (r) => r.prefix || '(every number)' },
          { label: 'Trunk', render: (r) => trunkName(r.trunkId) },
          { label: 'Priority', render: (r) => r.priority },
          { label: 'Weight', render: (r) => r.weight },
        ]}
      />
      <Section title="New route">
        <form onSubmit={newRoute.onSubmit} aria-label="New route">
          <Field name="prefix" label="Prefix" state={newRoute.state} hint='E.164 digits; empty: the catch-all route ("")' />
          <Field name="trunkId" label="Trunk" state={newRoute.state} options={trunkOptions} />
          <Field name="priority" label="Priority" type="number" state={newRoute.state} value="100" hint="Lower is tried first" />
          <Field name="weight" label="Weight" type="number" state={newRoute.state} value="1" />
          <button type="submit">Create route</button>
          <FormStatus state={newRoute.state} known={['prefix', 'trunkId', 'priority', 'weight']} />
        </form>
      </Section>
      <Section title="Least-cost lookup (dry run)">
        <form onSubmit={lookup.onSubmit} aria-label="Route lookup">
          <Field name="destination" label="Destination number" state={lookup.state} required placeholder="+12025550100" />
          <button type="submit">Look up</button>
          <FormStatus state={lookup.state} known={['destination']} />
        </form>
        {candidates && (
          <ol aria-label="Trunks in the order tried">
            {candidates.map((c) => (
              <li>
                {trunkName(c.trunkId)} (prefix {c.prefix || '""'}, priority {c.priority}, weight {c.weight})
              </li>
            ))}
          </ol>
        )}
      </Section>
    </>
  );
}
