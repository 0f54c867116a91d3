/**
 * WebRTC media terminated in the gateway, against a real gateway process: a "browser" (node-datachannel
 * offering like Chrome: SAVPF, ICE, DTLS, rtcp-mux, BUNDLE, Opus/PCMU/PCMA/telephone-event) calls a
 * number routed to a SIPp trunk that runs `-rtp_echo`. The browser sends a 440 Hz tone in PCMU over
 * SRTP; the gateway decrypts it, relays plain RTP/AVP to the trunk, and the trunk's echo comes back
 * to the browser over SRTP. Also: the trunk sees G.711 only (Opus stripped); an Opus-only browser
 * gets 488 with the reason; hostile WebRTC SDPs get 488 and the same process still answers.
 *
 * Signalling is plain SIP over UDP from test/security/sip-agents.ts's SipCaller (the WebRTC caller is
 * detected from the SDP, whatever the transport). Ports: the gateway's RTP range 51000–51999, the
 * browser stand-in 52000–52899, SIPp's media 52900–52999 on the trunk address.
 */
import { createSocket } from 'node:dgram';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type CallsGateway, disableTrunks, newAccount, newDestination, newRoute, newTrunk, newUser, type User, waitForCdrs } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { SipCaller } from '../security/sip-agents';
import { freePort } from '../support/net';
import { type PeerRun, runPeer } from '../support/sip-peers';
import { BrowserPeer, rtp, toneFrame } from './browser-peer';

jest.setTimeout(90_000);

const RTP_MIN = 51000;
const RTP_MAX = 51999;
const BROWSER_PORTS = { portMin: 52000, portMax: 52799 };
const TRUNK_IP = '127.0.0.57';
const SCENARIO = join(__dirname, '..', 'calls', 'scenarios', 'baresip-trunk-uas.xml');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function udpTaken(address: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createSocket('udp4');
    s.once('error', () => ok(true));
    s.bind(port, address, () => s.close(() => ok(false)));
  });
}

async function freeOn(address: string, from: number, to: number, span: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = from + span * Math.floor(Math.random() * Math.floor((to - from) / span));
    const taken = await Promise.all(Array.from({ length: span }, (_, d) => udpTaken(address, p + d)));
    if (!taken.some(Boolean)) return p;
  }
  throw new Error(`no free port on ${address}`);
}

/** SIPp as the trunk on TRUNK_IP: answers with G.711, echoes the RTP it gets (-rtp_echo), hangs up after holdMs. */
async function echoTrunk(holdMs: number): Promise<{ port: number; run: Promise<PeerRun> }> {
  const port = await freeOn(TRUNK_IP, 20000, 30000, 1);
  const mediaPort = await freeOn(TRUNK_IP, 52900, 52999, 4);
  const args = ['-sf', SCENARIO, '-i', TRUNK_IP, '-p', String(port), '-mi', TRUNK_IP, '-mp', String(mediaPort), '-rtp_echo', '-d', String(holdMs), '-m', '1', '-timeout', '30s', '-timeout_error', '-nostdin', '-trace_msg', '-trace_err'];
  const run = runPeer('sipp', args, 45_000);
  for (let i = 0; i < 100 && !(await udpTaken(TRUNK_IP, port)); i++) await sleep(20);
  return { port, run };
}

function sippTrace(run: PeerRun): string {
  const files = readdirSync(run.dir).filter((f) => f.endsWith('_messages.log') || f.endsWith('_errors.log'));
  return files.map((f) => `--- ${f} ---\n${readFileSync(join(run.dir, f), 'utf8').slice(-6000)}`).join('\n');
}

describe('a browser caller through the gateway to a SIPp trunk (WebRTC terminated in the gateway)', () => {
  let gw: GatewayProcess;
  let cg: CallsGateway;
  let user: User;
  let caller: SipCaller;
  const trunkIds: string[] = [];

  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: RTP_MIN, rtpMax: RTP_MAX });
    cg = gw.asCallsGateway();
    const accountId = await newAccount(cg, '1000.000000');
    user = await newUser(cg, accountId);
    caller = await SipCaller.open('127.0.0.1', await freePort());
  }, 60_000);

  afterAll(async () => {
    await caller?.close();
    if (cg) await disableTrunks(cg, trunkIds);
    await gw?.stop();
  }, 30_000);

  async function routedToEchoTrunk(holdMs: number) {
    const trunk = await echoTrunk(holdMs);
    const trunkId = await newTrunk(cg, { port: trunk.port, host: TRUNK_IP });
    trunkIds.push(trunkId);
    const dest = newDestination();
    await newRoute(cg, dest, trunkId);
    return { trunk, dest };
  }

  it('hears its own tone back from the echoing trunk (SRTP in, plain RTP to the trunk, SRTP out); the trunk is offered G.711 only; the CDR is rated', async () => {
    const { trunk, dest } = await routedToEchoTrunk(4000);
    const browser = new BrowserPeer(BROWSER_PORTS);
    try {
      const offer = await browser.offer();
      const result = await caller.invite({ gwPort: gw.sipPort, dialled: dest, from: user.username, sdp: offer, auth: user });
      if (result.status !== 200) throw new Error(`${result.status} ${result.reason}\n${gw.log().slice(-4000)}`);
      // The answer is WebRTC: DTLS-SRTP, ICE with the gateway's candidate, rtcp-mux, mid copied, G.711 only.
      expect(result.sdp).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF( \d+)+\r?$/m);
      expect(result.sdp).toMatch(/^a=fingerprint:sha-256 [0-9A-F:]+\r?$/m);
      expect(result.sdp).toMatch(/^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/m);
      expect(result.sdp).toMatch(/^a=rtcp-mux\r?$/m);
      expect(result.sdp).toMatch(/^a=mid:0\r?$/m);
      expect(result.sdp).toMatch(/^a=setup:(active|passive)\r?$/m);
      expect(result.sdp).not.toMatch(/opus/i);
      browser.accept(result.sdp);
      await browser.opened();

      for (let i = 0; i < 100; i++) {
        browser.send(rtp(i, browser.ssrc, toneFrame(i)));
        await sleep(20);
      }
      await sleep(500);
      const calls = (await gw.t.http().get('/v1/calls').expect(200)).body;
      // Each echo is the frame sent with that sequence number, byte for byte (the SSRC aside).
      const echoed = new Set(browser.received.filter((p) => p[1] === 0 && p.subarray(12).equals(toneFrame(p.readUInt16BE(2)))).map((p) => p.readUInt16BE(2)));
      expect(browser.received.length).toBeLessThanOrEqual(100);
      // Setup may cost the first frames; once media flows, every frame comes back.
      expect(echoed.size).toBeGreaterThanOrEqual(50);
      expect(Array.from({ length: 40 }, (_, i) => 60 + i).filter((i) => !echoed.has(i))).toEqual([]);
      expect(calls.data[0].media).toEqual({ fromCaller: { received: 100, forwarded: 100 }, fromCallee: { received: echoed.size, forwarded: echoed.size } });
      // The SSRC towards the browser is the gateway's own (announced in its SDP), not the trunk's.
      const announced = Number(/^a=ssrc:(\d+) /m.exec(result.sdp)?.[1]);
      expect(new Set(browser.received.map((p) => p.readUInt32BE(8)))).toEqual(new Set([announced]));

      const done = await trunk.run;
      if (done.code !== 0) throw new Error(`SIPp trunk exited ${done.code}\n${sippTrace(done)}`);
      const sent = readFileSync(join(done.dir, readdirSync(done.dir).find((f) => f.endsWith('_messages.log'))!), 'utf8');
      const trunkOffer = sent.slice(sent.indexOf('INVITE sip:'));
      expect(trunkOffer).toMatch(/m=audio \d+ RTP\/AVP 0 8 126\r?\n/);
      expect(trunkOffer).not.toMatch(/opus|fingerprint|ice-ufrag|candidate|SAVPF/i);
      const cdrs = await waitForCdrs(cg, { userId: user.id }, 1);
      expect(cdrs[cdrs.length - 1]).toMatchObject({ disposition: 'answered', status: 'rated' });
    } finally {
      browser.close();
    }
    await gw.expectAlive();
  });

  it('refuses an Opus-only browser with 488 and the reason (no G.711 for the PSTN)', async () => {
    const { dest } = await routedToEchoTrunk(1000);
    const browser = new BrowserPeer({ ...BROWSER_PORTS, codecs: 'opusOnly' });
    try {
      const result = await caller.invite({ gwPort: gw.sipPort, dialled: dest, from: user.username, sdp: await browser.offer(), auth: user });
      expect(result.status).toBe(488);
      expect(result.reason).toMatch(/no PCMU or PCMA/);
    } finally {
      browser.close();
    }
    await gw.expectAlive();
  });

  describe('hostile WebRTC SDP gets 488 with the reason, and the same process still answers', () => {
    let offer: string;
    let dest: string;
    beforeAll(async () => {
      const browser = new BrowserPeer(BROWSER_PORTS);
      offer = await browser.offer();
      browser.close();
      const trunkId = await newTrunk(cg, { port: 9, host: TRUNK_IP });
      trunkIds.push(trunkId);
      dest = newDestination();
      await newRoute(cg, dest, trunkId);
    });

    const cases: [string, (sdp: string) => string, RegExp][] = [
      ['a bad fingerprint', (s) => s.replace(/^a=fingerprint:.*$/m, 'a=fingerprint:sha-256 ZZ:not:hex'), /fingerprint/],
      ['no fingerprint', (s) => s.replace(/^a=fingerprint:.*\r?\n/m, ''), /fingerprint/],
      ['no ICE ufrag', (s) => s.replace(/^a=ice-ufrag:.*\r?\n/m, ''), /ice-ufrag/],
      ['a candidate on a multicast address only', (s) => s.replace(/(a=candidate:\S+ 1 UDP \d+ )[0-9.]+/g, '$1224.0.0.251'), /no usable ICE candidate.*multicast/],
      ['a candidate on the broadcast address only', (s) => s.replace(/(a=candidate:\S+ 1 UDP \d+ )[0-9.]+/g, '$1255.255.255.255'), /no usable ICE candidate/],
      ['a candidate on port 0 only', (s) => s.replace(/(a=candidate:\S+ 1 UDP \d+ [0-9.]+ )\d+/g, '$10'), /no usable ICE candidate/],
      ['no candidates at all (trickle only)', (s) => s.replace(/^a=candidate:.*\r?\n/gm, ''), /no ICE candidates/],
      ['no rtcp-mux', (s) => s.replace(/^a=rtcp-mux\r?\n/m, ''), /rtcp-mux/],
      ['a thousand candidates', (s) => s.replace(/^(a=candidate:.*\r?\n)/m, (line) => line.repeat(1000)), /larger than|more than/],
      ['a huge SDP (60 KB of attributes)', (s) => s.replace(/^(a=mid:.*\r?\n)/m, `$1${'a=x-junk:0123456789012345678901234567890123456789\r\n'.repeat(1200)}`), /larger than/],
    ];

    it.each(cases)('%s', async (_name, mutate, reason) => {
      const result = await caller.invite({ gwPort: gw.sipPort, dialled: dest, from: user.username, sdp: mutate(offer), auth: user });
      // A huge SDP may already be refused by the SIP stack's own size limit (413/400/513), never accepted.
      if (result.status !== 488) expect([400, 413, 513]).toContain(result.status);
      else expect(result.reason).toMatch(reason);
      await gw.expectAlive();
    });
  });
});
