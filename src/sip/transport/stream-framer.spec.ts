import { StreamFramer } from './stream-framer';
import { request, SDP } from '../../../test/sip/support/messages';

describe('StreamFramer', () => {
  it('returns two messages written in one chunk', () => {
    const framer = new StreamFramer(65535);
    const a = request({ callId: 'a@127.0.0.1', body: SDP, method: 'INVITE' });
    const b = request({ callId: 'b@127.0.0.1' });
    const result = framer.push(Buffer.concat([a, b]));
    expect(result.error).toBeUndefined();
    expect(result.frames.map((f) => f.toString())).toEqual([a.toString(), b.toString()]);
  });

  it('returns one message split over many chunks only once it is complete', () => {
    const framer = new StreamFramer(65535);
    const whole = request({ body: SDP, method: 'INVITE' });
    const seen: Buffer[] = [];
    for (let i = 0; i < whole.length; i += 7) seen.push(...framer.push(whole.subarray(i, i + 7)).frames);
    expect(seen).toHaveLength(1);
    expect(seen[0].equals(whole)).toBe(true);
  });

  it('skips CRLF keep-alives between messages', () => {
    const framer = new StreamFramer(65535);
    const msg = request();
    const result = framer.push(Buffer.concat([Buffer.from('\r\n\r\n'), msg, Buffer.from('\r\n'), msg]));
    expect(result.frames).toHaveLength(2);
    expect(framer.push(Buffer.from('\r\n\r\n')).frames).toHaveLength(0);
  });

  it('reports an error when a message would exceed the size cap', () => {
    const framer = new StreamFramer(300);
    expect(framer.push(request({ body: 'x'.repeat(400) })).error).toBe('message exceeds the size limit');
    const endless = new StreamFramer(300);
    expect(endless.push(Buffer.from(`OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nX: ${'y'.repeat(400)}`)).error).toBe('header section exceeds the size limit');
  });

  it('reports an unreadable Content-Length', () => {
    const framer = new StreamFramer(65535);
    expect(framer.push(Buffer.from(requestText())).error).toBeUndefined();
    const bad = new StreamFramer(65535);
    expect(bad.push(Buffer.from('OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: -5\r\n\r\n')).error).toMatch(/Content-Length/);
  });
});

function requestText(): string {
  return request().toString();
}
