import { parseMessage } from '../parser';
import type { SipRequest } from '../message';
import { parseVia } from '../via';
import { responseTarget, stampReceived, stampedTarget } from './nat';
import type { Source } from './types';
import { originRefusal } from './ws';

const wsSource: Source = { address: '198.51.100.7', port: 53211, transport: 'WS', local: { address: '0.0.0.0', port: 5066 }, connection: 'ws-1' };

describe('WebSocket origin policy', () => {
  it('same-host: a page from the host the browser connected to (any port or scheme), or no Origin at all', () => {
    const p = { allowed: 'same-host' as const };
    expect(originRefusal(p, undefined, 'gw.example:5066')).toBeUndefined();
    expect(originRefusal(p, 'https://gw.example', 'gw.example:5066')).toBeUndefined();
    expect(originRefusal(p, 'http://gw.example:3000', 'GW.example:7443')).toBeUndefined();
    expect(originRefusal(p, 'http://[::1]:3000', '[::1]:5066')).toBeUndefined();
    expect(originRefusal(p, 'https://evil.example', 'gw.example:5066')).toMatch(/not this host/);
    expect(originRefusal(p, 'https://gw.example.evil.example', 'gw.example:5066')).toMatch(/not this host/);
    expect(originRefusal(p, 'https://gw.example', undefined)).toMatch(/no Host header/);
    expect(originRefusal(p, 'null', 'gw.example:5066')).toBe('unreadable Origin');
  });

  it('a list allows exactly those origins (scheme, host and port); any allows all', () => {
    const p = { allowed: ['https://phone.example.com'] };
    expect(originRefusal(p, 'https://phone.example.com', 'gw:5066')).toBeUndefined();
    expect(originRefusal(p, 'http://phone.example.com', 'gw:5066')).toMatch(/SIP_WS_ALLOWED_ORIGINS/);
    expect(originRefusal(p, 'https://phone.example.com:8443', 'gw:5066')).toMatch(/SIP_WS_ALLOWED_ORIGINS/);
    expect(originRefusal({ allowed: 'any' }, 'https://anything.example', 'gw:5066')).toBeUndefined();
  });
});

describe('Via of a WebSocket client (RFC 7118 §5)', () => {
  const request = (viaValue: string): SipRequest => {
    const text = [`REGISTER sip:gw.example SIP/2.0`, `Via: ${viaValue}`, 'Max-Forwards: 70', 'To: <sip:a@gw.example>', 'From: <sip:a@gw.example>;tag=1', 'Call-ID: c1', 'CSeq: 1 REGISTER', 'Content-Length: 0', '', ''].join('\r\n');
    const r = parseMessage(Buffer.from(text));
    if (!r.ok || r.value.kind !== 'request') throw new Error('bad fixture');
    return r.value;
  };

  it('adds received and rport to the .invalid Via, keeps its host, transport and missing port, and answers on the connection', () => {
    const stamped = stampReceived(request('SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks'), wsSource);
    const value = stamped.headers.find((h) => h.name === 'Via')!.value;
    expect(value).toBe('SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks;received=198.51.100.7;rport=53211');
    expect(responseTarget(stamped.via[0], wsSource)).toEqual({ host: '198.51.100.7', port: 53211, transport: 'WS' });
  });

  it('finds the connection again from a stamped WS or WSS Via (a 2xx retransmitted after its transaction)', () => {
    const v = parseVia('SIP/2.0/WSS x.invalid;branch=z9hG4bK1;received=198.51.100.7;rport=53211');
    if (!v.ok) throw new Error(v.error.reason);
    expect(stampedTarget(v.value)).toEqual({ host: '198.51.100.7', port: 53211, transport: 'WSS' });
  });
});
