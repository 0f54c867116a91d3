// Owns writing a SipMessage to bytes. Content-Length is always recomputed from the body, so a
// message can never announce a length it does not carry. Must not import anything outside src/sip.
import type { SipMessage } from './message';
import { formatUri } from './uri';

export function startLine(msg: SipMessage): string {
  return msg.kind === 'request' ? `${msg.method} ${formatUri(msg.uri)} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
}

export function serialize(msg: SipMessage): Buffer {
  let head = `${startLine(msg)}\r\n`;
  for (const h of msg.headers) {
    const lower = h.name.toLowerCase();
    if (lower === 'content-length' || lower === 'l') continue;
    head += `${h.name}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  return msg.body.length === 0 ? Buffer.from(head, 'utf8') : Buffer.concat([Buffer.from(head, 'utf8'), msg.body]);
}
