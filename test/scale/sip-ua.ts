/**
 * A small SIP user agent over one UDP socket for the multi-node tests: it plays a user's device
 * behind a NAT (it registers through the edge, advertises an address it cannot be reached on, and
 * accepts requests only from the address it registered to, as a NAT's mapping would), and a trunk
 * (it sends calls to a node and answers the calls the nodes send it).
 *
 * Written here rather than driven through SIPp because the test must see which address every
 * request came from (the NAT rule), which node answered each call (its Contact), and must keep
 * many dialogs at once with BYEs from either side. Messages are parsed with src/sip; digest answers
 * use src/sip's client code.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { answerChallenge, challengeIn, headerValue, headerValues, parseMessage, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip';

const rnd = () => randomBytes(6).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Addr {
  readonly host: string;
  readonly port: number;
}

export interface UaOptions {
  /** Where the socket is bound. */
  readonly bind: Addr;
  /** The address written into Via and Contact: a NAT'ed device's private address (unreachable). */
  readonly advertise?: Addr;
  /** SDP media address and port this UA offers and answers with. */
  readonly media: Addr;
  /** Requests from any other address are dropped and counted (a NAT's mapping). */
  readonly acceptFrom?: Addr;
}

/** A confirmed dialog this UA holds, with how to send BYE in it. */
export interface UaDialog {
  readonly callId: string;
  /** The host and port of the peer's Contact: which gateway node holds the call. */
  readonly contactHost: string;
  readonly contactPort: number;
  /** Set when the peer sent BYE and this UA answered 200. */
  byeReceived: boolean;
  /** Sends BYE in the dialog (retransmitted), resolves with the final status (0: none within 16 s). */
  bye(): Promise<number>;
}

export interface IncomingCall {
  readonly request: SipRequest;
  readonly from: RemoteInfo;
  readonly dialog: UaDialog;
}

interface DialogState {
  callId: string;
  localTag: string;
  from: string;
  to: string;
  remoteTarget: string;
  routes: string[];
  seq: number;
  sendTo: Addr;
  dialog: UaDialog;
  /** Our INVITE's CSeq when we called: its 2xx retransmissions are ACKed again. */
  inviteSeq?: number;
}

export class SipUa {
  /** Requests refused because they did not come from `acceptFrom` (a NAT would drop them). */
  readonly refused: { from: string; firstLine: string }[] = [];
  /** Calls this UA answered, in arrival order. */
  readonly incoming: IncomingCall[] = [];
  /** Responses not yet taken, per Call-ID, and the one task waiting on each Call-ID (event-driven: hundreds of calls at once). */
  private readonly responses = new Map<string, SipResponse[]>();
  private readonly waiters = new Map<string, () => void>();
  private readonly dialogs = new Map<string, DialogState>();
  private readonly answered = new Map<string, Buffer>();
  /** A test may set this: answer INVITEs with this status instead of 200 (e.g. 486). */
  answerStatus = 200;

  private constructor(
    private readonly socket: Socket,
    readonly o: UaOptions,
  ) {
    socket.on('message', (data, from) => this.receive(data, from));
  }

  static async open(o: UaOptions): Promise<SipUa> {
    const socket = createSocket('udp4');
    await new Promise<void>((ok, fail) => {
      socket.once('error', fail);
      socket.bind(o.bind.port, o.bind.host, () => ok());
    });
    return new SipUa(socket, o);
  }

  close(): Promise<void> {
    this.closed = true;
    return new Promise((ok) => this.socket.close(() => ok()));
  }

  private get me(): Addr {
    return this.o.advertise ?? this.o.bind;
  }

  private via(branch = rnd()): string {
    return `Via: SIP/2.0/UDP ${this.me.host}:${this.me.port};branch=z9hG4bK${branch};rport`;
  }

  private sdp(): string {
    const { host, port } = this.o.media;
    return ['v=0', `o=- 1 1 IN IP4 ${host}`, 's=-', `c=IN IP4 ${host}`, 't=0 0', `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
  }

  private closed = false;

  private send(text: string, to: Addr): void {
    // A retransmission timer may fire after the test closed the socket.
    if (!this.closed) this.socket.send(Buffer.from(text, 'latin1'), to.port, to.host);
  }

  private receive(data: Buffer, from: RemoteInfo): void {
    const parsed = parseMessage(data);
    if (!parsed.ok) return;
    const m: SipMessage = parsed.value;
    if (m.kind === 'response') {
      const list = this.responses.get(m.callId) ?? [];
      list.push(m);
      this.responses.set(m.callId, list);
      this.waiters.get(m.callId)?.();
      // A 2xx to our INVITE retransmitted: our ACK was lost or is in flight; ACK again.
      if (m.status >= 200 && m.status < 300 && m.cseq.method === 'INVITE') this.ackIfKnown(m);
      return;
    }
    const accept = this.o.acceptFrom;
    if (accept && (from.address !== accept.host || from.port !== accept.port)) {
      this.refused.push({ from: `${from.address}:${from.port}`, firstLine: data.toString('latin1').split('\r\n')[0] });
      return;
    }
    this.request(m, data, from);
  }

  private request(req: SipRequest, raw: Buffer, from: RemoteInfo): void {
    const key = `${req.callId}|${req.cseq.seq}|${req.method}`;
    const replyTo = { host: from.address, port: from.port };
    const again = this.answered.get(key);
    if (again) return void this.socket.send(again, replyTo.port, replyTo.host);
    if (req.method === 'ACK') return;
    if (req.method === 'INVITE' && !req.to.params.get('tag')) {
      const localTag = rnd();
      const ok = this.answerStatus === 200;
      const response = this.response(raw, req, this.answerStatus, ok ? 'OK' : 'Busy Here', localTag, ok);
      this.answered.set(key, response);
      this.socket.send(response, replyTo.port, replyTo.host);
      if (!ok) return;
      const contact = req.contact[0]?.uri;
      const state: DialogState = {
        callId: req.callId,
        localTag,
        from: `${headerValue(req, 'To')};tag=${localTag}`,
        to: headerValue(req, 'From')!,
        remoteTarget: raw.toString('latin1').match(/^(?:Contact|m):\s*<([^>]+)>/im)?.[1] ?? '',
        routes: headerValues(req, 'Record-Route'),
        seq: 0,
        sendTo: replyTo,
        dialog: this.newDialog(req.callId, contact && 'host' in contact ? contact.host : '', contact && 'host' in contact ? (contact.port ?? 5060) : 0),
      };
      this.dialogs.set(req.callId, state);
      this.incoming.push({ request: req, from, dialog: state.dialog });
      return;
    }
    const state = this.dialogs.get(req.callId);
    const status = req.method === 'BYE' && !state ? 481 : 200;
    const response = this.response(raw, req, status, status === 200 ? 'OK' : 'Call/Transaction Does Not Exist');
    this.answered.set(key, response);
    this.socket.send(response, replyTo.port, replyTo.host);
    if (req.method === 'BYE' && state) {
      state.dialog.byeReceived = true;
      this.dialogs.delete(req.callId);
    }
  }

  private response(raw: Buffer, req: SipRequest, status: number, reason: string, toTag?: string, withSdp = false): Buffer {
    const text = raw.toString('latin1');
    const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n').slice(1);
    const pick = (...names: string[]) => head.filter((l) => names.includes(l.slice(0, l.indexOf(':')).trim().toLowerCase()));
    const to = pick('to', 't').map((l) => (toTag && !/;tag=/i.test(l) ? `${l};tag=${toTag}` : l));
    const body = withSdp ? this.sdp() : '';
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...pick('via', 'v'),
      ...pick('record-route'),
      ...pick('from', 'f'),
      ...to,
      ...pick('call-id', 'i'),
      ...pick('cseq'),
      ...(req.method === 'INVITE' && status < 300 ? [`Contact: <sip:dev@${this.me.host}:${this.me.port}>`] : []),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
      '',
      body,
    ];
    return Buffer.from(lines.join('\r\n'), 'latin1');
  }

  private newDialog(callId: string, contactHost: string, contactPort: number): UaDialog {
    const dialog: UaDialog = {
      callId,
      contactHost,
      contactPort,
      byeReceived: false,
      bye: async () => {
        const s = this.dialogs.get(callId);
        if (!s) return 0;
        s.seq = Math.max(s.seq + 1, 2);
        this.dialogs.delete(callId);
        const r = await this.transact(this.inDialog('BYE', s, s.seq), s.sendTo, callId, s.seq, 'BYE');
        this.forget(callId);
        return r?.status ?? 0;
      },
    };
    return dialog;
  }

  private inDialog(method: string, s: DialogState, seq: number, branch = rnd()): string {
    return [
      `${method} ${s.remoteTarget} SIP/2.0`,
      this.via(branch),
      ...s.routes.map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      `From: ${s.from}`,
      `To: ${s.to}`,
      `Call-ID: ${s.callId}`,
      `CSeq: ${seq} ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  }

  private ackIfKnown(r: SipResponse): void {
    const s = this.dialogs.get(r.callId);
    if (s && s.inviteSeq === r.cseq.seq) this.send(this.inDialog('ACK', s, r.cseq.seq), s.sendTo);
  }

  private async awaitResponse(callId: string, seq: number, method: string, deadline: number, final = true): Promise<SipResponse | undefined> {
    for (;;) {
      const list = this.responses.get(callId) ?? [];
      const i = list.findIndex((r) => r.cseq.seq === seq && r.cseq.method === method && (!final || r.status >= 200));
      if (i >= 0) return list.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((ok) => {
        const timer = setTimeout(ok, left);
        this.waiters.set(callId, () => {
          clearTimeout(timer);
          ok();
        });
      });
      this.waiters.delete(callId);
    }
  }

  /** Forgets what is left of a finished call's responses. */
  private forget(callId: string): void {
    this.responses.delete(callId);
  }

  /**
   * Sends a request and retransmits it over UDP (T1 = 500 ms, doubling up to 4 s, RFC 3261 §17.1)
   * until a response stops it (any for INVITE, a final one otherwise); resolves with the final
   * response, or undefined after `ms`.
   */
  private async transact(text: string, to: Addr, callId: string, seq: number, method: string, ms = 16_000): Promise<SipResponse | undefined> {
    const deadline = Date.now() + ms;
    let interval = 500;
    let next = Date.now() + interval;
    this.send(text, to);
    for (;;) {
      const final = await this.awaitResponse(callId, seq, method, Math.min(next, deadline));
      if (final) return final;
      if (Date.now() >= deadline) return undefined;
      const heard = (this.responses.get(callId) ?? []).some((r) => r.cseq.seq === seq && r.cseq.method === method);
      if (method === 'INVITE' && heard) {
        next = deadline;
        continue;
      }
      this.send(text, to);
      interval = Math.min(interval * 2, 4000);
      next = Date.now() + interval;
    }
  }

  /** REGISTER through `proxy` (digest answered); the final response. */
  async register(o: { proxy: Addr; domain: string; username: string; password: string; expires?: number; path?: string }): Promise<SipResponse | undefined> {
    const callId = `reg-${rnd()}`;
    const tag = rnd();
    const uri = `sip:${o.domain}`;
    const build = (seq: number, auth?: string) =>
      [
        `REGISTER ${uri} SIP/2.0`,
        this.via(),
        'Max-Forwards: 70',
        `From: <sip:${o.username}@${o.domain}>;tag=${tag}`,
        `To: <sip:${o.username}@${o.domain}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${seq} REGISTER`,
        `Contact: <sip:${o.username}@${this.me.host}:${this.me.port}>`,
        `Expires: ${o.expires ?? 600}`,
        'Supported: path',
        ...(o.path ? [`Path: ${o.path}`] : []),
        'User-Agent: edge-test-device',
        ...(auth ? [`Authorization: ${auth}`] : []),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    const first = await this.transact(build(1), o.proxy, callId, 1, 'REGISTER');
    if (!first || first.status !== 401) return first;
    const challenge = challengeIn(first);
    if (!challenge) return first;
    const value = answerChallenge(challenge, { username: o.username, secret: { password: o.password }, method: 'REGISTER', uri });
    return this.transact(build(2, value), o.proxy, callId, 2, 'REGISTER');
  }

  /**
   * INVITE sip:dialled@domain sent to `next` (an edge or a node), digest answered; on 2xx ACKed
   * along the Record-Route and a dialog returned. `status` 0: no final response within 16 s.
   */
  async call(o: { next: Addr; domain: string; dialled: string; fromUser: string; auth?: { username: string; password: string } }): Promise<{ status: number; reason?: string; dialog?: UaDialog; callId: string }> {
    const callId = `ua-${rnd()}`;
    const tag = rnd();
    const uri = `sip:${o.dialled}@${o.domain}`;
    const from = `<sip:${o.fromUser}@${o.domain}>;tag=${tag}`;
    const sdp = this.sdp();
    const invite = (seq: number, branch: string, auth?: string) =>
      [
        `INVITE ${uri} SIP/2.0`,
        this.via(branch),
        'Max-Forwards: 70',
        `From: ${from}`,
        `To: <${uri}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${seq} INVITE`,
        `Contact: <sip:${o.fromUser}@${this.me.host}:${this.me.port}>`,
        ...(auth ? [`Proxy-Authorization: ${auth}`] : []),
        'Content-Type: application/sdp',
        `Content-Length: ${Buffer.byteLength(sdp, 'latin1')}`,
        '',
        sdp,
      ].join('\r\n');
    const ackNon2xx = (seq: number, branch: string, r: SipResponse) =>
      [`ACK ${uri} SIP/2.0`, this.via(branch), 'Max-Forwards: 70', `From: ${from}`, `To: ${headerValue(r, 'To')}`, `Call-ID: ${callId}`, `CSeq: ${seq} ACK`, 'Content-Length: 0', '', ''].join('\r\n');
    let seq = 1;
    let branch = rnd();
    let r = await this.transact(invite(seq, branch), o.next, callId, seq, 'INVITE');
    // A fresh challenge after the answer (stale nonce) is answered once more.
    for (let tries = 0; r && r.status === 407 && o.auth && tries < 2; tries++) {
      this.send(ackNon2xx(seq, branch, r), o.next);
      const challenge = challengeIn(r);
      if (!challenge) return { status: r.status, callId };
      const value = answerChallenge(challenge, { username: o.auth.username, secret: { password: o.auth.password }, method: 'INVITE', uri });
      seq++;
      branch = rnd();
      r = await this.transact(invite(seq, branch, value), o.next, callId, seq, 'INVITE');
    }
    if (!r) return { status: 0, callId };
    if (r.status >= 300) {
      this.forget(callId);
      this.send(ackNon2xx(seq, branch, r), o.next);
      return { status: r.status, reason: r.reason, callId };
    }
    const contact = r.contact[0]?.uri;
    const rawContact = r.headers.find((h) => /^(contact|m)$/i.test(h.name))?.value.match(/<([^>]+)>/)?.[1] ?? '';
    const state: DialogState = {
      callId,
      localTag: tag,
      from,
      to: headerValue(r, 'To')!,
      remoteTarget: rawContact,
      routes: headerValues(r, 'Record-Route').reverse(),
      seq: 0,
      sendTo: o.next,
      dialog: this.newDialog(callId, contact && 'host' in contact ? contact.host : '', contact && 'host' in contact ? (contact.port ?? 5060) : 0),
    };
    state.seq = seq;
    state.inviteSeq = seq;
    this.dialogs.set(callId, state);
    this.send(this.inDialog('ACK', state, seq), state.sendTo);
    return { status: r.status, dialog: state.dialog, callId };
  }
}
