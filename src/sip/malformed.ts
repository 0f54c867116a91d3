// Owns the answer to a request the parser rejected (RFC 3261 §21.4.1 400, §21.5.6 505): it reads the
// request line and the headers a response needs as raw text, with none of the checks that failed, so
// the peer learns why. Must not import anything outside src/sip.
import type { SipError } from './grammar';
import { findHeaderEnd, readHeaderSection } from './parser';
import { headerKey } from './message';

export interface MalformedReply {
  readonly status: number;
  readonly reason: string;
  /** The serialized response, ready for the transport. */
  readonly data: Buffer;
}

const ECHOED = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

/**
 * A 400 (505 for a SIP version we do not speak, 513 for an oversized message) carrying the parse error as reason phrase, or
 * undefined when the bytes are not readable as a request with a Via (then the only safe thing is to drop them).
 */
export function responseForMalformed(buf: Buffer, error: SipError): MalformedReply | undefined {
  const bounds = findHeaderEnd(buf);
  const head = buf.subarray(0, bounds?.headEnd ?? buf.length).toString('latin1');
  // Read line by line: the strict reader may have failed on a later header we can do without.
  const lines = head.split(/\r?\n/);
  while (lines.length > 0 && lines[0] === '') lines.shift();
  const requestLine = lines[0] ?? '';
  if (!/^\S+[ \t]+\S.*[ \t]+SIP\/\d+\.\d+[ \t]*$/i.test(requestLine)) return undefined;
  const echoed: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    let end = i;
    while (end + 1 < lines.length && /^[ \t]/.test(lines[end + 1])) end++;
    const one = readHeaderSection(`X\r\n${lines.slice(i, end + 1).join('\r\n')}`);
    i = end;
    if (!one.ok || one.value.headers.length !== 1) continue;
    const h = one.value.headers[0];
    if (ECHOED.has(headerKey(h.name))) echoed.push(`${h.name}: ${h.value}`);
  }
  if (!echoed.some((line) => /^(via|v)\s*:/i.test(line))) return undefined;
  const status = error.code === 'BAD_VERSION' ? 505 : error.code === 'TOO_LARGE' ? 513 : 400;
  // A reason phrase is TEXT-UTF8 on one line: keep it printable.
  const reason = error.reason.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 200);
  const text = `SIP/2.0 ${status} ${reason}\r\n${echoed.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
  return { status, reason, data: Buffer.from(text, 'latin1') };
}
