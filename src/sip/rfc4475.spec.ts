import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { responseForMalformed } from './malformed';
import { type SipMessage, type SipRequest, type SipResponse, headerValue, headerValues } from './message';
import { parseMessage } from './parser';
import { type OpaqueUri, type SipUri, isSipUri } from './uri';

const corpus = join(__dirname, '../../test/sip/rfc4475');
const read = (folder: string, name: string): Buffer => readFileSync(join(corpus, folder, `${name}.dat`));

function parsed(name: string): SipMessage {
  const result = parseMessage(read('valid', name));
  if (!result.ok) throw new Error(`${name}: ${result.error.code} ${result.error.reason}`);
  return result.value;
}
function request(name: string): SipRequest {
  const msg = parsed(name);
  if (msg.kind !== 'request') throw new Error(`${name} is not a request`);
  return msg;
}
function response(name: string): SipResponse {
  const msg = parsed(name);
  if (msg.kind !== 'response') throw new Error(`${name} is not a response`);
  return msg;
}
function sipUri(uri: unknown): SipUri {
  const u = uri as SipUri;
  if (!isSipUri(u)) throw new Error('not a SIP URI');
  return u;
}

describe('RFC 4475 valid messages parse to the values the RFC describes', () => {
  it('has the 27 valid messages of the corpus', () => {
    expect(readdirSync(join(corpus, 'valid')).filter((f) => f.endsWith('.dat'))).toHaveLength(27);
  });

  it('wsinv: folded, spaced and compact headers', () => {
    const m = request('wsinv');
    expect(m.method).toBe('INVITE');
    expect(sipUri(m.uri)).toMatchObject({ user: 'vivekg', host: 'chair-dnrc.example.com' });
    expect(sipUri(m.uri).params.get('unknownparam')).toBeNull();
    expect(m.to.params.get('tag')).toBe('1918181833n');
    expect(m.from.displayName).toBe('J Rosenberg \\"');
    expect(m.from.params.get('tag')).toBe('98asjd8');
    expect(m.maxForwards).toBe(68);
    expect(m.cseq).toEqual({ seq: 9, method: 'INVITE' });
    expect(m.via.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(headerValue(m, 'NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(headerValue(m, 'UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
    expect(headerValue(m, 's')).toBe('');
    expect(m.contact).toHaveLength(1);
    expect(m.contact[0].displayName).toBe('Quoted string ""');
    expect(m.contact[0].params.get('newparam')).toBe('newvalue');
    expect(m.contact[0].params.get('secondparam')).toBeNull();
    expect(m.contact[0].params.get('q')).toBe('0.33');
    expect(m.body.length).toBe(150);
  });

  it('intmeth: unusual method, URI with password, control characters in quoted display name', () => {
    const m = request('intmeth');
    expect(m.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    const uri = sipUri(m.uri);
    expect(uri.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(uri.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(uri.host).toBe('example.com');
    expect(m.via[0].branch).toBe("z9hG4bK-.!%66*_+`'~");
    expect(m.to.displayName).toBe('BEL:\x07 NUL:\x00 DEL:\x7f');
    expect(m.from.displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(m.from.params.get('tag')).toBe("_token~1'+`*%!-.");
    expect(m.from.params.get("fromparam''~+*_!.-%")).toMatch(/^"[\u0400-\u04ff]+"$/);
    expect(m.callId).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    expect(m.cseq).toEqual({ seq: 139122385, method: m.method });
    expect(headerValue(m, "extensionHeader-!.%*+_`'~")).toBe('\ufeff\u5927\u505c\u96fb');
    expect(m.body.length).toBe(0);
  });

  it('esc01: escapes are decoded in user part and URI parameters', () => {
    const m = request('esc01');
    expect(sipUri(m.uri)).toMatchObject({ user: 'sips:user@example.com', host: 'example.net' });
    expect(sipUri(m.to.uri).user).toBe('user');
    expect(sipUri(m.from.uri).user).toBe('I have spaces');
    expect(m.callId).toBe('esc01.239409asdfakjkn23onasd0-3234');
    expect(headerValue(m, 'Content-Type')).toBe('application/sdp');
    const contact = sipUri(m.contact[0].uri);
    expect(contact.user).toBe('caller');
    expect(contact.params.get('lr')).toBeNull();
    expect(contact.params.get('name')).toBe('value%41');
    expect(m.body.length).toBe(150);
  });

  it('escnull: %00 in a user part is a NUL character', () => {
    const m = request('escnull');
    expect(m.method).toBe('REGISTER');
    expect(sipUri(m.to.uri).user).toBe('null-\x00-null');
    expect(m.contact.map((c) => sipUri(c.uri).user)).toEqual(['\x00', '\x00\x00']);
  });

  it('esc02: % that is not an escape stays literal outside URIs', () => {
    const m = request('esc02');
    expect(m.method).toBe('RE%47IST%45R');
    expect(m.cseq.method).toBe('RE%47IST%45R');
    expect(m.to.displayName).toBe('%Z%45');
    expect(m.via[0].branch).toBe('z9hG4bK209%fzsnel234');
    expect(headerValues(m, 'Contact')).toHaveLength(2);
    expect(headerValue(m, 'C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
    expect(m.contact.map((c) => sipUri(c.uri).host)).toEqual(['host1.example.com', 'host3.example.com']);
  });

  it('lwsdisp: display name directly followed by <', () => {
    const m = request('lwsdisp');
    expect(m.from.displayName).toBe('caller');
    expect(sipUri(m.from.uri).user).toBe('caller');
    expect(m.from.params.get('tag')).toBe('323');
  });

  it('longreq: long values survive', () => {
    const m = request('longreq');
    expect(m.to.displayName).toContain('extremeextreme');
    expect(sipUri(m.to.uri).port).toBe(6000);
    expect(sipUri(m.to.uri).params.get('unknownparam1')).toMatch(/^verylong(long)+value$/);
    expect(m.from.params.get('tag')).toMatch(/^12982982(982)+424$/);
    expect(m.callId).toMatch(/^longreq\.one(really)+long/);
    expect(m.via.length).toBe(34);
    expect(m.body.length).toBe(150);
  });

  it('dblreq: the second message in the datagram is discarded (Content-Length 0)', () => {
    const m = request('dblreq');
    expect(m.method).toBe('REGISTER');
    expect(m.callId).toBe('dblreq.0ha0isndaksdj99sdfafnl3lk233412');
    expect(m.body.length).toBe(0);
  });

  it('semiuri: semicolons inside the user part', () => {
    const m = request('semiuri');
    expect(sipUri(m.uri)).toMatchObject({ user: 'user;par=u@example.net', host: 'example.com' });
    expect(sipUri(m.uri).params.size).toBe(0);
    expect(headerValues(m, 'Accept')).toEqual([
      'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
    ]);
  });

  it('transports: known and unknown transports in Via', () => {
    const m = request('transports');
    expect(m.via.map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
    expect(m.callId).toBe('transports.kijh4akdnaqjkwendsasfdj');
  });

  it('mpart01: binary multipart body kept byte for byte', () => {
    const raw = read('valid', 'mpart01');
    const m = request('mpart01');
    expect(m.method).toBe('MESSAGE');
    expect(m.body.length).toBe(553);
    expect(m.body.equals(raw.subarray(raw.indexOf('\r\n\r\n') + 4, raw.indexOf('\r\n\r\n') + 4 + 553))).toBe(true);
    expect(m.via[0]).toMatchObject({ host: '127.0.0.1', port: 5070, rport: null });
  });

  it('unreason: UTF-8 reason phrase', () => {
    const m = response('unreason');
    expect(m.status).toBe(200);
    expect(m.reason.startsWith('= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e')).toBe(true);
    expect(m.body.length).toBe(154);
  });

  it('noreason: empty reason phrase', () => {
    const m = response('noreason');
    expect(m.status).toBe(100);
    expect(m.reason).toBe('');
    expect(m.to.params.get('tag')).toBe('902jndnke3');
  });

  it('badbranch: a bare magic cookie is still a syntactically valid branch', () => {
    expect(request('badbranch').via[0].branch).toBe('z9hG4bK');
  });

  it('unkscm / novelsc: Request-URI with unknown or atypical scheme is kept opaque', () => {
    expect(request('unkscm').uri).toEqual({ scheme: 'nobodyknowsthisscheme', opaque: 'totallyopaquecontent' });
    expect(request('novelsc').uri).toEqual({ scheme: 'soap.beep', opaque: '//192.0.2.103:3002' });
  });

  it('unksm2: unknown schemes in To, From and Contact', () => {
    const m = request('unksm2');
    expect((m.to.uri as OpaqueUri).scheme).toBe('isbn');
    expect((m.to.uri as OpaqueUri).opaque).toBe('2983792873');
    expect(m.from.uri).toEqual({ scheme: 'http', opaque: '//www.example.com' });
    expect(m.contact[0].uri).toEqual({ scheme: 'name', opaque: 'John_Smith' });
  });

  it('bext01: Require and Proxy-Require lists', () => {
    const m = request('bext01');
    expect(headerValues(m, 'Require')).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']);
    expect(headerValues(m, 'Proxy-Require')).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    expect(m.via[0].transport).toBe('TLS');
  });

  it('invut: unknown Content-Type with body', () => {
    const m = request('invut');
    expect(headerValue(m, 'content-type')).toBe('application/unknownformat');
    expect(m.body.toString()).toBe('<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n');
  });

  it('regaut01: unknown Authorization scheme is kept as one value', () => {
    expect(headerValues(request('regaut01'), 'Authorization')).toEqual(['NoOneKnowsThisScheme opaque-data=here']);
  });

  it('bcast: response with a broadcast Via', () => {
    const m = response('bcast');
    expect(m.status).toBe(200);
    expect(m.via.map((v) => v.host)).toEqual(['192.0.2.198', '255.255.255.255']);
    expect(m.body.length).toBe(154);
  });

  it('zeromf: Max-Forwards 0', () => {
    expect(request('zeromf').maxForwards).toBe(0);
  });

  it('cparam01 / cparam02: header parameter versus URI parameter', () => {
    const c1 = request('cparam01').contact[0];
    expect(c1.params.has('unknownparam')).toBe(true);
    expect(sipUri(c1.uri).params.size).toBe(0);
    const c2 = request('cparam02').contact[0];
    expect(c2.params.size).toBe(0);
    expect(sipUri(c2.uri).params.has('unknownparam')).toBe(true);
    expect(sipUri(c2.uri).user).toBe('+19725552222');
  });

  it('regescrt: escaped URI header inside <> is decoded', () => {
    const uri = sipUri(request('regescrt').contact[0].uri);
    expect(uri.headers.get('Route')).toBe('<sip:sip.example.com>');
  });

  it('sdp01: Accept with an unknown type', () => {
    const m = request('sdp01');
    expect(headerValues(m, 'Accept')).toEqual(['text/nobodyKnowsThis']);
    expect(m.body.length).toBe(150);
  });

  it('inv2543: RFC 2543 request without branch, tag or Content-Length', () => {
    const m = request('inv2543');
    expect(m.via[0]).toMatchObject({ host: 'iftgw.example.com', branch: undefined });
    expect(m.from.params.has('tag')).toBe(false);
    // A bare addr-spec cannot carry URI parameters: ;user=phone is a To header parameter here.
    expect(m.to.params.get('user')).toBe('phone');
    expect(sipUri(m.to.uri).params.size).toBe(0);
    expect(m.maxForwards).toBeUndefined();
    expect(m.body.toString().startsWith('v=0\r\n')).toBe(true);
    expect(m.body.toString().endsWith('m=audio 49217 RTP/AVP 0\r\n')).toBe(true);
  });
});

const invalid: Array<[string, string, number | undefined]> = [
  ['badinv01', 'BAD_HEADER', 400],
  ['clerr', 'BAD_CONTENT_LENGTH', 400],
  ['ncl', 'BAD_CONTENT_LENGTH', 400],
  ['scalar02', 'BAD_CSEQ', 400],
  ['scalarlg', 'BAD_CSEQ', undefined],
  ['quotbal', 'BAD_ADDRESS', 400],
  ['ltgtruri', 'BAD_REQUEST_URI', 400],
  ['lwsruri', 'BAD_START_LINE', 400],
  ['lwsstart', 'BAD_START_LINE', 400],
  ['trws', 'BAD_START_LINE', 400],
  ['escruri', 'BAD_REQUEST_URI', 400],
  ['baddate', 'BAD_DATE', 400],
  ['regbadct', 'BAD_ADDRESS', 400],
  ['badaspec', 'BAD_ADDRESS', 400],
  ['baddn', 'BAD_ADDRESS', 400],
  ['badvers', 'BAD_VERSION', 505],
  ['mismatch01', 'BAD_CSEQ', 400],
  ['mismatch02', 'BAD_CSEQ', 400],
  ['bigcode', 'BAD_STATUS', undefined],
  ['insuf', 'MISSING_HEADER', 400],
  ['multi01', 'MULTIPLE_VALUES', 400],
  ['mcl01', 'MULTIPLE_VALUES', 400],
  ['extra-test', 'BAD_HEADER', undefined],
];

describe('RFC 4475 invalid messages are rejected with a reason', () => {
  it('covers every file in the invalid folder', () => {
    const files = readdirSync(join(corpus, 'invalid')).filter((f) => f.endsWith('.dat')).map((f) => f.slice(0, -4));
    expect(files.sort()).toEqual(invalid.map(([name]) => name).sort());
  });

  it.each(invalid)('%s is rejected with %s and answered with %s', (name, code, status) => {
    const raw = read('invalid', name);
    const result = parseMessage(raw);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe(code);
    expect(result.error.reason.length).toBeGreaterThan(10);
    const reply = responseForMalformed(raw, result.error);
    expect(reply?.status).toBe(status);
    if (reply) {
      const text = reply.data.toString('latin1');
      expect(text.startsWith(`SIP/2.0 ${status} ${result.error.reason}\r\n`)).toBe(true);
      expect(text).toMatch(/\r\nVia: SIP\/\d\.\d\/[A-Z]+ /i);
      expect(text.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
    }
  });

  it('gives the reasons a peer can act on', () => {
    const reason = (name: string): string => {
      const r = parseMessage(read('invalid', name));
      return r.ok ? '' : r.error.reason;
    };
    expect(reason('mismatch01')).toBe('CSeq method does not match request method');
    expect(reason('clerr')).toBe('Content-Length is larger than the message body');
    expect(reason('regbadct')).toBe('Contact: a URI with headers must be enclosed in <>');
    expect(reason('quotbal')).toBe('To: unterminated quoted display name');
  });
});
