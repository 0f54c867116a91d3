import { encodeHep3, HEP_CHUNK } from './hep';

/** The chunks of a packet, read the way a collector does. */
function chunks(p: Buffer): Map<number, Buffer> {
  expect(p.toString('latin1', 0, 4)).toBe('HEP3');
  expect(p.readUInt16BE(4)).toBe(p.length);
  const out = new Map<number, Buffer>();
  for (let at = 6; at < p.length; at += p.readUInt16BE(at + 4)) {
    expect(p.readUInt16BE(at)).toBe(0);
    out.set(p.readUInt16BE(at + 2), p.subarray(at + 6, at + p.readUInt16BE(at + 4)));
  }
  return out;
}

describe('encodeHep3', () => {
  const at = new Date('2026-11-30T12:00:00.123Z');

  it('writes IPv6 ends as chunks 5 and 6 with family 10, TCP as protocol 6', () => {
    const c = chunks(encodeHep3({ transport: 'TCP', src: { address: '::1', port: 5060 }, dst: { address: '2001:db8::7', port: 5070 }, at, payload: Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'), captureId: 9 }));
    expect(c.get(HEP_CHUNK.ipFamily)!.readUInt8(0)).toBe(10);
    expect(c.get(HEP_CHUNK.ipProtocol)!.readUInt8(0)).toBe(6);
    expect(c.get(HEP_CHUNK.srcIp6)!.toString('hex')).toBe('00000000000000000000000000000001');
    expect(c.get(HEP_CHUNK.dstIp6)!.toString('hex')).toBe('20010db8000000000000000000000007');
    expect(c.has(HEP_CHUNK.srcIp4)).toBe(false);
    expect(c.get(HEP_CHUNK.timeSeconds)!.readUInt32BE(0)).toBe(Math.floor(at.getTime() / 1000));
    expect(c.get(HEP_CHUNK.timeMicros)!.readUInt32BE(0)).toBe(123_000);
  });

  it('writes an IPv4-mapped address as IPv4, and a multi-byte UTF-8 payload whole', () => {
    const payload = Buffer.from('MESSAGE sip:x SIP/2.0\r\nSubject: Grüße 電話\r\n\r\n', 'utf8');
    const c = chunks(encodeHep3({ transport: 'UDP', src: { address: '::ffff:127.0.0.1', port: 1 }, dst: { address: '127.0.0.2', port: 2 }, at, payload, captureId: 1, correlationId: 'call-1', authKey: 'k' }));
    expect(c.get(HEP_CHUNK.ipFamily)!.readUInt8(0)).toBe(2);
    expect([...c.get(HEP_CHUNK.srcIp4)!]).toEqual([127, 0, 0, 1]);
    expect(c.get(HEP_CHUNK.payload)!.equals(payload)).toBe(true);
    expect(c.get(HEP_CHUNK.correlationId)!.toString()).toBe('call-1');
    expect(c.get(HEP_CHUNK.authKey)!.toString()).toBe('k');
  });

  it('cuts a payload that would not fit in one packet', () => {
    const p = encodeHep3({ transport: 'UDP', src: { address: '127.0.0.1', port: 1 }, dst: { address: '127.0.0.1', port: 2 }, at, payload: Buffer.alloc(70_000, 0x41), captureId: 1 });
    expect(p.length).toBeLessThanOrEqual(65535);
    expect(chunks(p).get(HEP_CHUNK.payload)!.length).toBeGreaterThan(65_000);
  });
});
