/**
 * Minimal SIP user agents over a plain UDP socket for the hostile media tests, where SIPp's fixed
 * scenarios cannot carry an arbitrary (generated) SDP: a caller that sends one INVITE with any
 * body, answers the gateway's 407 with digest (src/sip's client code) and ACKs and hangs up, and a
 * trunk that answers each INVITE with an SDP the test picks. Text is written by hand on purpose:
 * the point is to send what a well-behaved stack would refuse to build.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { answerChallenge, challengeIn, parseMessage, type SipResponse } from '../../src/sip';

const rnd = () => randomBytes(6).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function bind(ip: string, port: number): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(port, ip, () => ok());
  });
  return socket;
}

/** Lines of a header in a raw message (long and compact names). */
function headerLines(text: string, ...names: string[]): string[] {
  const head = text.split('\r\n\r\n')[0].split('\r\n').slice(1);
  const wanted = names.map((n) => n.toLowerCase());
  return head.filter((l) => wanted.includes(l.slice(0, l.indexOf(':')).trim().toLowerCase()));
}

function bodyOf(text: string): string {
  const i = text.indexOf('\r\n\r\n');
  return i < 0 ? '' : text.slice(i + 4);
}

/** The audio port and address an SDP names (the relay's, when the gateway wrote it). */
export function mediaOf(sdp: string): { ip: string; port: number } | undefined {
  const c = /^c=IN IP4 ([0-9.]+)/m.exec(sdp);
  const m = /^m=audio (\d+)/m.exec(sdp);
  return c && m ? { ip: c[1], port: Number(m[1]) } : undefined;
}

export interface CallResult {
  status: number;
  reason: string;
  /** The SDP of the final response, if any. */
  sdp: string;
  /** BYE for an answered call (waits for its 200 up to 2 s). */
  hangUp(): Promise<void>;
}

/** A caller (a user's phone or a trunk sending a call in) on ip:port. */
export class SipCaller {
  private readonly inbox: { text: string; at: number }[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly ip: string,
    readonly port: number,
  ) {
    socket.on('message', (m) => {
      const text = m.toString('latin1');
      // In-dialog requests from the gateway (its BYE when the other side failed): 200 at once.
      if (/^(BYE|OPTIONS|INFO|UPDATE) /.test(text)) this.reply(text, 200, 'OK');
      else this.inbox.push({ text, at: Date.now() });
    });
  }

  static async open(ip: string, port: number): Promise<SipCaller> {
    return new SipCaller(await bind(ip, port), ip, port);
  }

  close(): Promise<void> {
    return new Promise((ok) => this.socket.close(() => ok()));
  }

  /** INVITE sip:dialled@127.0.0.1:gwPort with `sdp`; the final response (status 0: none within timeoutMs). */
  async invite(o: { gwPort: number; dialled: string; from: string; sdp: string; auth?: { username: string; password: string }; timeoutMs?: number }): Promise<CallResult> {
    const callId = `fz-${rnd()}`;
    const tag = rnd();
    const uri = `sip:${o.dialled}@127.0.0.1:${o.gwPort}`;
    const base = (method: string, cseq: number, branch: string, to: string, extra: string[], body = '') =>
      [
        `${method} ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP ${this.ip}:${this.port};branch=z9hG4bK${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:${o.from}@127.0.0.1>;tag=${tag}`,
        `To: ${to}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} ${method}`,
        ...extra,
        `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
        '',
        body,
      ].join('\r\n');
    const toPlain = `<${uri}>`;
    const inviteHeaders = [`Contact: <sip:${o.from}@${this.ip}:${this.port}>`, 'Content-Type: application/sdp'];
    let cseq = 1;
    let branch = rnd();
    this.send(base('INVITE', cseq, branch, toPlain, inviteHeaders, o.sdp), o.gwPort);
    const deadline = Date.now() + (o.timeoutMs ?? 8000);
    let authTried = false;
    for (;;) {
      const text = await this.nextFor(callId, cseq, deadline);
      if (!text) return { status: 0, reason: 'no final response', sdp: '', hangUp: async () => undefined };
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status < 200) continue;
      const reason = /^SIP\/2\.0 \d{3} ([^\r\n]*)/.exec(text)?.[1] ?? '';
      const to = headerLines(text, 'To', 't')[0]?.replace(/^[^:]*:\s*/, '') ?? toPlain;
      if (status >= 300) {
        this.send(base('ACK', cseq, branch, to, []), o.gwPort);
        if (status === 407 && o.auth && !authTried) {
          authTried = true;
          const parsed = parseMessage(Buffer.from(text, 'latin1'));
          const challenge = parsed.ok && parsed.value.kind === 'response' ? challengeIn(parsed.value as SipResponse) : undefined;
          if (!challenge) return { status, reason, sdp: '', hangUp: async () => undefined };
          const value = answerChallenge(challenge, { username: o.auth.username, secret: { password: o.auth.password }, method: 'INVITE', uri });
          cseq++;
          branch = rnd();
          this.send(base('INVITE', cseq, branch, toPlain, [...inviteHeaders, `Proxy-Authorization: ${value}`], o.sdp), o.gwPort);
          continue;
        }
        return { status, reason, sdp: '', hangUp: async () => undefined };
      }
      const answerCseq = cseq;
      this.send(base('ACK', answerCseq, rnd(), to, []), o.gwPort);
      return {
        status,
        reason,
        sdp: bodyOf(text),
        hangUp: async () => {
          this.send(base('BYE', answerCseq + 1, rnd(), to, []), o.gwPort);
          await this.nextFor(callId, answerCseq + 1, Date.now() + 2000);
        },
      };
    }
  }

  private send(text: string, port: number): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }

  private reply(request: string, status: number, reason: string): void {
    const lines = [`SIP/2.0 ${status} ${reason}`, ...headerLines(request, 'Via', 'v', 'From', 'f', 'To', 't', 'Call-ID', 'i', 'CSeq'), 'Content-Length: 0', '', ''];
    const via = /^Via:\s*SIP\/2\.0\/UDP ([0-9.]+):(\d+)/im.exec(request);
    if (via) this.socket.send(Buffer.from(lines.join('\r\n'), 'latin1'), Number(via[2]), '127.0.0.1');
  }

  /** The next response of this call to CSeq `cseq`, or undefined at the deadline. */
  private async nextFor(callId: string, cseq: number, deadline: number): Promise<string | undefined> {
    for (;;) {
      const i = this.inbox.findIndex((m) => m.text.startsWith('SIP/2.0') && m.text.includes(callId) && new RegExp(`^CSeq:\\s*${cseq} `, 'im').test(m.text));
      if (i >= 0) return this.inbox.splice(i, 1)[0].text;
      if (Date.now() > deadline) return undefined;
      await sleep(5);
    }
  }
}

export interface TrunkAnswer {
  status: number;
  /** SDP of a 200 (or 183 before it when `early`). */
  sdp?: string;
}

/** A trunk on ip:port that answers every INVITE as `answer` says and 200s BYE and CANCEL. */
export class SipTrunk {
  /** The SDP of each INVITE received (the relay's side-B ports), in order. */
  readonly offers: string[] = [];
  private readonly answered = new Map<string, string>();

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    public answer: (offer: string) => TrunkAnswer,
  ) {
    socket.on('message', (m, rinfo) => {
      const text = m.toString('latin1');
      const method = /^([A-Z]+) /.exec(text)?.[1];
      if (!method) return;
      const key = `${/^(?:Call-ID|i):\s*(\S+)/im.exec(text)?.[1]}|${/^CSeq:\s*(\d+)/im.exec(text)?.[1]}|${method}`;
      const again = this.answered.get(key);
      if (again) return this.socket.send(Buffer.from(again, 'latin1'), rinfo.port, rinfo.address);
      if (method === 'INVITE') {
        const sdp = bodyOf(text);
        this.offers.push(sdp);
        const a = this.answer(sdp);
        const response = this.response(text, a.status, a.status === 200 ? 'OK' : 'Service Unavailable', a.status === 200 ? a.sdp : undefined);
        this.answered.set(key, response);
        this.socket.send(Buffer.from(response, 'latin1'), rinfo.port, rinfo.address);
      } else if (method !== 'ACK') {
        const response = this.response(text, 200, 'OK');
        this.answered.set(key, response);
        this.socket.send(Buffer.from(response, 'latin1'), rinfo.port, rinfo.address);
      }
    });
  }

  static async open(port: number, answer: (offer: string) => TrunkAnswer, ip = '127.0.0.1'): Promise<SipTrunk> {
    return new SipTrunk(await bind(ip, port), port, answer);
  }

  close(): Promise<void> {
    return new Promise((ok) => this.socket.close(() => ok()));
  }

  private response(request: string, status: number, reason: string, sdp?: string): string {
    const to = headerLines(request, 'To', 't')[0] ?? 'To: <sip:x@127.0.0.1>';
    const body = sdp ?? '';
    return [
      `SIP/2.0 ${status} ${reason}`,
      ...headerLines(request, 'Via', 'v', 'From', 'f'),
      /;tag=/.test(to) ? to : `${to};tag=trunk${this.port}`,
      ...headerLines(request, 'Call-ID', 'i', 'CSeq'),
      `Contact: <sip:trunk@127.0.0.1:${this.port}>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
      '',
      body,
    ].join('\r\n');
  }
}
