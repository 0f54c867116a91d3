/**
 * A real softphone through the gateway: baresip registers, calls out through the gateway to a
 * SIPp trunk, and is called from that trunk on its DID. RTP flows end to end through the relay
 * (baresip sends a tone, SIPp echoes what it receives).
 *
 * Addresses: everything is on loopback. The phone and the gateway use 127.0.0.1; the trunk (SIPp)
 * uses 127.0.0.2, because the gateway tells a trunk from a user by source address: were the
 * trunk's inboundAddresses 127.0.0.1/32, baresip's own INVITEs would pass for trunk calls.
 */
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipServer } from '../../src/signaling/sip-server';
import { createAccount, createDeck } from '../billing/support';
import { startTestApp, TestApp, unique, uniqueUsNumber } from '../support/app';
import { Baresip } from '../support/baresip';
import { eventually, freePort } from '../support/net';
import { PeerRun, runPeer } from '../support/sip-peers';

jest.setTimeout(90_000);

const TRUNK_IP = '127.0.0.2';
const scenario = (name: string) => join(__dirname, 'scenarios', name);

/** Whether something is bound to this UDP address (SIPp is up once its port is taken). */
function udpTaken(address: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createSocket('udp4');
    s.once('error', () => ok(true));
    s.bind(port, address, () => s.close(() => ok(false)));
  });
}

/** An even port with the three after it free for UDP on `address` (SIPp's -rtp_echo binds audio and video ports). */
async function freeMediaPort(address: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 44000 + 4 * Math.floor(Math.random() * 240);
    const taken = await Promise.all([0, 1, 2, 3].map((d) => udpTaken(address, p + d)));
    if (!taken.some(Boolean)) return p;
  }
  throw new Error(`no free media port on ${address}`);
}

async function freeUdpPort(address: string): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (!(await udpTaken(address, p))) return p;
  }
  throw new Error(`no free UDP port on ${address}`);
}

/**
 * SIPp as the trunk, on TRUNK_IP: `-d` is how long it keeps the call before its BYE. `port` is
 * its SIP port (a fresh one when not given). A start that loses its ports to another process
 * (SIPp exits 254, "Unable to bind") is retried with fresh ones.
 */
function trunkSipp(o: { scenario: string; port?: number; target?: string; service?: string; vars?: Record<string, string>; holdMs: number }): { run: Promise<PeerRun>; ready: Promise<void> } {
  let port = o.port;
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const attempt = async (left: number): Promise<PeerRun> => {
    const sipPort = port ?? (await freeUdpPort(TRUNK_IP));
    const mediaPort = await freeMediaPort(TRUNK_IP);
    const args = [
      ...(o.target ? [o.target] : []),
      '-sf', o.scenario,
      '-i', TRUNK_IP,
      '-p', String(sipPort),
      '-mi', TRUNK_IP,
      '-mp', String(mediaPort),
      '-rtp_echo',
      '-d', String(o.holdMs),
      '-m', '1',
      '-timeout', '40s',
      '-timeout_error',
      '-nostdin',
      '-trace_msg',
      '-trace_err',
    ];
    if (o.service) args.push('-s', o.service);
    for (const [k, v] of Object.entries(o.vars ?? {})) args.push('-set', k, v);
    const run = runPeer('sipp', args, 55_000);
    void eventually(async () => ((await udpTaken(TRUNK_IP, sipPort)) ? true : undefined), 5_000, 20).then(started, started);
    const result = await run;
    if (left > 0 && result.code === 254 && /Unable to bind|Address already in use/.test(result.stderr + result.stdout)) {
      if (!o.port) port = undefined;
      return attempt(left - 1);
    }
    return result;
  };
  return { run: attempt(2), ready };
}

/** SIPp's message trace and errors, for a failure message. */
function sippTrace(run: PeerRun): string {
  const files = readdirSync(run.dir).filter((f) => f.endsWith('_messages.log') || f.endsWith('_errors.log'));
  return [...files.map((f) => `--- ${f} ---\n${readFileSync(join(run.dir, f), 'utf8').slice(-8000)}`), `--- stderr ---\n${run.stderr.slice(-2000)}`].join('\n');
}

const sippResult = (run: PeerRun) => ({ code: run.code, trace: run.code === 0 ? '' : sippTrace(run) });

/**
 * `p` (a wait for baresip), failing at once with SIPp's trace when SIPp ends first without success,
 * or with SIPp's trace added when `p` fails.
 */
async function withSippTrace<T>(p: Promise<T>, run: Promise<PeerRun>): Promise<T> {
  const sippFailed = run.then((r) => (r.code === 0 ? new Promise<never>(() => undefined) : r));
  const first = await Promise.race([p.then((v) => ({ v }), (e: Error) => ({ e })), sippFailed.then((r) => ({ r }))]);
  if ('v' in first) return first.v;
  if ('r' in first) throw new Error(`SIPp (trunk) exited ${first.r.code} before baresip got there\n${sippTrace(first.r)}`);
  const done = await Promise.race([run, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
  throw new Error(`--- SIPp (trunk) ${done ? `exited ${done.code}` : 'still running'} ---\n${done ? sippTrace(done) : ''}\n${first.e.message}`);
}

describe('baresip and the trunk SIPp scenarios, directly', () => {
  const phone = new Baresip({ lifetimeSeconds: 60, rtpPorts: [43000, 43998] });
  afterAll(() => phone.stop());

  it('dials SIPp and is hung up on; is called by SIPp and answers by itself', async () => {
    // No registrar: regint 0, and the account's domain is a port nobody listens on.
    await phone.start({ username: 'direct', password: 'unused', gatewayPort: await freePort(), regint: 0 });

    const uasPort = await freeUdpPort(TRUNK_IP);
    const uas = trunkSipp({ scenario: scenario('baresip-trunk-uas.xml'), port: uasPort, holdMs: 1500 });
    await uas.ready;
    await phone.dial(`sip:+12125550123@${TRUNK_IP}:${uasPort}`);
    const out = await withSippTrace(phone.waitFor('CALL_ESTABLISHED', 5_000), uas.run);
    expect(out.direction).toBe('outgoing');
    await phone.waitFor('CALL_CLOSED', 5_000, (e) => e.id === out.id);
    expect(sippResult(await uas.run)).toEqual({ code: 0, trace: '' });
    // RTP came back (SIPp's echo of the tone): baresip says so once per call.
    expect(phone.events.filter((e) => e.type === 'CALL_RTPESTAB')).toHaveLength(1);

    const uac = trunkSipp({
      scenario: scenario('baresip-trunk-uac.xml'),
      target: `127.0.0.1:${phone.sipPort}`,
      service: 'direct',
      vars: { caller: '+12125550199' },
      holdMs: 1500,
    });
    expect(sippResult(await uac.run)).toEqual({ code: 0, trace: '' });
    const inc = await phone.waitFor('CALL_ESTABLISHED', 1_000);
    expect(inc.direction).toBe('incoming');
    await phone.waitFor('CALL_CLOSED', 1_000, (e) => e.id === inc.id);
  });
});

describe('baresip, a real softphone, through the gateway', () => {
  let t: TestApp;
  let gwPort: number;
  let trunkPort: number;
  let trunkId: string;
  const trunkName = unique('trunk');
  let userId: string;
  let did: string;
  let catchAllRouteId: string | undefined;
  const username = unique('phone');
  const password = 'baresip-secret-1';
  const phone = new Baresip({ lifetimeSeconds: 120, rtpPorts: [43000, 43998] });

  beforeAll(async () => {
    t = await startTestApp({ SIP_PUBLIC_ADDRESS: '127.0.0.1', RTP_PORT_MIN: '41000', RTP_PORT_MAX: '41999', MEDIA_INACTIVITY_SECONDS: '0' });
    gwPort = t.app.get(SipServer).listening().find((l) => l.transport === 'UDP')!.port;
    trunkPort = await freeUdpPort(TRUNK_IP);

    const deckId = await createDeck(t, ['1,US and Canada,0.010000,0,1,1,']);
    const accountId = await createAccount(t, { deckId, balance: '10.00' });
    userId = (await t.http().post('/v1/users').send({ username, password, accountId }).expect(201)).body.id;
    const trunk = await t
      .http()
      .post('/v1/trunks')
      .send({ name: trunkName, host: TRUNK_IP, port: trunkPort, transport: 'udp', inboundAddresses: [`${TRUNK_IP}/32`] })
      .expect(201);
    trunkId = trunk.body.id;
    catchAllRouteId = (await t.http().post('/v1/routes').send({ prefix: '', trunkId }).expect(201)).body.id;
    did = (await t.http().post('/v1/numbers').send({ e164: uniqueUsNumber(), userId }).expect(201)).body.e164;
  });

  afterAll(async () => {
    await phone.stop();
    // The catch-all route would send every other test file's calls to this (stopped) trunk.
    if (catchAllRouteId) await t.http().delete(`/v1/routes/${catchAllRouteId}`).expect(204);
    await t?.close();
  });

  const cdrs = async (direction: string) => ((await t.http().get(`/v1/cdrs?userId=${userId}&direction=${direction}`).expect(200)).body.data as Record<string, unknown>[]);

  type Media = { fromCaller: { received: number; forwarded: number }; fromCallee: { received: number; forwarded: number } };
  type LiveCall = { direction: string; userId: string; state: string; media: Media | null };
  /**
   * The phone's call of this direction in GET /v1/calls, once its relay has forwarded RTP both
   * ways: baresip's tone towards the trunk, and SIPp's echo of it back to the phone.
   */
  const liveCall = (direction: string): Promise<LiveCall> =>
    eventually(async () => {
      const calls = (await t.http().get('/v1/calls').expect(200)).body.data as LiveCall[];
      const call = calls.find((c) => c.userId === userId && c.direction === direction);
      return call?.media && call.media.fromCaller.forwarded > 0 && call.media.fromCallee.forwarded > 0 ? call : undefined;
    }, 3_000, 100).catch(async (e: Error) => {
      throw new Error(`${e.message}: no ${direction} call of the phone with RTP forwarded both ways in GET /v1/calls: ${JSON.stringify((await t.http().get('/v1/calls')).body)}`);
    });

  it('registers', async () => {
    await phone.start({ username, password, gatewayPort: gwPort, regint: 60, answermode: 'auto' });
    await phone.waitFor('REGISTER_OK', 10_000);
    const list = (await t.http().get(`/v1/users/${userId}/registrations`).expect(200)).body.data;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ sourceAddress: '127.0.0.1', sourcePort: phone.sipPort, transport: 'udp' });
    expect(list[0].userAgent ?? '').toMatch(/baresip/i);
  });

  it('calls out through the gateway to the trunk, with RTP both ways, and gets an answered outbound CDR', async () => {
    const trunk = trunkSipp({ scenario: scenario('baresip-trunk-uas.xml'), port: trunkPort, holdMs: 4000 });
    await trunk.ready;

    const dialled = '+12125550123';
    await phone.dial(`sip:${dialled}@127.0.0.1:${gwPort}`);
    const established = await withSippTrace(phone.waitFor('CALL_ESTABLISHED', 15_000, (e) => e.direction === 'outgoing'), trunk.run);

    // While the call is up the gateway lists it, and its relay forwards RTP both ways.
    const live = await liveCall('outbound');
    // (The listed call names its trunk; its trunkId is null for outbound calls in this version, hence `trunk`.)
    expect(live).toMatchObject({ state: 'answered', trunk: trunkName, caller: did, callee: dialled });

    // The trunk hangs up after 4 s; the gateway passes its BYE to the phone.
    await phone.waitFor('CALL_CLOSED', 15_000, (e) => e.id === established.id);
    expect(sippResult(await trunk.run)).toEqual({ code: 0, trace: '' });

    const cdr = await eventually(async () => (await cdrs('outbound')).find((c) => c.disposition === 'answered'), 10_000, 200);
    // The trunk saw the user's DID as the caller (From user = the user's first DID).
    expect(cdr).toMatchObject({ direction: 'outbound', disposition: 'answered', trunkId, userId, caller: did, callee: dialled, sipCode: 200, hangupBy: 'callee' });
    expect(Number(cdr.durationSeconds)).toBeGreaterThanOrEqual(3);
  });

  it('is called from the trunk on its DID, answers by itself, and gets an answered inbound CDR', async () => {
    const caller = '+12125550199';
    const trunk = trunkSipp({
      scenario: scenario('baresip-trunk-uac.xml'),
      target: `127.0.0.1:${gwPort}`,
      service: did.replace(/^\+/, ''),
      vars: { caller },
      holdMs: 3000,
    });
    const established = await withSippTrace(phone.waitFor('CALL_ESTABLISHED', 10_000, (e) => e.direction === 'incoming'), trunk.run);
    const live = await liveCall('inbound');
    expect(live).toMatchObject({ state: 'answered', trunk: trunkName, caller, callee: did });

    // The trunk hangs up after 3 s.
    expect(sippResult(await trunk.run)).toEqual({ code: 0, trace: '' });
    await phone.waitFor('CALL_CLOSED', 5_000, (e) => e.id === established.id);

    const cdr = await eventually(async () => (await cdrs('inbound')).find((c) => c.disposition === 'answered'), 10_000, 200);
    expect(cdr).toMatchObject({ direction: 'inbound', disposition: 'answered', trunkId, userId, caller, callee: did, sipCode: 200, hangupBy: 'caller' });
  });
});
