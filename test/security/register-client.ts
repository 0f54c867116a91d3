/**
 * A user's softphone for the hostile-peer tests: REGISTER with digest authentication from a chosen
 * loopback address, one request at a time, timing each exchange (401 challenge and the
 * authenticated REGISTER). Hand-rolled over a UDP socket so a test can also send crafted
 * variants (another Request-URI for the same credentials) and see the exact answers.
 */
import { type Socket, createSocket } from 'node:dgram';
import { answerChallenge, challengeIn, parseMessage, type SipResponse } from '../../src/sip';

export interface RegisterClient {
  readonly address: string;
  readonly port: number;
  /** One REGISTER with its digest round: the final status and how long the whole exchange took. */
  register(o?: { requestUri?: string; digestUri?: string; expires?: number; timeoutMs?: number }): Promise<{ status: number | undefined; reason: string; ms: number }>;
  close(): Promise<void>;
}

export async function registerClient(sipPort: number, user: { username: string; password: string }, address: string): Promise<RegisterClient> {
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(0, address, () => ok());
  });
  const port = socket.address().port;
  const waiting = new Map<string, (r: SipResponse) => void>();
  socket.on('message', (data) => {
    const parsed = parseMessage(data);
    if (!parsed.ok || parsed.value.kind !== 'response' || parsed.value.status < 200) return;
    const key = `${parsed.value.callId}|${parsed.value.cseq.seq}`;
    waiting.get(key)?.(parsed.value);
  });
  let n = 0;

  const exchange = (text: string, key: string, timeoutMs: number) =>
    new Promise<SipResponse | undefined>((ok) => {
      let tries = 0;
      const send = () => socket.send(text, sipPort, '127.0.0.1');
      // Retransmit as a UDP client does (T1 500 ms), until the final answer or the timeout.
      const retransmit = setInterval(() => {
        if (++tries < 6) send();
      }, 500);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (r: SipResponse | undefined) => {
        clearInterval(retransmit);
        clearTimeout(timer);
        waiting.delete(key);
        ok(r);
      };
      waiting.set(key, done);
      send();
    });

  const message = (uri: string, callId: string, seq: number, expires: number, auth?: string) =>
    [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${address}:${port};branch=z9hG4bK-${callId}-${seq};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user.username}@127.0.0.1>;tag=${callId.slice(0, 10)}`,
      `To: <sip:${user.username}@127.0.0.1>`,
      `Call-ID: ${callId}`,
      `CSeq: ${seq} REGISTER`,
      `Contact: <sip:${user.username}@${address}:${port}>`,
      `Expires: ${expires}`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');

  return {
    address,
    port,
    async register(o = {}) {
      const uri = o.requestUri ?? `sip:127.0.0.1:${sipPort}`;
      const timeoutMs = o.timeoutMs ?? 5000;
      const callId = `reg-${address}-${port}-${++n}-${Math.random().toString(36).slice(2, 8)}`;
      const started = performance.now();
      const first = await exchange(message(uri, callId, 1, o.expires ?? 300), `${callId}|1`, timeoutMs);
      const challenge = first?.status === 401 ? challengeIn(first) : undefined;
      if (!first || !challenge) return { status: first?.status, reason: first?.reason ?? 'no answer', ms: performance.now() - started };
      const auth = answerChallenge(challenge, { username: user.username, secret: { password: user.password }, method: 'REGISTER', uri: o.digestUri ?? uri });
      const second = await exchange(message(uri, callId, 2, o.expires ?? 300, auth), `${callId}|2`, timeoutMs);
      return { status: second?.status, reason: second?.reason ?? 'no answer', ms: performance.now() - started };
    },
    close: () => new Promise((ok) => socket.close(() => ok())),
  };
}
