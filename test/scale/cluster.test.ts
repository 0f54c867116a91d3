/**
 * The scale-out topology end to end (issue 15, acceptance 1): a real Kamailio edge
 * (deploy/kamailio/kamailio.cfg) in front of three real gateway processes on 127.0.0.2-4, one
 * PostgreSQL database and one Redis prefix, started by the same launcher as `npm run cluster`
 * (scripts/cluster-launcher.ts).
 *
 * A user's device behind a "NAT" (test/scale/sip-ua.ts: it advertises 127.0.0.99:5099, is bound
 * on 127.0.0.7:62000 and accepts requests only from the edge it registered through) registers
 * through the edge. Calls from a trunk enter at every node directly, as from a carrier with one
 * signalling address per node, and must ring the device through the edge (Path); calls from the
 * device enter at the edge and must be spread over the nodes; BYEs of either side reach the node
 * that owns the call (Record-Route). Ports: RTP 60000-60599, test devices 62000-62099.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { type Cluster, startCluster } from '../../scripts/cluster-launcher';
import { createDeck } from '../billing/support';
import { type CallsGateway, newAccount, newDid, newRoute, newTrunk, newUser, TARIFF, waitForCdrs, disableTrunks, type User } from '../calls/support';
import { authorised, type TestApp, uniqueUsNumber } from '../support/app';
import { ADMIN_KEY, REDIS_URL, SECRETS_KEY } from '../support/env';
import { eventually } from '../support/net';
import { SipUa } from './sip-ua';

const DEVICE = { host: '127.0.0.7', port: 62000 };
const DEVICE_MEDIA = { host: '127.0.0.7', port: 62010 };
/** What the device writes in Via and Contact: its private address, unreachable from outside. */
const DEVICE_PRIVATE = { host: '127.0.0.99', port: 5099 };
const TRUNK = { host: '127.0.0.9', port: 62050 };
const TRUNK_MEDIA = { host: '127.0.0.9', port: 62060 };
const NODES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

/** A port free for TCP and UDP on `host` (SIP binds both). */
async function freePortOn(host: string): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((ok, fail) => {
      const s = createServer();
      s.once('error', fail);
      s.listen(0, host, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    const free = await new Promise<boolean>((ok) => {
      const u = createSocket('udp4');
      u.once('error', () => ok(false));
      u.bind(port, host, () => u.close(() => ok(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port on ${host}`);
}

describe('a Kamailio edge in front of three gateway nodes', () => {
  let cluster: Cluster;
  let gw: CallsGateway;
  let device: SipUa;
  let trunk: SipUa;
  let user: User;
  let did: string;
  let trunkId: string;
  const edge = () => ({ host: cluster.edge.host, port: cluster.edge.port });

  beforeAll(async () => {
    const edgePort = await freePortOn('127.0.0.1');
    cluster = await startCluster({
      nodes: NODES.length,
      edge: { host: '127.0.0.1', port: edgePort },
      nodeAddresses: NODES,
      sipPort: (i) => freePortOn(NODES[i]),
      httpPort: (i) => freePortOn(NODES[i]),
      rtpBase: 60000,
      rtpSpan: 200,
      databaseUrl: process.env.GW_TEST_DATABASE_URL!,
      redisUrl: REDIS_URL,
      env: {
        NODE_ENV: 'test',
        REDIS_PREFIX: process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest',
        ADMIN_API_KEY: ADMIN_KEY,
        SECRETS_KEY,
        SIP_REALM: 'gateway.test',
        DEFAULT_COUNTRY: 'US',
        LOG_LEVEL: 'info',
        SIP_WS_LISTEN: 'off',
        CALL_RING_TIMEOUT_SECONDS: '5',
        TRUNK_SETUP_TIMEOUT_MS: '1500',
        MEDIA_INACTIVITY_SECONDS: '0',
        MEDIA_ALLOW_LOOPBACK: 'true',
        CALL_DRAIN_SECONDS: '20',
      },
      // Probes every second; a silent node is failed over after 1 s; the test's own load is no flood.
      edgeDefines: { DS_PING_INTERVAL: 1, NODE_TIMEOUT_MS: 1000, PIKE_DENSITY: 5000, CHILDREN: 2 },
    });
    const first = cluster.nodes[0];
    const t = { http: (key: string | null = ADMIN_KEY) => authorised(first.url, key) } as TestApp;
    const deckId = await createDeck(t, [`1,United States,${TARIFF.us.ratePerMinute},0.010000,1,1,`]);
    gw = { t, sipPort: first.sipPort, rtpMin: first.rtpMin, rtpMax: first.rtpMax, deckId, close: async () => undefined };
    const accountId = await newAccount(gw, '100.00');
    user = await newUser(gw, accountId);
    did = await newDid(gw, user.id);
    trunkId = await newTrunk(gw, { host: TRUNK.host, port: TRUNK.port, inboundAddresses: [`${TRUNK.host}/32`] });
    device = await SipUa.open({ bind: DEVICE, advertise: DEVICE_PRIVATE, media: DEVICE_MEDIA, acceptFrom: edge() });
    trunk = await SipUa.open({ bind: TRUNK, media: TRUNK_MEDIA });
    // Every node reloads its trunk list (and the inbound allow-list) within 2 s of a change made elsewhere.
    await new Promise((r) => setTimeout(r, 2500));
  }, 120_000);

  afterAll(async () => {
    if (gw && trunkId) await disableTrunks(gw, [trunkId]).catch(() => undefined);
    await device?.close();
    await trunk?.close();
    await cluster?.stop();
  }, 120_000);

  it('registers the device through the edge: the node keeps the Path and the address the edge saw', async () => {
    const r = await device.register({ proxy: edge(), domain: 'gateway.test', username: user.username, password: user.password });
    expect(r?.status).toBe(200);
    // RFC 3327: the registrar echoes the Path it stored; the edge's hop names the device's real address.
    const path = r!.headers.filter((h) => h.name.toLowerCase() === 'path').map((h) => h.value);
    expect(path).toHaveLength(1);
    expect(path[0]).toContain(`sip:${cluster.edge.host}:${cluster.edge.port}`);
    const regs = (await gw.t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data as Record<string, unknown>[];
    expect(regs).toHaveLength(1);
    expect(regs[0]).toMatchObject({
      uri: `sip:${user.username}@${DEVICE_PRIVATE.host}:${DEVICE_PRIVATE.port}`,
      sourceAddress: cluster.edge.host,
      sourcePort: cluster.edge.port,
      path,
      receivedAddress: DEVICE.host,
      receivedPort: DEVICE.port,
    });
  });

  it('rings the device through the edge for a call entering at every node, and the trunk hangs up through the owning node', async () => {
    for (const node of cluster.nodes) {
      const before = device.incoming.length;
      const call = await trunk.call({ next: { host: node.address, port: node.sipPort }, domain: node.address, dialled: did, fromUser: '+12025550123' });
      if (call.status !== 200) console.log(node.log().split('\n').filter((l) => /call|INVITE|ring|warn|error/i.test(l)).slice(-15).join('\n'), cluster.edge.log().slice(-3000));
      expect({ node: node.nodeId, status: call.status }).toEqual({ node: node.nodeId, status: 200 });
      // The device heard exactly one INVITE for it, from the edge (its NAT mapping), sent by this node.
      expect(device.incoming.length).toBe(before + 1);
      const rung = device.incoming[before];
      expect(`${rung.from.address}:${rung.from.port}`).toBe(`${cluster.edge.host}:${cluster.edge.port}`);
      expect(rung.dialog.contactHost).toBe(node.address);
      expect(call.dialog!.contactHost).toBe(node.address);
      // The trunk's BYE goes to this node, which sends BYE to the device back through the edge.
      expect(await call.dialog!.bye()).toBe(200);
      await eventually(async () => (rung.dialog.byeReceived ? true : undefined), 5000);
    }
    expect(device.refused).toEqual([]);
    const cdrs = await waitForCdrs(gw, { userId: user.id }, cluster.nodes.length);
    expect(cdrs.filter((c) => c.disposition === 'answered')).toHaveLength(cluster.nodes.length);
  });

  it('spreads calls from the device over the nodes, and its BYE reaches the node that owns each call', async () => {
    const destination = uniqueUsNumber();
    await newRoute(gw, destination, trunkId);
    // Routes are read per call from PostgreSQL; no cache to wait for.
    const calls = 9;
    const byNode = new Map<string, number>();
    for (let i = 0; i < calls; i++) {
      const before = trunk.incoming.length;
      const c = await device.call({ next: edge(), domain: 'gateway.test', dialled: destination, fromUser: user.username, auth: { username: user.username, password: user.password } });
      expect(c.status).toBe(200);
      // The trunk heard the call from the node that answered the device (its Contact).
      const leg = trunk.incoming[before];
      expect(leg.from.address).toBe(c.dialog!.contactHost);
      byNode.set(c.dialog!.contactHost, (byNode.get(c.dialog!.contactHost) ?? 0) + 1);
      // The device's BYE follows the Record-Route: edge, then the owning node, which hangs up the trunk.
      expect(await c.dialog!.bye()).toBe(200);
      await eventually(async () => (leg.dialog.byeReceived ? true : undefined), 5000);
    }
    expect([...byNode.keys()].sort()).toEqual([...NODES].sort());
    expect([...byNode.values()].reduce((a, b) => a + b, 0)).toBe(calls);
    const cdrs = await waitForCdrs(gw, { accountId: user.accountId }, calls);
    expect(cdrs.filter((c) => c.disposition === 'answered')).toHaveLength(calls);
    expect(device.refused).toEqual([]);
  });
});
