// Test messages for the SIP specs. Every address is loopback (127.0.0.1), as the test rules require.

export interface RequestText {
  method?: string;
  branch?: string;
  viaPort?: number;
  viaTransport?: string;
  rport?: boolean;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  body?: string;
  extra?: string[];
}

export function requestText(o: RequestText = {}): string {
  const method = o.method ?? 'OPTIONS';
  const body = o.body ?? '';
  const via = `SIP/2.0/${o.viaTransport ?? 'UDP'} 127.0.0.1:${o.viaPort ?? 5999}${o.branch === undefined ? ';branch=z9hG4bK-test-1' : o.branch === '' ? '' : `;branch=${o.branch}`}${o.rport ? ';rport' : ''}`;
  return [
    `${method} sip:service@127.0.0.1 SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    `From: "Alice" <sip:alice@127.0.0.1>;tag=${o.fromTag ?? 'from-1'}`,
    `To: <sip:service@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'call-1@127.0.0.1'}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    'Contact: <sip:alice@127.0.0.1:5999>',
    ...(o.extra ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

export function request(o: RequestText = {}): Buffer {
  return Buffer.from(requestText(o));
}

export const SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 8', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
