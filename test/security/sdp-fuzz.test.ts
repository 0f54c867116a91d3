/**
 * Hostile SDP against a real gateway process: offers in INVITEs from an authenticated user and
 * from a trunk, and answers from a trunk, first the known crash cases (ports outside 1–65535, an
 * RTCP port it implies outside it, forbidden addresses), then fast-check-generated SDP (bad ports,
 * absurd a=rtcp, IPv6, missing c=, huge lines, weird codecs, several m-lines, garbage). After each
 * answered call RTP and RTCP go towards every port the gateway announced, so that the relay sends
 * towards whatever the SDP named. Each case gets a precise refusal (400/488 with a reason) or is
 * relayed; the same process answers OPTIONS at the end.
 *
 * Ports: the gateway's relay range is 47400–47599, the test's own sockets 47700–47749.
 */
import { createSocket, type Socket } from 'node:dgram';
import fc from 'fast-check';
import { rtpPacket } from '../media/udp-peer';
import { type CallsGateway, disableTrunks, newAccount, newDestination, newDid, newRoute, newTrunk, newUser, type User } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';
import { type CallResult, mediaOf, SipCaller, SipTrunk } from './sip-agents';

const RTP_MIN = 47400;
const RTP_MAX = 47599;
const TRUNK_IP = '127.0.0.47';
const PORTS = { userSip: 47700, inboundSip: 47701, trunkA: 47702, trunkB: 47703, userRtp: 47710, trunkRtp: 47712, inboundRtp: 47714, fuzzTarget: 47716 };
const CASES = Number(process.env.SDP_FUZZ_CASES ?? 40); // per kind; three kinds
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sdp = (lines: { c?: string | null; m?: string; extra?: string[]; sessionExtra?: string[] } = {}) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    ...(lines.c === null ? [] : [lines.c ?? 'c=IN IP4 127.0.0.1']),
    't=0 0',
    ...(lines.sessionExtra ?? []),
    lines.m ?? `m=audio ${PORTS.fuzzTarget} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    ...(lines.extra ?? []),
    '',
  ].join('\r\n');

const good = (port: number, ip = '127.0.0.1') => sdp({ c: `c=IN IP4 ${ip}`, m: `m=audio ${port} RTP/AVP 0 101` });

async function udp(ip: string, port: number): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('message', () => undefined);
  await new Promise<void>((ok, fail) => {
    s.once('error', fail);
    s.bind(port, ip, () => ok());
  });
  return s;
}

describe('hostile SDP in offers and answers (real gateway process)', () => {
  let gw: GatewayProcess;
  let cg: CallsGateway;
  let user: User;
  let dest: string;
  let did: string;
  let phone: SipCaller;
  let inboundTrunk: SipCaller;
  let fuzzTrunk: SipTrunk;
  let goodTrunk: SipTrunk;
  const sockets: Socket[] = [];
  const trunkIds: string[] = [];
  /** What trunk A answers next: a fuzzed SDP, or a good one. */
  let nextAnswer: string | null = null;

  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: RTP_MIN, rtpMax: RTP_MAX });
    cg = gw.asCallsGateway();
    const accountId = await newAccount(cg, '1000.000000');
    user = await newUser(cg, accountId);
    dest = newDestination();
    // Trunk A answers what the test says; trunk B, tried next, always answers well.
    fuzzTrunk = await SipTrunk.open(PORTS.trunkA, () => ({ status: 200, sdp: nextAnswer ?? good(PORTS.trunkRtp) }));
    goodTrunk = await SipTrunk.open(PORTS.trunkB, () => ({ status: 200, sdp: good(PORTS.trunkRtp) }));
    const a = await newTrunk(cg, { port: PORTS.trunkA });
    const b = await newTrunk(cg, { port: PORTS.trunkB });
    const inbound = await newTrunk(cg, { port: PORTS.inboundSip, host: TRUNK_IP, inboundAddresses: [`${TRUNK_IP}/32`] });
    trunkIds.push(a, b, inbound);
    await newRoute(cg, dest, a, 10);
    await newRoute(cg, dest, b, 20);
    // A trunk's call to this DID is forwarded to `dest` (through trunks A and B), so it opens a relay session.
    did = await newDid(cg, user.id, { mode: 'always', target: dest });
    phone = await SipCaller.open('127.0.0.1', PORTS.userSip);
    inboundTrunk = await SipCaller.open(TRUNK_IP, PORTS.inboundSip + 10);
    sockets.push(await udp('127.0.0.1', PORTS.userRtp), await udp('127.0.0.1', PORTS.trunkRtp), await udp(TRUNK_IP, PORTS.inboundRtp), await udp('127.0.0.1', PORTS.fuzzTarget));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([phone?.close(), inboundTrunk?.close(), fuzzTrunk?.close(), goodTrunk?.close(), ...sockets.map((s) => new Promise<void>((ok) => s.close(() => ok())))]);
    if (cg) await disableTrunks(cg, trunkIds);
    await gw?.stop();
  }, 30_000);

  const fromUser = (offer: string) => phone.invite({ gwPort: gw.sipPort, dialled: dest, from: user.username, sdp: offer, auth: user });
  const fromTrunk = (offer: string) => inboundTrunk.invite({ gwPort: gw.sipPort, dialled: did, from: '+12125550147', sdp: offer });

  /**
   * RTP and RTCP both ways towards the relay ports the gateway announced: to the caller (in the
   * 200) and to the trunk (in the INVITE it got). The relay then sends towards whatever the other
   * side's SDP named: the moment a bad port used to crash the process.
   */
  async function mediaBothWays(r: CallResult, callerSocket: Socket, trunkOffer: string | undefined): Promise<void> {
    const toCaller = mediaOf(r.sdp);
    const toTrunk = trunkOffer ? mediaOf(trunkOffer) : undefined;
    const [, trunkSocket] = sockets;
    // The trunk side first: a caller that sends nothing never latches, so the relay sends where its SDP said.
    for (const [socket, to] of [[trunkSocket, toTrunk], [callerSocket, toCaller]] as const) {
      if (!to || to.port <= 0 || to.port > 65534) continue;
      for (let i = 0; i < 5; i++) {
        socket.send(rtpPacket(i), to.port, '127.0.0.1');
        socket.send(rtpPacket(i), to.port + 1, '127.0.0.1');
      }
      await sleep(50);
    }
    await sleep(100);
  }

  /** One offer case: a precise refusal or a relayed call; the process alive either way. */
  async function offer(kind: 'user' | 'trunk', text: string): Promise<CallResult> {
    nextAnswer = null;
    const before = goodTrunk.offers.length + fuzzTrunk.offers.length;
    const r = kind === 'user' ? await fromUser(text) : await fromTrunk(text);
    if (r.status === 200) {
      const offers = [...fuzzTrunk.offers, ...goodTrunk.offers];
      const trunkOffer = offers.length > before ? fuzzTrunk.offers.at(-1) : undefined;
      await mediaBothWays(r, kind === 'user' ? sockets[0] : sockets[2], trunkOffer);
      await r.hangUp();
    }
    await expectAliveWith(text, r);
    return r;
  }

  /** One answer case: trunk A answers `text`; the call is relayed through A, or A fails and B answers. */
  async function answer(text: string): Promise<{ r: CallResult; via: 'A' | 'B' }> {
    nextAnswer = text;
    const bBefore = goodTrunk.offers.length;
    const r = await fromUser(good(PORTS.userRtp));
    nextAnswer = null;
    const via = goodTrunk.offers.length > bBefore ? 'B' : 'A';
    if (r.status === 200) {
      await mediaBothWays(r, sockets[0], (via === 'A' ? fuzzTrunk : goodTrunk).offers.at(-1));
      await r.hangUp();
    }
    await expectAliveWith(text, r);
    return { r, via };
  }

  async function expectAliveWith(text: string, r: CallResult): Promise<void> {
    if (!(await gw.answersOptions(1500))) {
      throw new Error(`gateway died after SDP (answered ${r.status} ${r.reason}):\n${text}\n--- log tail\n${gw.log().slice(-3000)}`);
    }
  }

  const refused = (r: CallResult, re: RegExp) => {
    expect(r.status).toBe(488);
    expect(r.reason).toMatch(re);
  };

  it('refuses a user offer with m=audio 70000 with 488 naming the port, and survives', async () => {
    refused(await offer('user', sdp({ m: 'm=audio 70000 RTP/AVP 0 101' })), /port 70000/);
  });

  it('refuses m=audio 65535, whose implied RTCP port is 65536', async () => {
    refused(await offer('user', sdp({ m: 'm=audio 65535 RTP/AVP 0 101' })), /RTCP port 65536/);
  });

  it('refuses a=rtcp:99999 and a=rtcp with no port', async () => {
    refused(await offer('user', sdp({ extra: ['a=rtcp:99999'] })), /RTCP port 99999/);
    refused(await offer('user', sdp({ extra: ['a=rtcp:'] })), /RTCP port/);
  });

  it('refuses a trunk offer with a bad port the same way', async () => {
    refused(await offer('trunk', sdp({ c: `c=IN IP4 ${TRUNK_IP}`, m: 'm=audio 70000 RTP/AVP 0' })), /port 70000/);
  });

  it('refuses multicast, broadcast and host-name media addresses with 488', async () => {
    refused(await offer('user', sdp({ c: 'c=IN IP4 224.0.0.1' })), /multicast/);
    refused(await offer('user', sdp({ c: 'c=IN IP4 255.255.255.255' })), /broadcast|reserved/);
    refused(await offer('user', sdp({ c: 'c=IN IP4 media.example.com' })), /not an IPv4 address/);
  });

  it('keeps the RFC 3264 meaning of m=audio 0 and the hold meaning of c=0.0.0.0', async () => {
    nextAnswer = null;
    const rejected = await offer('user', sdp({ m: 'm=audio 0 RTP/AVP 0' }));
    expect(rejected.status).toBe(200);
    expect(fuzzTrunk.offers.at(-1)).toMatch(/^m=audio 0 /m);
    const held = await offer('user', sdp({ c: 'c=IN IP4 0.0.0.0' }));
    expect(held.status).toBe(200);
    expect(fuzzTrunk.offers.at(-1)).toMatch(/^c=IN IP4 0\.0\.0\.0/m);
  });

  it('fails a trunk whose answer has a bad port over to the next trunk, which answers', async () => {
    const { r, via } = await answer(sdp({ m: 'm=audio 70000 RTP/AVP 0' }));
    expect(r.status).toBe(200);
    expect(via).toBe('B');
    const ok = await answer(good(PORTS.trunkRtp));
    expect(ok.r.status).toBe(200);
    expect(ok.via).toBe('A');
  });

  it('survives SIP requests whose Via sends the replies to port 0 or to a host name', async () => {
    const socket = await udp('127.0.0.1', PORTS.fuzzTarget + 2);
    try {
      for (const [method, via] of [
        ['OPTIONS', '127.0.0.1:0'],
        ['INVITE', '127.0.0.1:0'],
        ['REGISTER', '127.0.0.1:0'],
        ['OPTIONS', 'no-such-host.invalid:5060'],
        ['INVITE', 'no-such-host.invalid'],
        ['BYE', '127.0.0.1:0'],
      ]) {
        const text = [
          `${method} sip:${dest}@127.0.0.1:${gw.sipPort} SIP/2.0`,
          `Via: SIP/2.0/UDP ${via};branch=z9hG4bK-via-${Math.random().toString(36).slice(2)}`,
          'Max-Forwards: 70',
          `From: <sip:${user.username}@127.0.0.1>;tag=v1`,
          `To: <sip:${dest}@127.0.0.1>`,
          `Call-ID: via-${Math.random().toString(36).slice(2)}`,
          `CSeq: 1 ${method}`,
          `Contact: <sip:${user.username}@127.0.0.1:0>`,
          ...(method === 'INVITE' ? ['Content-Type: application/sdp'] : []),
          `Content-Length: ${method === 'INVITE' ? Buffer.byteLength(good(PORTS.userRtp)) : 0}`,
          '',
          method === 'INVITE' ? good(PORTS.userRtp) : '',
        ].join('\r\n');
        socket.send(Buffer.from(text), gw.sipPort, '127.0.0.1');
      }
      await sleep(1500);
    } finally {
      socket.close();
    }
    await gw.expectAlive();
  });

  // ------------------------------------------------------------------ generated SDP

  const port = fc.oneof(
    { weight: 4, arbitrary: fc.constant(String(PORTS.fuzzTarget)) },
    { weight: 1, arbitrary: fc.constantFrom('0', '1', '65534', '65535', '65536', '70000', '99999', '-1', 'abc', '', '4294967296', '1e3', '0x10') },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 200_000 }).map(String) },
  );
  const address = fc.oneof(
    { weight: 4, arbitrary: fc.constant('IN IP4 127.0.0.1') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'IN IP4 0.0.0.0',
        'IN IP4 224.0.0.1',
        'IN IP4 239.255.255.250',
        'IN IP4 255.255.255.255',
        'IN IP4 0.1.2.3',
        'IN IP4 240.0.0.1',
        'IN IP4 999.1.1.1',
        'IN IP4 host.example',
        'IN IP6 ::1',
        'IN IP6 ::',
        'IN IP6 2001:db8::1',
        'IN IP4 127.0.0.1/127',
        'IN IP4',
        'XX YY ZZ',
      ),
    },
    { weight: 1, arbitrary: fc.ipV4().map((ip) => `IN IP4 ${ip}`) },
  );
  const codecs = fc.array(fc.oneof(fc.integer({ min: 0, max: 127 }), fc.integer({ min: 128, max: 100_000 })), { minLength: 0, maxLength: 6 });
  const attribute = fc.oneof(
    port.map((p) => `a=rtcp:${p}`),
    fc.tuple(port, address).map(([p, a]) => `a=rtcp:${p} ${a}`),
    fc.constant('a=rtcp-mux'),
    fc.constantFrom('a=sendonly', 'a=recvonly', 'a=inactive', 'a=sendrecv'),
    fc.tuple(fc.integer({ min: 0, max: 300 }), fc.string({ maxLength: 20 }), fc.integer({ min: -1, max: 10_000_000 })).map(([pt, name, rate]) => `a=rtpmap:${pt} ${name}/${rate}`),
    fc.tuple(fc.ipV4(), port).map(([ip, p]) => `a=candidate:1 1 udp 2130706431 ${ip} ${p} typ host`),
    fc.constant('a=ice-ufrag:abcd'),
    fc.integer({ min: 100, max: 1200 }).map((n) => `a=x-huge:${'A'.repeat(n)}`),
    fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, ' ')),
  );
  const mLine = fc.tuple(fc.constantFrom('audio', 'video', 'application', 'audio', 'image', ''), port, fc.constantFrom('RTP/AVP', 'RTP/SAVP', 'UDP/TLS/RTP/SAVPF', 'udptl', 'TCP/RTP/AVP', 'X'), codecs).map(
    ([type, p, proto, pts]) => `m=${type} ${p} ${proto} ${pts.join(' ')}`,
  );
  const media = fc.tuple(mLine, fc.option(address, { nil: undefined }), fc.array(attribute, { maxLength: 5 })).map(([m, c, attrs]) => [m, ...(c ? [`c=${c}`] : []), ...attrs].join('\r\n'));
  const anything = fc.tuple(fc.option(address, { nil: undefined }), fc.array(media, { minLength: 0, maxLength: 3 }), fc.array(attribute, { maxLength: 2 })).map(([c, ms, session]) =>
    ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', ...(c ? [`c=${c}`] : []), 't=0 0', ...session, ...ms, ''].join('\r\n'),
  );
  // Mostly well-formed: one audio stream, then a hostile detail or a few, so that many calls reach the relay.
  const plausible = fc
    .tuple(port, fc.option(address, { nil: undefined }), codecs, fc.array(attribute, { maxLength: 3 }), fc.array(media, { maxLength: 2 }))
    .map(([p, c, pts, attrs, more]) =>
      ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', `c=${c ?? 'IN IP4 127.0.0.1'}`, 't=0 0', `m=audio ${p} RTP/AVP ${pts.length > 0 ? pts.join(' ') : '0'}`, ...attrs, ...more, ''].join('\r\n'),
    );
  const generatedSdp = fc.oneof({ weight: 1, arbitrary: anything }, { weight: 2, arbitrary: plausible });

  /** Every generated case ends as a relayed call or a precise refusal, never a silence or a 5xx. */
  const expectPrecise = (r: CallResult, text: string) => {
    if (![200, 400, 488].includes(r.status) || (r.status !== 200 && !/\(.+\)/.test(r.reason))) {
      throw new Error(`unexpected ${r.status} ${r.reason} for SDP:\n${text}`);
    }
  };

  it(`generated offers from a user and from a trunk: ${CASES} each`, async () => {
    const samples = fc.sample(generatedSdp, { numRuns: CASES, seed: Number(process.env.SDP_FUZZ_SEED ?? 11) });
    const statuses: number[] = [];
    for (const [i, text] of samples.entries()) {
      const user = await offer('user', text);
      expectPrecise(user, text);
      const trunk = await offer('trunk', text.replace(/127\.0\.0\.1/g, i % 2 ? TRUNK_IP : '127.0.0.1'));
      expectPrecise(trunk, text);
      statuses.push(user.status, trunk.status);
    }
    // The generator reaches both outcomes: some SDP is relayed, some refused.
    expect(statuses).toContain(200);
    expect(statuses).toContain(488);
    if (process.env.SDP_FUZZ_REPORT) console.log(`offers: ${statuses.filter((s) => s === 200).length} relayed, ${statuses.filter((s) => s === 488).length} refused 488, ${statuses.filter((s) => s === 400).length} refused 400`);
    await gw.expectAlive();
  }, 80_000);

  it(`generated answers from a trunk: ${CASES}, each relayed or failed over`, async () => {
    const samples = fc.sample(generatedSdp, { numRuns: CASES, seed: Number(process.env.SDP_FUZZ_SEED ?? 12) });
    const vias: string[] = [];
    for (const text of samples) {
      const { r, via } = await answer(text);
      if (r.status !== 200) throw new Error(`answer case ended ${r.status} ${r.reason} for SDP:\n${text}`);
      vias.push(via);
    }
    // Some answers were relayed from trunk A, some made the call fail over to trunk B.
    expect(vias).toContain('A');
    expect(vias).toContain('B');
    if (process.env.SDP_FUZZ_REPORT) console.log(`answers: ${vias.filter((v) => v === 'A').length} relayed, ${vias.filter((v) => v === 'B').length} failed over`);
    await gw.expectAlive();
  }, 60_000);
});
