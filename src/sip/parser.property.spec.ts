import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { responseForMalformed } from './malformed';
import { parseMessage } from './parser';
import { serialize } from './serializer';
import { StreamFramer } from './transport/stream-framer';

const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const chars = (set: string, min = 1, max = 12) => fc.string({ unit: fc.constantFrom(...set.split('')), minLength: min, maxLength: max });
const token = chars(`${alnum}-.!%*_+\`'~`);
const escape = fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`);
const userText = fc.array(fc.oneof(chars(`${alnum}-_.!~*'()&=+$,;?/`, 1, 4), escape), { minLength: 1, maxLength: 5 }).map((p) => p.join(''));
const label = chars(alnum, 1, 8);
const host = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.')),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((n) => n.join('.')),
  fc.constantFrom('[::1]', '[2001:db8::5]'),
);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const uriParam = fc.tuple(token.filter((t) => !t.includes('%')), fc.option(chars(`${alnum}-_.`, 1, 6), { nil: undefined })).map(([n, v]) => (v === undefined ? `;${n}` : `;${n}=${v}`));
const sipUri = fc
  .tuple(fc.constantFrom('sip', 'sips'), fc.option(userText, { nil: undefined }), host, port, fc.array(uriParam, { maxLength: 3 }))
  .map(([scheme, user, h, p, params]) => `${scheme}:${user ? `${user}@` : ''}${h}${p ? `:${p}` : ''}${[...new Set(params.map((x) => x.split('=')[0].toLowerCase()))].length === params.length ? params.join('') : ''}`);
const uri = fc.oneof({ weight: 4, arbitrary: sipUri }, { weight: 1, arbitrary: chars('0123456789', 3, 12).map((n) => `tel:+${n}`) });
const displayName = fc.oneof(
  token,
  fc.string({ unit: fc.constantFrom(...`${alnum} "\\,;:<>@é`.split('')), maxLength: 12 }).map((s) => `"${s.replace(/(["\\])/g, '\\$1')}"`),
);
const nameAddr = fc.tuple(fc.option(displayName, { nil: undefined }), uri, fc.option(token, { nil: undefined })).map(([d, u, tag]) => `${d ? `${d} ` : ''}<${u}>${tag ? `;tag=${tag}` : ''}`);
const via = fc.tuple(fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP'), host, port, token, fc.boolean()).map(([t, h, p, b, r]) => `SIP/2.0/${t} ${h}${p ? `:${p}` : ''};branch=z9hG4bK${b}${r ? ';rport' : ''}`);
const extension = fc.tuple(token.filter((t) => t.length > 1), fc.string({ unit: fc.constantFrom(...`${alnum} ;,=:"<>/`.split('')), maxLength: 30 })).map(([n, v]) => `X-${n}: ${v.trim()}`);
const body = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));

const message = fc
  .tuple(
    fc.boolean(),
    fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL', 'MESSAGE', 'X-CUSTOM'),
    uri,
    fc.integer({ min: 100, max: 699 }),
    fc.array(via, { minLength: 1, maxLength: 3 }),
    nameAddr,
    nameAddr,
    chars(`${alnum}-.!%*_+\`'~@`, 1, 30),
    fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    fc.array(nameAddr, { maxLength: 2 }),
    fc.array(extension, { maxLength: 3 }),
    body,
    fc.boolean(),
  )
  .map(([isRequest, method, ruri, status, vias, from, to, callId, seq, contacts, ext, b, compact]) => {
    const start = isRequest ? `${method} ${ruri} SIP/2.0` : `SIP/2.0 ${status} Some Reason`;
    const lines = [
      start,
      ...(compact ? [`v: ${vias.join(', ')}`] : vias.map((v) => `Via: ${v}`)),
      `${compact ? 'f' : 'From'}: ${from}`,
      `${compact ? 't' : 'To'}: ${to}`,
      `${compact ? 'i' : 'Call-ID'}: ${callId}`,
      `CSeq: ${seq} ${method}`,
      ...contacts.map((c) => `${compact ? 'm' : 'Contact'}: ${c}`),
      ...ext,
      `${compact ? 'l' : 'Content-Length'}: ${b.length}`,
    ];
    return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), b]);
  });

describe('parser properties', () => {
  it('parses every generated message, and serialize() round-trips it', () => {
    fc.assert(
      fc.property(message, (raw) => {
        const first = parseMessage(raw);
        if (!first.ok) throw new Error(`${first.error.code}: ${first.error.reason}\n${raw.toString('latin1')}`);
        const again = parseMessage(serialize(first.value));
        expect(again).toEqual(first);
      }),
      { numRuns: 500 },
    );
  });

  const corpusDir = join(__dirname, '../../test/sip/rfc4475');
  const corpus = ['valid', 'invalid'].flatMap((d) => readdirSync(join(corpusDir, d)).filter((f) => f.endsWith('.dat')).map((f) => readFileSync(join(corpusDir, d, f))));

  it('round-trips every valid RFC 4475 message', () => {
    for (const file of readdirSync(join(corpusDir, 'valid'))) {
      const first = parseMessage(readFileSync(join(corpusDir, 'valid', file)));
      if (!first.ok) throw new Error(file);
      expect(parseMessage(serialize(first.value))).toEqual(first);
    }
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat(255) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
  );

  type Mutation = { kind: string; at: number; byte?: number; bytes?: Uint8Array; length?: number };

  function mutate(input: Buffer, steps: Mutation[]): Buffer {
    let buf = Buffer.from(input);
    for (const m of steps) {
      const at = buf.length === 0 ? 0 : m.at % buf.length;
      if (m.kind === 'flip') buf[at] = m.byte ?? 0;
      else if (m.kind === 'cut') buf = buf.subarray(0, at);
      else if (m.kind === 'insert') buf = Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes ?? []), buf.subarray(at)]);
      else buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + (m.length ?? 1))]);
    }
    return buf;
  }

  it('never throws or hits its safety net on mutated and truncated messages', () => {
    const seed = fc.oneof(message, fc.constantFrom(...corpus));
    fc.assert(
      fc.property(seed, fc.array(mutation, { minLength: 1, maxLength: 4 }), (raw, steps) => {
        const broken = mutate(raw, steps);
        const result = parseMessage(broken);
        if (!result.ok) {
          expect(result.error.code).not.toBe('INTERNAL');
          expect(result.error.reason).not.toBe('');
          responseForMalformed(broken, result.error);
        } else {
          expect(parseMessage(serialize(result.value)).ok).toBe(true);
        }
        const framer = new StreamFramer(4096);
        framer.push(broken.subarray(0, broken.length >> 1));
        framer.push(broken.subarray(broken.length >> 1));
      }),
      { numRuns: 3000 },
    );
  });
});
