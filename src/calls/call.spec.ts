/**
 * The call state machine (call.ts) driven through its seams: a fake `CallHost` (records CDRs, keeps
 * the leg keys, routes in-dialog requests, CANCELs, ACKs and stray answers to the call the way
 * calls.service.ts does), a `LegSip` whose transaction layer is the real `TransactionLayer` over a
 * fake transport that records every message and lets the spec inject the peers' messages, the real
 * `UacLeg`/`UasLeg`, and a real `MediaRelay` on 127.0.0.1:49400-49499 (loopback allowed, its own
 * inactivity timer off: the spec calls the session's `checkActivity` itself).
 *
 * Time is Jest's fake clock (setTimeout and Date): ring, setup, transaction and credit timers run
 * when the spec advances it, so nothing waits for real. Every message goes through serialize and
 * parse, so the assertions read what the wire would carry.
 *
 * Failover is decided by calls.service.ts with `failsOver` (call-policy.ts) on the Call's ring
 * outcome: `ringTrunks` below is that loop in miniature, so those cases test Call and call-policy together.
 */
import type { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import type { CallSummary } from '../billing/cdrs.service';
import type { Reservation } from '../billing/credit-control.service';
import { BuiltinSession, MediaRelay, type RelaySession } from '../media';
import {
  AnswerRetransmission,
  DEFAULT_TIMERS,
  type Inbound,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type Target,
  TransactionLayer,
  type TransportPort,
  createCancel,
  createRequest,
  createResponse,
  createVia,
  newBranch,
  newTag,
  parseMessage,
  serialize,
  systemClock,
} from '../sip';
import { Call, type CallFacts, type CallHost, type RingOutcome, type RingTarget } from './call';
import { CallMetrics } from './call-metrics';
import { failsOver } from './call-policy';
import type { LegSip } from './leg';
import { stampedTarget } from '../sip/transport/nat';
import type { UacLeg } from './uac-leg';
import { UasLeg } from './uas-leg';
import { BrowserPeer, rtp, toneFrame } from '../../test/webrtc-media/browser-peer';
import { UdpPeer, sdpFor } from '../../test/media/udp-peer';

const GW = { host: '127.0.0.1', port: 5060 };
const CALLER = 5070;
const DEVICE_1 = 5081;
const DEVICE_2 = 5082;
const TRUNK_A = 5091;
const TRUNK_B = 5092;
const RING_MS = 120_000;
const SETUP_MS = 4_000;
const T0 = new Date('2026-01-05T10:00:00.000Z');

const sdp = (port: number) => ['v=0', `o=- 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
const SDP_TYPE = { name: 'Content-Type', value: 'application/sdp' };

function wire<M extends SipMessage>(message: M): M {
  const parsed = parseMessage(serialize(message));
  if (!parsed.ok) throw new Error(`unparsable message: ${parsed.error.reason}`);
  return parsed.value as M;
}

interface Sent {
  message: SipMessage;
  /** Where a request (or ACK) went; responses follow their Via and have none. */
  to?: Target;
}

/** Records what the stack sends; `deliver` hands it what a peer sends, from 127.0.0.1:`port`. */
class FakeTransport implements TransportPort {
  readonly sent: Sent[] = [];
  private listener?: (inbound: Inbound) => void;

  onMessage(listener: (inbound: Inbound) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }

  async send(message: SipMessage, target: Target): Promise<void> {
    this.sent.push({ message: wire(message), to: target });
  }

  async sendResponse(response: SipResponse): Promise<void> {
    this.sent.push({ message: wire(response) });
  }

  deliver(message: SipMessage, port: number): void {
    this.listener?.({ message: wire(message), source: { address: '127.0.0.1', port, transport: 'UDP', local: { address: GW.host, port: GW.port } } });
  }
}

/** The wiring calls.service.ts gives a Call, over the fake transport. */
class Harness {
  readonly transport = new FakeTransport();
  readonly layer = new TransactionLayer(this.transport);
  readonly record = jest.fn<Promise<void>, [CallSummary, Call]>(async () => undefined);
  readonly ended = jest.fn<void, [Call]>();
  /** The answer hook (the CDR start record), with what the call says at that moment. */
  readonly answered = jest.fn<void, [Call]>((call) => void this.atAnswer.push({ summary: call.answeredSummary(), channel: call.trunkChannel }));
  readonly atAnswer: { summary: CallSummary | undefined; channel: string | undefined }[] = [];
  readonly log = { error: jest.fn(), warn: jest.fn(), log: jest.fn(), debug: jest.fn() };
  readonly calls: Call[] = [];
  private readonly legs = new Map<string, Call>();
  private readonly uacLegs = new Map<string, UacLeg>();
  private readonly byInvite = new Map<object, Call>();
  readonly sip: LegSip = {
    transactionLayer: this.layer,
    sendStateless: (message, target) => this.transport.send(message, target),
    newVia: (transport) => createVia({ transport, host: GW.host, port: GW.port, params: new Map<string, string | null>([['branch', newBranch()], ['rport', null]]) }),
    contact: () => `<sip:gw@${GW.host}:${GW.port}>`,
    retransmitAnswer: (response, reliable, onGiveUp) => {
      const target = this.layer.replyTargetFor(response) ?? stampedTarget(response.via[0]);
      const r = new AnswerRetransmission(this.transport, response, DEFAULT_TIMERS, systemClock, onGiveUp, target);
      r.start(reliable);
      return r;
    },
    allowed: () => ['ACK', 'BYE', 'CANCEL', 'INFO', 'INVITE', 'OPTIONS', 'UPDATE'],
  };
  readonly host: CallHost = {
    sip: this.sip,
    log: this.log as unknown as Logger,
    metrics: new CallMetrics(new Registry()),
    register: (key, call, leg) => {
      this.legs.set(key, call);
      if (leg) this.uacLegs.set(key, leg);
    },
    // calls.service keeps a finished leg's key a while for stray retransmissions; here it stays.
    unregister: () => undefined,
    record: this.record,
    answered: this.answered,
    ended: this.ended,
  };

  constructor(private readonly facts: () => CallFacts) {
    this.layer.onRequest((incoming) => {
      const { request } = incoming;
      if (request.method === 'INVITE' && !request.to.params.has('tag')) {
        const call = new Call(this.host, new UasLeg(this.sip, incoming, newTag()), this.facts());
        this.calls.push(call);
        this.byInvite.set(incoming.transaction, call);
        this.host.register(call.caller.key, call);
        return;
      }
      if (request.method === 'CANCEL') {
        const tx = this.layer.inviteFor(request);
        const call = tx && this.byInvite.get(tx);
        call?.callerCancelled();
        incoming.transaction.respond(createResponse(request, call ? 200 : 481));
        return;
      }
      const key = `${request.callId}|${request.to.params.get('tag') ?? ''}`;
      const call = this.legs.get(key);
      if (!call) {
        incoming.transaction.respond(createResponse(request, 481));
        return;
      }
      void call.inDialog(key, incoming).then((response) => incoming.transaction.respond(response));
    });
    this.layer.onAck(({ message }) => {
      if (message.kind !== 'request') return;
      const key = `${message.callId}|${message.to.params.get('tag') ?? ''}`;
      this.legs.get(key)?.acknowledged(key);
    });
    this.layer.onStrayResponse(({ message }) => {
      if (message.kind !== 'response' || message.status < 200 || message.status >= 300) return;
      this.uacLegs.get(`${message.callId}|${message.from.params.get('tag') ?? ''}`)?.strayAnswer(message);
    });
  }

  /** Requests (and ACKs) sent to 127.0.0.1:`port`, retransmissions left out, as "METHOD cseq". */
  requestsTo(port: number): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const { message, to } of this.transport.sent) {
      if (message.kind !== 'request' || to?.port !== port) continue;
      const id = `${message.method} ${message.cseq.seq} ${message.via[0].branch}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(`${message.method} ${message.cseq.seq}`);
    }
    return out;
  }

  /** Responses the gateway sent in dialog `callId`, retransmissions left out, as "status CSEQ-METHOD cseq". */
  responsesIn(callId: string): string[] {
    const seen = new Set<string>();
    for (const { message } of this.transport.sent) {
      if (message.kind === 'response' && message.callId === callId) seen.add(`${message.status} ${message.cseq.method} ${message.cseq.seq}`);
    }
    return [...seen];
  }

  /** The last (or first) request of `method` sent to `port`. */
  sentRequest(port: number, method: string, which: 'first' | 'last' = 'last'): SipRequest {
    const found = this.transport.sent.filter((s) => s.to?.port === port && s.message.kind === 'request' && s.message.method === method);
    if (found.length === 0) throw new Error(`no ${method} sent to ${port}; sent there: ${this.requestsTo(port).join(', ')}`);
    return found[which === 'first' ? 0 : found.length - 1].message as SipRequest;
  }

  /** The first response with `status` the gateway sent to `request`. */
  response(request: SipRequest, status: number): SipResponse | undefined {
    return this.transport.sent.map((s) => s.message).find((m): m is SipResponse => m.kind === 'response' && m.callId === request.callId && m.status === status && m.cseq.seq === request.cseq.seq);
  }

  /** The callee at `port` answers our last INVITE there (2xx with Contact and SDP). */
  answerFrom(port: number, status: number, body?: string): void {
    const invite = this.sentRequest(port, 'INVITE');
    const headers = status >= 200 && status < 300 ? [{ name: 'Contact', value: `<sip:callee@127.0.0.1:${port}>` }] : [];
    if (body) headers.push(SDP_TYPE);
    this.transport.deliver(createResponse(invite, status, { toTag: `tag-${port}`, headers, body: body ? Buffer.from(body) : undefined }), port);
  }

  /** A request the callee at `port` sends in the dialog we set up with it. */
  calleeRequest(port: number, method: string, cseq: number, body?: string): SipRequest {
    const invite = this.sentRequest(port, 'INVITE', 'first');
    return createRequest({
      method,
      uri: `sip:gw@${GW.host}:${GW.port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${port};branch=${newBranch()}`,
      from: `${invite.headers.find((h) => h.name === 'To')!.value};tag=tag-${port}`,
      to: invite.headers.find((h) => h.name === 'From')!.value,
      callId: invite.callId,
      cseq,
      contact: `<sip:callee@127.0.0.1:${port}>`,
      headers: body ? [SDP_TYPE] : [],
      body: body ? Buffer.from(body) : undefined,
    });
  }
}

let relay: MediaRelay;
let h: Harness;
let facts: CallFacts;
let sessions: RelaySession[];
let callerInvite: SipRequest;

beforeAll(() => {
  relay = new MediaRelay({ publicAddress: '127.0.0.1', bindAddress: '127.0.0.1', portMin: 49400, portMax: 49499, inactivityTimeoutMs: 0, allowLoopback: true });
});

afterAll(async () => {
  await relay.close();
});

beforeEach(() => {
  // Sockets (the relay's) and promises keep running for real; timers and Date are the spec's.
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setInterval', 'clearInterval'], now: T0 });
  facts = { direction: 'outbound', accountId: 'acct-1', userId: 'user-1', caller: '+12025550199', dialed: '+12025550100', callee: '+12025550100' };
  h = new Harness(() => facts);
  sessions = [];
});

afterEach(async () => {
  // No leg event may have thrown inside the SIP receive path.
  expect(h.log.error).not.toHaveBeenCalled();
  h.layer.close();
  jest.clearAllTimers();
  jest.useRealTimers();
  await Promise.all(sessions.map((s) => s.close()));
});

/** Lets promises and the timers due within `ms` run. */
const tick = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

/** The caller (127.0.0.1:5070) sends its INVITE; the Call is built and joined to a relay session as the flow does. */
async function newCall(callerSdp = sdp(40000)): Promise<{ call: Call; session: RelaySession }> {
  callerInvite = createRequest({
    method: 'INVITE',
    uri: 'sip:+12025550100@127.0.0.1',
    via: `SIP/2.0/UDP 127.0.0.1:${CALLER};branch=${newBranch()};rport`,
    from: '<sip:alice@127.0.0.1>;tag=caller-tag',
    to: '<sip:+12025550100@127.0.0.1>',
    callId: `caller-${newTag()}@127.0.0.1`,
    cseq: 1,
    contact: `<sip:alice@127.0.0.1:${CALLER}>`,
    headers: [SDP_TYPE],
    body: Buffer.from(callerSdp),
  });
  h.transport.deliver(callerInvite, CALLER);
  const call = h.calls[h.calls.length - 1];
  const session = await relay.openSession(call.id);
  sessions.push(session);
  await call.attachMedia(new BuiltinSession(session));
  return { call, session };
}

/** To the caller: its Call-ID's responses ("status METHOD cseq"), the provisional 100 included. */
const toCaller = () => h.responsesIn(callerInvite.callId);

/** A request the caller sends in the dialog the gateway answered. */
function callerRequest(method: string, cseq: number, body?: string): SipRequest {
  const ok = h.transport.sent.find((s) => s.message.kind === 'response' && s.message.callId === callerInvite.callId && s.message.status === 200)!.message as SipResponse;
  return createRequest({
    method,
    uri: `sip:gw@${GW.host}:${GW.port}`,
    via: `SIP/2.0/UDP 127.0.0.1:${CALLER};branch=${newBranch()};rport`,
    from: '<sip:alice@127.0.0.1>;tag=caller-tag',
    to: ok.headers.find((x) => x.name === 'To')!.value,
    callId: callerInvite.callId,
    cseq,
    contact: `<sip:alice@127.0.0.1:${CALLER}>`,
    headers: body ? [SDP_TYPE] : [],
    body: body ? Buffer.from(body) : undefined,
  });
}

const ACK_FROM_CALLER = () => {
  const ok = h.transport.sent.find((s) => s.message.kind === 'response' && s.message.callId === callerInvite.callId && s.message.status === 200)!.message as SipResponse;
  return createRequest({
    method: 'ACK',
    uri: `sip:gw@${GW.host}:${GW.port}`,
    via: `SIP/2.0/UDP 127.0.0.1:${CALLER};branch=${newBranch()};rport`,
    from: '<sip:alice@127.0.0.1>;tag=caller-tag',
    to: ok.headers.find((x) => x.name === 'To')!.value,
    callId: callerInvite.callId,
    cseq: 1,
  });
};

function trunk(port: number, name: string): RingTarget & { release: jest.Mock } {
  return {
    trunkId: `trunk-${name}`,
    trunkName: name,
    release: jest.fn(async () => undefined),
    legs: [{ target: { host: '127.0.0.1', port, transport: 'UDP' }, requestUri: `sip:+12025550100@127.0.0.1:${port}`, from: '<sip:+12025550199@127.0.0.1>', to: `<sip:+12025550100@127.0.0.1:${port}>`, setupTimeoutMs: SETUP_MS }],
  };
}

function devices(...ports: number[]): RingTarget {
  return {
    userId: 'user-2',
    legs: ports.map((port) => ({ target: { host: '127.0.0.1', port, transport: 'UDP' as const }, requestUri: `sip:bob@127.0.0.1:${port}`, from: '<sip:+12025550199@127.0.0.1>', to: '<sip:bob@127.0.0.1>' })),
  };
}

/** calls.service.ts `ringTrunks` in miniature: `failsOver` (call-policy.ts) decides on each failed ring outcome. */
async function ringTrunks(call: Call, targets: RingTarget[]): Promise<RingOutcome | undefined> {
  for (const target of targets) {
    const outcome = await call.ring(target, RING_MS);
    if (outcome.kind === 'answered') return outcome;
    if (outcome.kind !== 'failed' || !failsOver(outcome.status, outcome.origin)) {
      if (outcome.kind === 'failed') call.reject(outcome.status, outcome.reason);
      else if (outcome.kind === 'cancelled') call.reject(487, 'Request Terminated');
      else call.reject(408, 'Request Timeout (no answer)', { disposition: 'noAnswer' });
      return outcome;
    }
  }
  call.reject(503, 'Service Unavailable (no trunk could take the call)', { disposition: 'failed' });
  return undefined;
}

const records = () => h.record.mock.calls.map(([s]) => s);
const brief = (s: CallSummary) => ({ trunkId: s.trunkId, disposition: s.disposition, sipCode: s.sipCode, hangupBy: s.hangupBy });

/** Rings one trunk and has it answer; the caller ACKs. */
async function answeredCall(reservation?: Reservation): Promise<{ call: Call; session: RelaySession }> {
  if (reservation) facts.reservation = reservation;
  const started = await newCall();
  const flow = ringTrunks(started.call, [trunk(TRUNK_A, 'A')]);
  await tick();
  h.answerFrom(TRUNK_A, 180);
  await tick(2_000);
  h.answerFrom(TRUNK_A, 200, sdp(40010));
  await expect(flow).resolves.toEqual({ kind: 'answered' });
  h.transport.deliver(ACK_FROM_CALLER(), CALLER);
  await tick();
  expect(started.call.state).toBe('answered');
  return started;
}

describe('Call: forking', () => {
  it('bridges the first 2xx, CANCELs the other fork, and ACKs then BYEs its late 2xx', async () => {
    const { call, session } = await newCall();
    const outcome = call.ring(devices(DEVICE_1, DEVICE_2), RING_MS);
    await tick();
    expect(h.requestsTo(DEVICE_1)).toEqual(['INVITE 1']);
    expect(h.requestsTo(DEVICE_2)).toEqual(['INVITE 1']);
    // The callees get the relay's side-b address, not the caller's.
    expect(h.sentRequest(DEVICE_1, 'INVITE').body.toString()).toContain(`m=audio ${session.ports('b').rtpPort} `);
    h.answerFrom(DEVICE_1, 180);
    h.answerFrom(DEVICE_2, 180);
    await tick(1_000);
    h.answerFrom(DEVICE_1, 200, sdp(40010));
    await expect(outcome).resolves.toEqual({ kind: 'answered' });
    expect(h.requestsTo(DEVICE_1)).toEqual(['INVITE 1', 'ACK 1']);
    expect(h.requestsTo(DEVICE_2)).toEqual(['INVITE 1', 'CANCEL 1']);
    expect(toCaller()).toEqual(['100 INVITE 1', '180 INVITE 1', '200 INVITE 1']);
    // The caller's 200 carries the relay's side-a address.
    expect(h.response(callerInvite, 200)!.body.toString()).toContain(`m=audio ${session.ports('a').rtpPort} `);

    // Device 2 answered while our CANCEL crossed its 2xx: ACK it, then BYE it.
    h.answerFrom(DEVICE_2, 200, sdp(40020));
    await tick();
    expect(h.requestsTo(DEVICE_2)).toEqual(['INVITE 1', 'CANCEL 1', 'ACK 1', 'BYE 2']);
    expect(call.callee?.peer.port).toBe(DEVICE_1);
    expect(call.state).toBe('answered');
    expect(h.requestsTo(DEVICE_1)).toEqual(['INVITE 1', 'ACK 1']);
    expect(h.requestsTo(CALLER)).toEqual([]);
  });

  it('keeps the bridged callee when its 2xx is retransmitted (our ACK lost): re-ACK only, no BYE', async () => {
    const { call } = await newCall();
    const outcome = call.ring(devices(DEVICE_1), RING_MS);
    await tick();
    h.answerFrom(DEVICE_1, 200, sdp(40010));
    await expect(outcome).resolves.toEqual({ kind: 'answered' });
    h.answerFrom(DEVICE_1, 200, sdp(40010)); // the same 2xx again
    await tick();
    // Each ACK for a 2xx is a transaction of its own (new branch): the second is the re-ACK.
    expect(h.requestsTo(DEVICE_1)).toEqual(['INVITE 1', 'ACK 1', 'ACK 1']);
    expect(call.state).toBe('answered');
    expect(call.callee?.state).toBe('confirmed');
  });

  it('answers the best failure when every fork fails (486 over 480), in one CDR for the attempt', async () => {
    const { call } = await newCall();
    const outcome = call.ring(devices(DEVICE_1, DEVICE_2), RING_MS);
    await tick();
    h.answerFrom(DEVICE_1, 480);
    h.answerFrom(DEVICE_2, 486);
    await expect(outcome).resolves.toMatchObject({ kind: 'failed', status: 486 });
    call.reject(486, 'Busy Here', { disposition: 'busy' });
    expect(toCaller()).toEqual(['100 INVITE 1', '486 INVITE 1']);
    expect(records().map(brief)).toEqual([{ trunkId: null, disposition: 'busy', sipCode: 486, hangupBy: null }]);
  });
});

describe('Call: failover (Call ring outcome + failsOver of call-policy.ts)', () => {
  it.each([
    [408, 'noAnswer'],
    [500, 'failed'],
    [503, 'failed'],
  ])('moves to the next trunk on %i, one CDR per attempt (%s)', async (status, disposition) => {
    const { call } = await newCall();
    const a = trunk(TRUNK_A, 'A');
    const flow = ringTrunks(call, [a, trunk(TRUNK_B, 'B')]);
    await tick();
    h.answerFrom(TRUNK_A, 100);
    h.answerFrom(TRUNK_A, status);
    await tick();
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1']);
    expect(a.release).toHaveBeenCalledTimes(1);
    h.answerFrom(TRUNK_B, 200, sdp(40010));
    await expect(flow).resolves.toEqual({ kind: 'answered' });
    expect(h.requestsTo(TRUNK_B)).toEqual(['INVITE 1', 'ACK 1']);
    // The failed attempt is written when the next one starts; the answered one when the call ends.
    expect(records().map(brief)).toEqual([{ trunkId: 'trunk-A', disposition, sipCode: status, hangupBy: null }]);
    call.hangup('gateway', 'test over');
    expect(records().map(brief)).toEqual([
      { trunkId: 'trunk-A', disposition, sipCode: status, hangupBy: null },
      { trunkId: 'trunk-B', disposition: 'answered', sipCode: 200, hangupBy: 'gateway' },
    ]);
    expect(records()[1].startedAt.getTime()).toBeGreaterThanOrEqual(records()[0].endedAt.getTime());
  });

  it('moves to the next trunk when the first sends nothing within the setup timeout (no CANCEL: nothing to cancel)', async () => {
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A'), trunk(TRUNK_B, 'B')]);
    await tick(SETUP_MS - 1);
    expect(h.requestsTo(TRUNK_B)).toEqual([]);
    await tick(1);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1']);
    expect(h.requestsTo(TRUNK_B)).toEqual(['INVITE 1']);
    h.answerFrom(TRUNK_B, 200, sdp(40010));
    await expect(flow).resolves.toEqual({ kind: 'answered' });
    expect(records().map(brief)).toEqual([{ trunkId: 'trunk-A', disposition: 'failed', sipCode: 408, hangupBy: null }]);
    expect(records()[0].sipReason).toBe('Request Timeout (no response)');
  });

  it('moves to the next trunk on the transaction timeout (Timer B) when no setup timeout is set', async () => {
    const { call } = await newCall();
    const a = trunk(TRUNK_A, 'A');
    const flow = ringTrunks(call, [{ ...a, legs: [{ ...a.legs[0], setupTimeoutMs: undefined }] }, trunk(TRUNK_B, 'B')]);
    await tick(64 * DEFAULT_TIMERS.t1 - 1);
    expect(h.requestsTo(TRUNK_B)).toEqual([]);
    await tick(1);
    expect(h.requestsTo(TRUNK_B)).toEqual(['INVITE 1']);
    h.answerFrom(TRUNK_B, 503);
    await expect(flow).resolves.toBeUndefined();
    expect(toCaller()).toEqual(['100 INVITE 1', '503 INVITE 1']);
    expect(records().map(brief)).toEqual([
      { trunkId: 'trunk-A', disposition: 'failed', sipCode: 408, hangupBy: null },
      { trunkId: 'trunk-B', disposition: 'failed', sipCode: 503, hangupBy: null },
    ]);
  });

  it.each([
    [404, 'failed'],
    [486, 'busy'],
    [403, 'rejected'],
    [603, 'rejected'],
    [600, 'busy'],
  ])('does not fail over on %i: the caller gets it, one CDR (%s)', async (status, disposition) => {
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A'), trunk(TRUNK_B, 'B')]);
    await tick();
    h.answerFrom(TRUNK_A, status);
    await expect(flow).resolves.toMatchObject({ kind: 'failed', status, origin: 'network' });
    expect(h.requestsTo(TRUNK_B)).toEqual([]);
    expect(toCaller()).toEqual(['100 INVITE 1', `${status} INVITE 1`]);
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ trunkId: 'trunk-A', disposition, sipCode: status });
    expect(call.state).toBe('ended');
    expect(h.ended).toHaveBeenCalledWith(call);
  });
});

describe('Call: CANCEL from the caller', () => {
  it('before any provisional response: 200 and 487 to the caller, no CANCEL downstream until the callee sends one (RFC 3261 §9.1)', async () => {
    const { call } = await newCall();
    const a = trunk(TRUNK_A, 'A');
    const flow = ringTrunks(call, [a, trunk(TRUNK_B, 'B')]);
    await tick();
    const cancel = createCancel(callerInvite);
    h.transport.deliver(cancel, CALLER);
    await expect(flow).resolves.toEqual({ kind: 'cancelled' });
    expect(toCaller().sort()).toEqual(['100 INVITE 1', '200 CANCEL 1', '487 INVITE 1']);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1']);
    // Neither the setup timeout nor a retransmission sends a CANCEL on its own.
    await tick(SETUP_MS + 1_000);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1']);
    h.answerFrom(TRUNK_A, 180);
    await tick();
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'CANCEL 1']);
    h.answerFrom(TRUNK_A, 487);
    await tick();
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'CANCEL 1', 'ACK 1']);
    expect(h.requestsTo(TRUNK_B)).toEqual([]);
    // The 180 after the CANCEL is not relayed.
    expect(toCaller().sort()).toEqual(['100 INVITE 1', '200 CANCEL 1', '487 INVITE 1']);
    expect(records().map(brief)).toEqual([{ trunkId: 'trunk-A', disposition: 'cancelled', sipCode: 487, hangupBy: 'caller' }]);
    expect(a.release).toHaveBeenCalledTimes(1);
  });

  it('after a provisional response: CANCEL downstream at once, one cancelled CDR', async () => {
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A')]);
    await tick();
    h.answerFrom(TRUNK_A, 183, sdp(40010));
    await tick();
    expect(toCaller()).toEqual(['100 INVITE 1', '183 INVITE 1']);
    h.transport.deliver(createCancel(callerInvite), CALLER);
    await expect(flow).resolves.toEqual({ kind: 'cancelled' });
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'CANCEL 1']);
    expect(toCaller().sort()).toEqual(['100 INVITE 1', '183 INVITE 1', '200 CANCEL 1', '487 INVITE 1']);
    h.answerFrom(TRUNK_A, 487);
    await tick();
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'CANCEL 1', 'ACK 1']);
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ disposition: 'cancelled', sipCode: 487, hangupBy: 'caller', answeredAt: null, ringingAt: T0 });
  });

  it('after the answer has no effect: the call stays up', async () => {
    const { call } = await answeredCall();
    call.callerCancelled();
    expect(call.state).toBe('answered');
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1']);
  });
});

describe('Call: no answer', () => {
  it('CANCELs the ringing callee when the ring timeout passes', async () => {
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A')]);
    await tick();
    h.answerFrom(TRUNK_A, 180);
    await tick(RING_MS - 1);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1']);
    await tick(1);
    await expect(flow).resolves.toEqual({ kind: 'noAnswer' });
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'CANCEL 1']);
    expect(toCaller()).toEqual(['100 INVITE 1', '180 INVITE 1', '408 INVITE 1']);
    expect(records().map(brief)).toEqual([{ trunkId: 'trunk-A', disposition: 'noAnswer', sipCode: 408, hangupBy: null }]);
  });
});

describe('Call: re-INVITE', () => {
  it('answers 491 to a re-INVITE that crosses one it is passing on (glare), then completes the first', async () => {
    const { session } = await answeredCall();
    h.transport.deliver(callerRequest('INVITE', 2, sdp(40002)), CALLER);
    await tick();
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1', 'INVITE 2']);
    const fromCallee = h.calleeRequest(TRUNK_A, 'INVITE', 7, sdp(40012));
    h.transport.deliver(fromCallee, TRUNK_A);
    await tick();
    expect(h.responsesIn(fromCallee.callId)).toEqual(['100 INVITE 7', '491 INVITE 7']);
    expect(h.requestsTo(CALLER)).toEqual([]); // the callee's offer went nowhere
    // The caller's re-INVITE completes: 200 from the trunk is ACKed, 200 with the relay's SDP to the caller.
    h.transport.deliver(createResponse(h.sentRequest(TRUNK_A, 'INVITE'), 200, { toTag: `tag-${TRUNK_A}`, headers: [{ name: 'Contact', value: `<sip:callee@127.0.0.1:${TRUNK_A}>` }, SDP_TYPE], body: Buffer.from(sdp(40014)) }), TRUNK_A);
    await tick();
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1', 'INVITE 2', 'ACK 2']);
    expect(toCaller()).toEqual(['100 INVITE 1', '180 INVITE 1', '200 INVITE 1', '100 INVITE 2', '200 INVITE 2']);
    const reanswer = h.transport.sent.map((s) => s.message).filter((m) => m.kind === 'response' && m.callId === callerInvite.callId && m.cseq.seq === 2 && m.status === 200);
    expect(reanswer[0].body.toString()).toContain(`m=audio ${session.ports('a').rtpPort} `);
    // Glare over: the callee's retry is passed to the caller.
    h.transport.deliver(h.calleeRequest(TRUNK_A, 'INVITE', 8, sdp(40012)), TRUNK_A);
    await tick();
    expect(h.requestsTo(CALLER)).toEqual(['INVITE 1']);
  });

  it('passes a 491 from the far side back to the re-INVITE sender', async () => {
    await answeredCall();
    h.transport.deliver(callerRequest('INVITE', 2, sdp(40002)), CALLER);
    await tick();
    h.transport.deliver(createResponse(h.sentRequest(TRUNK_A, 'INVITE'), 491, { toTag: `tag-${TRUNK_A}` }), TRUNK_A);
    await tick();
    expect(toCaller()).toContain('491 INVITE 2');
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1', 'INVITE 2', 'ACK 2']); // the 491 is ACKed by its transaction
  });
});

describe('Call: timers', () => {
  const reservation = { id: 'res-1', accountId: 'acct-1', destination: '+12025550100', rate: { prefix: '1202' }, maxSeconds: 30, held: '0.30', currency: 'USD' } as unknown as Reservation;

  it('sends BYE to both sides when the credit runs out (maximum duration), one answered CDR at the granted seconds', async () => {
    const { call } = await answeredCall(reservation);
    call.limitDuration(reservation.maxSeconds); // what calls.service does on the answer
    await tick(30_000 - 1);
    expect(h.requestsTo(CALLER)).toEqual([]);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1']);
    await tick(1);
    expect(h.requestsTo(CALLER)).toEqual(['BYE 1']);
    expect(h.sentRequest(CALLER, 'BYE').callId).toBe(callerInvite.callId);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1', 'BYE 2']);
    expect(call.state).toBe('ended');
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ disposition: 'answered', sipCode: 200, hangupBy: 'gateway', sipReason: 'credit exhausted', durationSeconds: 30, reservation });
  });

  it('sends BYE to both sides after media inactivity once answered, not while ringing', async () => {
    const { call, session } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A')]);
    await tick();
    h.answerFrom(TRUNK_A, 180);
    session.checkActivity(60_000, 60_000); // silence while ringing: reported, ignored
    await tick();
    expect(call.state).toBe('ringing');
    h.answerFrom(TRUNK_A, 200, sdp(40010));
    await expect(flow).resolves.toEqual({ kind: 'answered' });
    session.checkActivity(59_999, 60_000);
    expect(call.state).toBe('answered');
    session.checkActivity(1, 60_000);
    expect(call.state).toBe('ended');
    expect(h.requestsTo(CALLER)).toEqual(['BYE 1']);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1', 'BYE 2']);
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ disposition: 'answered', hangupBy: 'gateway', sipReason: 'media timeout' });
  });
});

describe('Call: hang-up', () => {
  it('a BYE from the caller gets 200 and is passed to the callee as BYE', async () => {
    const { call } = await answeredCall();
    await tick(42_000);
    const bye = callerRequest('BYE', 2);
    h.transport.deliver(bye, CALLER);
    await tick();
    expect(toCaller()).toContain('200 BYE 2');
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1', 'BYE 2']);
    expect(h.requestsTo(CALLER)).toEqual([]);
    expect(call.state).toBe('ended');
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ disposition: 'answered', hangupBy: 'caller', sipReason: 'normal clearing', durationSeconds: 42 });
  });

  it('a BYE from the callee gets 200 and is passed to the caller as BYE', async () => {
    const { call } = await answeredCall();
    const bye = h.calleeRequest(TRUNK_A, 'BYE', 5);
    h.transport.deliver(bye, TRUNK_A);
    await tick();
    expect(h.responsesIn(bye.callId)).toContain('200 BYE 5');
    expect(h.requestsTo(CALLER)).toEqual(['BYE 1']);
    expect(h.requestsTo(TRUNK_A)).toEqual(['INVITE 1', 'ACK 1']);
    expect(call.state).toBe('ended');
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ disposition: 'answered', hangupBy: 'callee', sipReason: 'normal clearing' });
    // A retransmitted or late BYE changes nothing and writes no second CDR.
    h.transport.deliver(h.calleeRequest(TRUNK_A, 'BYE', 6), TRUNK_A);
    await tick();
    expect(h.requestsTo(CALLER)).toEqual(['BYE 1']);
    expect(records()).toHaveLength(1);
  });
});

describe('Call: CDRs', () => {
  it('reports the answer once, with the start record (ended at the answer, no hang-up yet) and the trunk channel; the end summary follows', async () => {
    const reservation = { id: 'res-2', accountId: 'acct-1', destination: '+12025550100', rate: { prefix: '1202' }, maxSeconds: 60, held: '0.60', currency: 'USD' } as unknown as Reservation;
    facts.reservation = reservation;
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_B, 'B'), { ...trunk(TRUNK_A, 'A'), channel: 'leg-A' }]);
    await tick();
    h.answerFrom(TRUNK_B, 503);
    await tick();
    h.answerFrom(TRUNK_A, 200, sdp(40010));
    await expect(flow).resolves.toEqual({ kind: 'answered' });
    expect(h.answered).toHaveBeenCalledTimes(1);
    const [{ summary, channel }] = h.atAnswer;
    expect(channel).toBe('leg-A');
    expect(summary).toMatchObject({ disposition: 'answered', sipCode: 200, trunkId: 'trunk-A', hangupBy: null, durationSeconds: 0, reservation });
    expect(summary!.endedAt).toEqual(summary!.answeredAt);
    await tick(5_000);
    call.hangup('caller', 'normal clearing');
    expect(h.answered).toHaveBeenCalledTimes(1);
    const end = records().at(-1)!;
    expect(end).toMatchObject({ trunkId: 'trunk-A', hangupBy: 'caller', durationSeconds: 5, answeredAt: summary!.answeredAt });
    // The end record is handed over with its call (calls.service finds the start record by it).
    expect(h.record.mock.calls.at(-1)![1]).toBe(call);
  });

  it('reports no answer for a call that was never answered', async () => {
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A')]);
    await tick();
    h.answerFrom(TRUNK_A, 486);
    await expect(flow).resolves.toMatchObject({ kind: 'failed', status: 486 });
    expect(h.answered).not.toHaveBeenCalled();
    expect(records()).toEqual([expect.objectContaining({ disposition: 'busy', sipCode: 486 })]);
    expect(call.answeredSummary()).toBeUndefined();
  });

  it('writes one rejected CDR for a call refused before any attempt', async () => {
    const { call } = await newCall();
    call.reject(402, 'Payment Required (balance 0.00)');
    expect(toCaller()).toEqual(['100 INVITE 1', '402 INVITE 1']);
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ disposition: 'rejected', sipCode: 402, hangupBy: 'gateway', callId: callerInvite.callId, accountId: 'acct-1', callee: '+12025550100' });
  });

  it('writes each attempt exactly once across failover, answer and hang-up', async () => {
    const { call } = await newCall();
    const flow = ringTrunks(call, [trunk(TRUNK_A, 'A'), trunk(TRUNK_B, 'B')]);
    await tick();
    h.answerFrom(TRUNK_A, 502);
    await tick();
    h.answerFrom(TRUNK_B, 180);
    await tick(3_000);
    h.answerFrom(TRUNK_B, 200, sdp(40010));
    await flow;
    h.transport.deliver(ACK_FROM_CALLER(), CALLER);
    await tick(10_000);
    h.transport.deliver(h.calleeRequest(TRUNK_B, 'BYE', 2), TRUNK_B);
    await tick();
    call.hangup('gateway', 'again'); // idempotent
    call.terminate('operator');
    expect(records().map(brief)).toEqual([
      { trunkId: 'trunk-A', disposition: 'failed', sipCode: 502, hangupBy: null },
      { trunkId: 'trunk-B', disposition: 'answered', sipCode: 200, hangupBy: 'callee' },
    ]);
    expect(records().every((r) => r.callId === callerInvite.callId)).toBe(true);
    expect(records()[1]).toMatchObject({ ringingAt: new Date(T0.getTime()), durationSeconds: 10 });
    expect(records()[1].answeredAt).toEqual(new Date(T0.getTime() + 3_000));
    expect(h.ended).toHaveBeenCalledTimes(1);
  });
});

/** Waits, in real time (the native WebRTC threads do not follow Jest's clock), until `check` holds. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  while (!check()) {
    if (process.hrtime.bigint() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('Call: a browser among the callees (WebRTC branch, the gateway offers)', () => {
  it('forks to a SIP phone (plain offer) and a browser (its own WebRTC offer); the browser answers, the phone is cancelled, and audio flows both ways', async () => {
    const phoneMedia = await UdpPeer.open();
    const browser = new BrowserPeer({ portMin: 52800, portMax: 52899 });
    try {
      const { call } = await newCall(sdpFor(phoneMedia.port));
      const target: RingTarget = { userId: 'user-2', legs: [...devices(DEVICE_1).legs, { ...devices(DEVICE_2).legs[0], webrtc: true }] };
      const flow = call.ring(target, RING_MS);
      await until(() => h.requestsTo(DEVICE_1).length > 0 && h.requestsTo(DEVICE_2).length > 0, 'INVITEs to both devices');

      const toPhone = h.sentRequest(DEVICE_1, 'INVITE').body.toString();
      const toBrowser = h.sentRequest(DEVICE_2, 'INVITE').body.toString();
      expect(toPhone).toMatch(/^m=audio \d+ RTP\/AVP 0 101\r$/m);
      expect(toPhone).not.toMatch(/fingerprint|candidate/);
      // The browser's own offer: DTLS-SRTP with ICE candidates on the public address, the caller's G.711 and DTMF numbers.
      expect(toBrowser).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0 101\r$/m);
      expect(toBrowser).toMatch(/^a=setup:actpass\r$/m);
      expect(toBrowser).toMatch(/^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/m);
      expect(toBrowser).toMatch(/^a=rtcp-mux\r$/m);
      expect(toBrowser).toMatch(/^a=rtpmap:101 telephone-event\/8000/m);

      h.answerFrom(DEVICE_1, 180);
      h.answerFrom(DEVICE_2, 200, await browser.answer(toBrowser));
      await expect(flow).resolves.toEqual({ kind: 'answered' });
      // The phone rang (180), so it is cancelled at once (RFC 3261 §9.1).
      expect(h.requestsTo(DEVICE_1)).toContain('CANCEL 1');
      const ok = h.response(callerInvite, 200)!;
      const answer = ok.body.toString();
      // The SIP caller gets plain RTP/AVP on the relay, whatever the browser speaks.
      expect(answer).toMatch(/^m=audio \d+ RTP\/AVP 0 101\r$/m);
      expect(answer).not.toMatch(/fingerprint|candidate|SAVPF/);
      const relayPort = Number(/^m=audio (\d+)/m.exec(answer)![1]);
      h.transport.deliver(ACK_FROM_CALLER(), CALLER);
      await browser.opened();

      for (let i = 0; i < 20; i++) {
        await phoneMedia.send(rtp(i, 0x1234, toneFrame(i)), relayPort);
        browser.send(rtp(1000 + i, browser.ssrc, Buffer.alloc(160, 0x55)));
        await new Promise((r) => setImmediate(r));
      }
      await until(() => browser.receivedCount >= 15 && phoneMedia.received.length >= 15, 'media both ways');
      expect(browser.received.every((p) => p.subarray(12).equals(toneFrame(p.readUInt16BE(2))))).toBe(true);
      expect(phoneMedia.received.every((r) => r.data.subarray(12).equals(Buffer.alloc(160, 0x55)))).toBe(true);

      call.hangup('gateway', 'test over');
    } finally {
      browser.close();
      await phoneMedia.close();
    }
  });

  it('answers a browser caller with WebRTC and offers the callee plain G.711; a browser callee then gets a WebRTC offer of its own (browser to browser)', async () => {
    const caller = new BrowserPeer({ portMin: 52800, portMax: 52899 });
    const callee = new BrowserPeer({ portMin: 52800, portMax: 52899 });
    try {
      const { call } = await newCall(await caller.offer());
      const flow = call.ring({ userId: 'user-2', legs: [{ ...devices(DEVICE_2).legs[0], webrtc: true }] }, RING_MS);
      await until(() => h.requestsTo(DEVICE_2).length > 0, 'INVITE to the browser callee');
      const offer = h.sentRequest(DEVICE_2, 'INVITE').body.toString();
      expect(offer).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0 8 126\r$/m);
      expect(offer).not.toMatch(/opus/);
      h.answerFrom(DEVICE_2, 200, await callee.answer(offer));
      await expect(flow).resolves.toEqual({ kind: 'answered' });
      const answer = h.response(callerInvite, 200)!.body.toString();
      expect(answer).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF( \d+)+\r$/m);
      expect(answer).not.toMatch(/opus/);
      caller.accept(answer);
      h.transport.deliver(ACK_FROM_CALLER(), CALLER);
      await Promise.all([caller.opened(), callee.opened()]);
      for (let i = 0; i < 20; i++) {
        caller.send(rtp(i, caller.ssrc, toneFrame(i)));
        callee.send(rtp(500 + i, callee.ssrc, Buffer.alloc(160, 0x33)));
        await new Promise((r) => setImmediate(r));
      }
      await until(() => callee.receivedCount >= 15 && caller.receivedCount >= 15, 'media both ways between the browsers');
      expect(callee.received.every((p) => p.subarray(12).equals(toneFrame(p.readUInt16BE(2))))).toBe(true);
      expect(caller.received.every((p) => p.subarray(12).equals(Buffer.alloc(160, 0x33)))).toBe(true);
      call.hangup('gateway', 'test over');
    } finally {
      caller.close();
      callee.close();
    }
  });
});
