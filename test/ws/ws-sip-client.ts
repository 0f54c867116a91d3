/**
 * A browser-like SIP user agent over WebSocket (RFC 7118) for the tests, written the way JsSIP
 * writes its messages: Via `SIP/2.0/WS <random>.invalid` with no port, a Contact
 * `sip:<random>@<random>.invalid;transport=ws` with `+sip.instance` and `reg-id`, one SIP message
 * per text frame. Hand-rolled over `ws` (not JsSIP in Node) so a test sees and can bend every
 * byte, and checks what the gateway sends back exactly (our Via left as written, received/rport added).
 * Media: plain RTP/AVP for a UDP port number, or the SDP a WebRTC peer (test/webrtc-media/browser-peer.ts)
 * offers or answers: since the merge the gateway offers a WebSocket callee WebRTC media and expects a
 * WebRTC answer (docs/calls.md, Browsers).
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { answerChallenge, challengeIn, parseMessage, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip';

const rnd = (n = 8) => randomBytes(n).toString('hex').slice(0, n);

export interface WsOpenOptions {
  protocol?: string | string[] | null;
  origin?: string;
  path?: string;
}

/** Opens a WebSocket to the gateway; rejects with the HTTP status when the upgrade is refused. */
export function openSocket(port: number, o: WsOpenOptions = {}): Promise<WebSocket> {
  const protocols = o.protocol === null ? undefined : (o.protocol ?? 'sip');
  const ws = new WebSocket(`ws://127.0.0.1:${port}${o.path ?? '/'}`, protocols, { origin: o.origin, handshakeTimeout: 5000 });
  return new Promise((ok, fail) => {
    ws.once('open', () => ok(ws));
    ws.once('unexpected-response', (_req, res) => {
      fail(new Error(`upgrade refused: ${res.statusCode}`));
      ws.terminate();
    });
    ws.once('error', fail);
  });
}

/** The status of a refused upgrade (e.g. 403, 426), or 'open' when it was accepted. */
export async function upgradeStatus(port: number, o: WsOpenOptions = {}): Promise<number | 'open'> {
  try {
    const ws = await openSocket(port, o);
    ws.close();
    return 'open';
  } catch (e) {
    const m = /upgrade refused: (\d+)/.exec(String(e));
    if (m) return Number(m[1]);
    throw e;
  }
}

export interface Credentials {
  username: string;
  password: string;
}

/** A plain RTP endpoint for the SDP the client offers or answers. */
export async function rtpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  return s;
}

export function sdp(port: number, sessionId = Date.now()): string {
  return ['v=0', `o=ws ${sessionId} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
}

interface Waiter {
  match: (m: SipMessage) => boolean;
  ok: (m: SipMessage) => void;
}

export class WsSipClient {
  readonly host = `${rnd()}.invalid`;
  readonly contactUser = rnd();
  readonly instance = `<urn:uuid:${randomUUID()}>`;
  /** Every SIP message received, in order (raw text too, to check the bytes). */
  readonly received: { text: string; message?: SipMessage }[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly unread: SipMessage[] = [];
  private cseq = 1;
  readonly callId = `${rnd(12)}@ws.test`;
  readonly fromTag = rnd();

  constructor(
    readonly ws: WebSocket,
    readonly gwPort: number,
    readonly user: Credentials,
  ) {
    ws.on('message', (data) => {
      const text = data.toString();
      const parsed = parseMessage(Buffer.from(text));
      const message = parsed.ok ? parsed.value : undefined;
      this.received.push({ text, message });
      if (!message) return;
      const i = this.waiters.findIndex((w) => w.match(message));
      if (i >= 0) this.waiters.splice(i, 1)[0].ok(message);
      else this.unread.push(message);
    });
  }

  static async connect(port: number, user: Credentials, o: WsOpenOptions = {}): Promise<WsSipClient> {
    return new WsSipClient(await openSocket(port, o), port, user);
  }

  get contact(): string {
    return `<sip:${this.contactUser}@${this.host};transport=ws>;+sip.instance="${this.instance}";reg-id=1`;
  }

  via(branch = `z9hG4bK${rnd(12)}`): string {
    return `SIP/2.0/WS ${this.host};branch=${branch}`;
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** The next message matching `match` (already received and unread, or to come); rejects after `ms`. */
  next<T extends SipMessage = SipMessage>(match: (m: SipMessage) => boolean, ms = 8000): Promise<T> {
    const i = this.unread.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0] as T);
    return new Promise((ok, fail) => {
      const waiter: Waiter = {
        match,
        ok: (m) => {
          clearTimeout(timer);
          ok(m as T);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        fail(new Error(`no matching SIP message within ${ms} ms; received:\n${this.received.map((r) => r.text.split('\r\n')[0]).join('\n')}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** A final response to the request with this Call-ID and CSeq. */
  final(callId: string, seq: number, ms?: number): Promise<SipResponse> {
    return this.next<SipResponse>((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === seq && m.status >= 200, ms);
  }

  private registerText(seq: number, expires: number, auth?: string, branch?: string): string {
    const u = this.user.username;
    return [
      `REGISTER sip:gateway.test SIP/2.0`,
      `Via: ${this.via(branch)}`,
      'Max-Forwards: 69',
      `To: <sip:${u}@gateway.test>`,
      `From: <sip:${u}@gateway.test>;tag=${this.fromTag}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${seq} REGISTER`,
      `Contact: ${this.contact};expires=${expires}`,
      `Expires: ${expires}`,
      'Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO',
      'Supported: path,gruu,outbound',
      'User-Agent: ws-test-client',
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  }

  /** REGISTER with its digest round; resolves with the final response (the challenge's answer). */
  async register(expires = 300): Promise<SipResponse> {
    const seq = this.cseq++;
    this.send(this.registerText(seq, expires));
    const first = await this.final(this.callId, seq);
    if (first.status !== 401) return first;
    const challenge = challengeIn(first);
    if (!challenge) throw new Error('401 without a readable challenge');
    const seq2 = this.cseq++;
    const auth = answerChallenge(challenge, { username: this.user.username, secret: { password: this.user.password }, method: 'REGISTER', uri: 'sip:gateway.test' });
    this.send(this.registerText(seq2, expires, auth));
    return this.final(this.callId, seq2);
  }

  /** The raw REGISTER without credentials (floods and hostile tests). */
  registerUnauthenticated(): string {
    return this.registerText(this.cseq++, 300);
  }

  close(): Promise<void> {
    return new Promise((ok) => {
      if (this.ws.readyState === WebSocket.CLOSED) return ok();
      this.ws.once('close', () => ok());
      this.ws.close();
    });
  }
}

/** One dialog the WS client is in, as caller or callee: sends in-dialog requests with the right tags, route and CSeq. */
export class WsDialog {
  private seq: number;
  constructor(
    private readonly c: WsSipClient,
    readonly callId: string,
    readonly localTag: string,
    readonly remoteTag: string,
    /** The peer's Contact: the Request-URI of our in-dialog requests. */
    readonly remoteTarget: string,
    readonly localUri: string,
    readonly remoteUri: string,
    startSeq: number,
  ) {
    this.seq = startSeq;
  }

  text(method: string, o: { seq?: number; headers?: string[]; body?: string } = {}): { text: string; seq: number } {
    const seq = o.seq ?? ++this.seq;
    const body = o.body ?? '';
    const text = [
      `${method} ${this.remoteTarget} SIP/2.0`,
      `Via: ${this.c.via()}`,
      'Max-Forwards: 69',
      `From: <${this.localUri}>;tag=${this.localTag}`,
      `To: <${this.remoteUri}>;tag=${this.remoteTag}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${seq} ${method}`,
      ...(method === 'ACK' || method === 'BYE' ? [] : [`Contact: <sip:${this.c.contactUser}@${this.c.host};transport=ws>`]),
      ...(o.headers ?? []),
      ...(body && !(o.headers ?? []).some((h) => /^content-type:/i.test(h)) ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    return { text, seq };
  }

  /** Sends `method` in the dialog and resolves with its final response. */
  async request(method: string, o: { headers?: string[]; body?: string } = {}): Promise<SipResponse> {
    const { text, seq } = this.text(method, o);
    this.c.send(text);
    return this.c.final(this.callId, seq);
  }
}

/** Calls `dialled` from the WS client (INVITE, the 407 round, ACK); resolves with the answer and the dialog.
 * Offers plain RTP on `media` (a UDP port) or the SDP `media` (a WebRTC peer's offer). */
export async function wsCall(c: WsSipClient, dialled: string, media: number | string, o: { sessionExpires?: number } = {}): Promise<{ answer: SipResponse; dialog: WsDialog; invite: string }> {
  const callId = `${rnd(12)}@ws.test`;
  const tag = rnd();
  const body = typeof media === 'number' ? sdp(media) : media;
  const uri = `sip:${dialled}@gateway.test`;
  const from = `sip:${c.user.username}@gateway.test`;
  const invite = (seq: number, auth?: string) =>
    [
      `INVITE ${uri} SIP/2.0`,
      `Via: ${c.via()}`,
      'Max-Forwards: 69',
      `To: <${uri}>`,
      `From: <${from}>;tag=${tag}`,
      `Call-ID: ${callId}`,
      `CSeq: ${seq} INVITE`,
      `Contact: <sip:${c.contactUser}@${c.host};transport=ws;ob>`,
      'Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO',
      ...(o.sessionExpires ? [`Session-Expires: ${o.sessionExpires}`, 'Supported: timer,ice,replaces,outbound'] : ['Supported: ice,replaces,outbound']),
      ...(auth ? [`Proxy-Authorization: ${auth}`] : []),
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  c.send(invite(1));
  let answer = await c.final(callId, 1, 15_000);
  let seq = 1;
  if (answer.status === 407) {
    ack(c, callId, tag, answer, uri, from, 1);
    const challenge = challengeIn(answer);
    if (!challenge) throw new Error('407 without a readable challenge');
    const auth = answerChallenge(challenge, { username: c.user.username, secret: { password: c.user.password }, method: 'INVITE', uri });
    seq = 2;
    c.send(invite(2, auth));
    answer = await c.final(callId, 2, 15_000);
  }
  const remoteTag = answer.to.params.get('tag') ?? '';
  const contactHeader = answer.headers.find((h) => h.name.toLowerCase() === 'contact')?.value ?? '';
  const remoteTarget = /<([^>]+)>/.exec(contactHeader)?.[1] ?? uri;
  const dialog = new WsDialog(c, callId, tag, remoteTag, remoteTarget, from, uri, seq);
  if (answer.status < 300) c.send(dialog.text('ACK', { seq }).text);
  else ack(c, callId, tag, answer, uri, from, seq);
  return { answer, dialog, invite: invite(seq) };
}

/** The ACK for a non-2xx final response (same branch as the INVITE: hop-by-hop, RFC 3261 §17.1.1.3). */
function ack(c: WsSipClient, callId: string, tag: string, r: SipResponse, uri: string, from: string, seq: number): void {
  c.send(
    [
      `ACK ${uri} SIP/2.0`,
      `Via: SIP/2.0/WS ${c.host};branch=${r.via[0].params.get('branch')}`,
      'Max-Forwards: 69',
      `To: <${uri}>;tag=${r.to.params.get('tag') ?? ''}`,
      `From: <${from}>;tag=${tag}`,
      `Call-ID: ${callId}`,
      `CSeq: ${seq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/**
 * Answers the next INVITE that comes down the socket: 180, then 200 with a plain RTP SDP on `media`
 * (a UDP port) or the SDP `media` makes of the offer (a WebRTC peer's answer); waits for the ACK.
 * Resolves with the INVITE and the dialog (the gateway's Contact as remote target).
 */
export async function answerIncoming(c: WsSipClient, media: number | ((offer: string) => Promise<string>), o: { ms?: number } = {}): Promise<{ invite: SipRequest; dialog: WsDialog }> {
  const invite = await c.next<SipRequest>((m) => m.kind === 'request' && m.method === 'INVITE', o.ms ?? 15_000);
  const tag = rnd();
  const responseText = (status: number, reason: string, body = '') =>
    [
      `SIP/2.0 ${status} ${reason}`,
      ...invite.headers.filter((h) => h.name.toLowerCase() === 'via').map((h) => `Via: ${h.value}`),
      `From: ${invite.headers.find((h) => h.name.toLowerCase() === 'from')!.value}`,
      `To: ${invite.headers.find((h) => h.name.toLowerCase() === 'to')!.value};tag=${tag}`,
      `Call-ID: ${invite.callId}`,
      `CSeq: ${invite.cseq.seq} INVITE`,
      `Contact: <sip:${c.contactUser}@${c.host};transport=ws>`,
      'Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO',
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  c.send(responseText(180, 'Ringing'));
  c.send(responseText(200, 'OK', typeof media === 'number' ? sdp(media) : await media(invite.body.toString())));
  await c.next((m) => m.kind === 'request' && m.method === 'ACK' && m.callId === invite.callId);
  const contactHeader = invite.headers.find((h) => h.name.toLowerCase() === 'contact')?.value ?? '';
  const remoteTarget = /<([^>]+)>/.exec(contactHeader)?.[1] ?? '';
  const fromUri = /<([^>]+)>/.exec(invite.headers.find((h) => h.name.toLowerCase() === 'from')!.value)?.[1] ?? '';
  const toUri = /<([^>]+)>/.exec(invite.headers.find((h) => h.name.toLowerCase() === 'to')!.value)?.[1] ?? '';
  const dialog = new WsDialog(c, invite.callId, tag, invite.from.params.get('tag') ?? '', remoteTarget, toUri, fromUri, 100);
  return { invite, dialog };
}

/** Answers a request the gateway sent down the socket (a BYE, a re-INVITE with `body` SDP) with `status`. */
export function respond(c: WsSipClient, req: SipRequest, status: number, reason: string, body = ''): void {
  c.send(
    [
      `SIP/2.0 ${status} ${reason}`,
      ...req.headers.filter((h) => h.name.toLowerCase() === 'via').map((h) => `Via: ${h.value}`),
      `From: ${req.headers.find((h) => h.name.toLowerCase() === 'from')!.value}`,
      `To: ${req.headers.find((h) => h.name.toLowerCase() === 'to')!.value}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.cseq.seq} ${req.method}`,
      ...(req.method === 'INVITE' ? [`Contact: <sip:${c.contactUser}@${c.host};transport=ws>`] : []),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

/**
 * Reads `count` until it is 0 (bindings still listed), every 20 ms for at most `tries` reads;
 * resolves with the last count. Removal on close is immediate on the gateway's side, but the
 * close reaches it a moment after the client's own close resolves.
 */
export async function untilNone(count: () => Promise<number>, tries = 100): Promise<number> {
  let left = await count();
  for (let i = 1; i < tries && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    left = await count();
  }
  return left;
}
