/**
 * Helpers for call-control.test.ts that support.ts lacks: trunks with a channel limit, accounts
 * with a concurrent-call limit, every message a SIPp peer received (not only the first of a
 * method), the media line of an SDP, and an operator hangup of an account's calls.
 */
import { unique } from '../support/app';
import { createAccount } from '../billing/support';
import { CallsGateway, liveCalls, messagesOf } from './support';

/** A trunk at host:port (outbound), optionally with maxChannels and addresses allowed to send calls in. */
export async function newTrunkWith(
  gw: CallsGateway,
  o: { port: number; host?: string; maxChannels?: number | null; inboundAddresses?: string[] },
): Promise<string> {
  const r = await gw.t
    .http()
    .post('/v1/trunks')
    .send({
      name: unique('cc-trunk'),
      host: o.host ?? '127.0.0.1',
      port: o.port,
      transport: 'udp',
      username: null,
      password: null,
      inboundAddresses: o.inboundAddresses ?? [],
      maxChannels: o.maxChannels ?? null,
    })
    .expect(201);
  expect(r.body.maxChannels ?? null).toBe(o.maxChannels ?? null);
  return r.body.id as string;
}

/** An account on the gateway's test deck, topped up, with at most `maxConcurrentCalls` calls. */
export async function limitedAccount(gw: CallsGateway, maxConcurrentCalls: number, balance = '10.000000'): Promise<string> {
  const id = await createAccount(gw.t, { deckId: gw.deckId, balance, maxConcurrentCalls });
  const acc = (await gw.t.http().get(`/v1/accounts/${id}`).expect(200)).body as { maxConcurrentCalls: number | null };
  expect(acc.maxConcurrentCalls).toBe(maxConcurrentCalls);
  return id;
}

/** Every message SIPp received, whole (start line, headers, body), in order. */
export function receivedMessages(dir: string): string[] {
  const out: string[] = [];
  for (const part of messagesOf(dir).split(/-{20,}[^\n]*\n/)) {
    const m = /message received \[\d+\] bytes :\s*\n+([\s\S]*)$/.exec(part);
    if (m) out.push(m[1].replace(/\s+$/, ''));
  }
  return out;
}

/** Every message SIPp sent, whole, in order. */
export function sentMessages(dir: string): string[] {
  const out: string[] = [];
  for (const part of messagesOf(dir).split(/-{20,}[^\n]*\n/)) {
    const m = /message sent \(\d+ bytes\):\s*\n+([\s\S]*)$/.exec(part);
    if (m) out.push(m[1].replace(/\s+$/, ''));
  }
  return out;
}

/** The received requests of `method` (retransmissions included: SIPp logs each datagram). */
export function requestsReceived(dir: string, method: string): string[] {
  return receivedMessages(dir).filter((m) => m.startsWith(`${method} `));
}

/** The value of the first header `name` (long form) of a message. */
export function header(message: string, name: string): string | undefined {
  const re = new RegExp(`^${name}\\s*:\\s*([^\\r\\n]*)`, 'im');
  return re.exec(message)?.[1].trim();
}

/** The CSeq number of a message. */
export function cseqOf(message: string): number {
  return Number(/^CSeq\s*:\s*(\d+)/im.exec(message)?.[1] ?? NaN);
}

/** The audio media of an SDP body: connection address, port and direction attribute (if any). */
export function audioOf(message: string): { ip: string | undefined; port: number; direction: string | undefined } {
  const body = message.split(/\r?\n\r?\n/).slice(1).join('\n');
  const ip = /^c=IN IP4 ([0-9.]+)/m.exec(body)?.[1];
  const port = Number(/^m=audio (\d+) /m.exec(body)?.[1] ?? NaN);
  const direction = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m.exec(body)?.[1];
  return { ip, port, direction };
}

/** Operator hangup (DELETE /v1/calls/{id}) of every call of the account in progress; how many. */
export async function hangUpCalls(gw: CallsGateway, accountId: string): Promise<number> {
  const calls = await liveCalls(gw, { accountId });
  for (const c of calls) await gw.t.http().delete(`/v1/calls/${c.id}`).expect(204);
  return calls.length;
}

/** Operator hangup of every call in progress on this gateway (cleanup after a failed test). */
export async function hangUpEverything(gw: CallsGateway): Promise<void> {
  const calls = (await gw.t.http().get('/v1/calls').expect(200)).body.data as { id: string }[];
  for (const c of calls) await gw.t.http().delete(`/v1/calls/${c.id}`);
}
