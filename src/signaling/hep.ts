/**
 * HEPv3 (the Homer Encapsulation Protocol, version 3) encoding of one captured SIP message, so a
 * Homer / heplify-server collector sees the gateway's traffic as it sees a capture agent's.
 *
 * A packet is "HEP3", its total length (u16), then chunks: vendor id (u16, 0 = generic), type
 * (u16), chunk length including its 6-byte header (u16), value. The generic types used here:
 * 1 IP family (2 IPv4, 10 IPv6), 2 IP protocol (17 UDP, 6 TCP), 3/4 IPv4 source/destination,
 * 5/6 IPv6 source/destination, 7/8 ports, 9/10 time (seconds, microseconds), 11 protocol type
 * (1 = SIP), 12 capture agent id, 14 auth key, 15 payload, 17 correlation id (the gateway's call
 * id, so Homer joins both legs of a call).
 *
 * Written by hand rather than with hep-js (installed, evaluated): hep-js is GPL-2.0 while this
 * project is MIT; its encoder writes only IPv4 addresses (it splits on '.'), and sizes the payload
 * chunk by the string's character count, which cuts any message with multi-byte UTF-8. The format
 * is a dozen fixed chunks, so the encoder is small.
 */
import ipaddr from 'ipaddr.js';

export interface HepPacketInput {
  readonly transport: 'UDP' | 'TCP' | 'WS' | 'WSS';
  readonly src: { address: string; port: number };
  readonly dst: { address: string; port: number };
  readonly at: Date;
  readonly payload: Buffer;
  readonly captureId: number;
  readonly authKey?: string;
  readonly correlationId?: string;
}

export const HEP_CHUNK = {
  ipFamily: 1,
  ipProtocol: 2,
  srcIp4: 3,
  dstIp4: 4,
  srcIp6: 5,
  dstIp6: 6,
  srcPort: 7,
  dstPort: 8,
  timeSeconds: 9,
  timeMicros: 10,
  protocolType: 11,
  captureId: 12,
  authKey: 14,
  payload: 15,
  correlationId: 17,
} as const;

const chunk = (type: number, value: Buffer): Buffer => {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(0, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([head, value]);
};
const u8 = (n: number) => Buffer.from([n & 0xff]);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** The address as bytes (IPv4-mapped IPv6 as IPv4); a name or garbage reads as 0.0.0.0. */
function addressBytes(address: string): { family: 4 | 6; bytes: Buffer } {
  if (!ipaddr.isValid(address)) return { family: 4, bytes: Buffer.alloc(4) };
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return { family: parsed.kind() === 'ipv4' ? 4 : 6, bytes: Buffer.from(parsed.toByteArray()) };
}

/** One HEPv3 packet for one SIP message. A packet is at most 65535 bytes: the payload is cut to fit. */
export function encodeHep3(m: HepPacketInput): Buffer {
  const src = addressBytes(m.src.address);
  let dst = addressBytes(m.dst.address);
  // Both ends in one family: an IPv4 peer of an IPv6 listener is written as IPv4 on both sides.
  if (dst.family !== src.family) dst = src.family === 4 ? { family: 4, bytes: Buffer.alloc(4) } : { family: 6, bytes: Buffer.alloc(16) };
  const ms = m.at.getTime();
  const chunks = [
    chunk(HEP_CHUNK.ipFamily, u8(src.family === 4 ? 2 : 10)),
    chunk(HEP_CHUNK.ipProtocol, u8(m.transport === 'UDP' ? 17 : 6)),
    chunk(src.family === 4 ? HEP_CHUNK.srcIp4 : HEP_CHUNK.srcIp6, src.bytes),
    chunk(dst.family === 4 ? HEP_CHUNK.dstIp4 : HEP_CHUNK.dstIp6, dst.bytes),
    chunk(HEP_CHUNK.srcPort, u16(m.src.port)),
    chunk(HEP_CHUNK.dstPort, u16(m.dst.port)),
    chunk(HEP_CHUNK.timeSeconds, u32(Math.floor(ms / 1000))),
    chunk(HEP_CHUNK.timeMicros, u32((ms % 1000) * 1000)),
    chunk(HEP_CHUNK.protocolType, u8(1)),
    chunk(HEP_CHUNK.captureId, u32(m.captureId)),
  ];
  if (m.authKey) chunks.push(chunk(HEP_CHUNK.authKey, Buffer.from(m.authKey, 'utf8')));
  if (m.correlationId) chunks.push(chunk(HEP_CHUNK.correlationId, Buffer.from(m.correlationId, 'utf8').subarray(0, 1024)));
  const used = 6 + chunks.reduce((n, c) => n + c.length, 0) + 6;
  chunks.push(chunk(HEP_CHUNK.payload, m.payload.subarray(0, Math.max(0, 65535 - used))));
  const body = Buffer.concat(chunks);
  const head = Buffer.alloc(6);
  head.write('HEP3', 0, 'latin1');
  head.writeUInt16BE(6 + body.length, 4);
  return Buffer.concat([head, body]);
}
