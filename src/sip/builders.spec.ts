import { SipBuildError, createCancel, createRequest, createResponse, withRequestUri, withTopVia } from './builders';
import { contactQ, contactWithExpires, isWildcardContact, requestedExpires } from './contact';
import { newBranch, newCallId, newTag } from './identifiers';
import { type SipRequest, headerValues } from './message';
import { parseMessage } from './parser';
import { serialize } from './serializer';
import { hasTransactionBranch, serverKey } from './transaction/keys';
import { createVia } from './via';
import { request } from '../../test/sip/support/messages';

function parsed(data: Buffer): SipRequest {
  const r = parseMessage(data);
  if (!r.ok || r.value.kind !== 'request') throw new Error('fixture');
  return r.value;
}

describe('building messages', () => {
  const invite = parsed(request({ method: 'INVITE', extra: ['Record-Route: <sip:127.0.0.1:5081;lr>', 'Route: <sip:127.0.0.1:5082;lr>'] }));

  it('copies Via, From, To (adding the tag), Call-ID and CSeq into a response', () => {
    const res = createResponse(invite, 486, { toTag: 'callee' });
    expect(res.status).toBe(486);
    expect(res.reason).toBe('Busy Here');
    expect(res.via).toEqual(invite.via);
    expect(res.from).toEqual(invite.from);
    expect(res.to.params.get('tag')).toBe('callee');
    expect(res.callId).toBe(invite.callId);
    expect(res.cseq).toEqual(invite.cseq);
    expect(headerValues(res, 'Record-Route')).toEqual([]);
    expect(headerValues(res, 'Route')).toEqual([]);
    expect(headerValues(createResponse(invite, 200, { toTag: 'x' }), 'Record-Route')).toEqual(['<sip:127.0.0.1:5081;lr>']);
  });

  it('keeps an existing To tag and sends the response to the wire with the right Content-Length', () => {
    const inDialog = parsed(request({ toTag: 'already' }));
    const res = createResponse(inDialog, 200, { toTag: 'other', body: Buffer.from('hello') });
    expect(res.to.params.get('tag')).toBe('already');
    expect(serialize(res).toString()).toMatch(/\r\nContent-Length: 5\r\n\r\nhello$/);
  });

  it('builds CANCEL with the INVITE branch and CSeq number, and matches the INVITE key', () => {
    const cancel = createCancel(invite);
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.via).toEqual([invite.via[0]]);
    expect(cancel.cseq).toEqual({ seq: invite.cseq.seq, method: 'CANCEL' });
    expect(headerValues(cancel, 'Route')).toEqual(['<sip:127.0.0.1:5082;lr>']);
    expect(serverKey(cancel, 'INVITE')).toBe(serverKey(invite));
  });

  it('adds a From tag and a Call-ID to a new request, and rejects invalid parts', () => {
    const req = createRequest({ method: 'OPTIONS', uri: 'sip:a@127.0.0.1', from: { uri: { scheme: 'sip', host: '127.0.0.1', params: new Map(), headers: new Map() }, params: new Map() }, to: '<sip:a@127.0.0.1>', via: createVia({ transport: 'UDP', host: '127.0.0.1', port: 5060, params: new Map([['branch', newBranch()]]) }) });
    expect(req.from.params.get('tag')).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(req.callId.length).toBeGreaterThan(10);
    expect(hasTransactionBranch(req)).toBe(true);
    expect(() => createRequest({ method: 'OPTIONS', uri: 'not a uri', from: '<sip:a@127.0.0.1>', to: '<sip:a@127.0.0.1>', via: 'SIP/2.0/UDP 127.0.0.1' })).toThrow(SipBuildError);
  });

  it('re-targets and re-Vias a request', () => {
    const moved = withRequestUri(invite, 'sip:+15550100@127.0.0.1:5090');
    expect(moved.uri).toMatchObject({ user: '+15550100', port: 5090 });
    const forwarded = withTopVia(invite, createVia({ transport: 'UDP', host: '127.0.0.1', port: 5060, params: new Map([['branch', 'z9hG4bK-fwd']]) }));
    expect(forwarded.via.map((v) => v.branch)).toEqual(['z9hG4bK-fwd', invite.via[0].branch]);
  });

  it('generates distinct identifiers made of token characters', () => {
    const values = new Set([newTag(), newTag(), newCallId('127.0.0.1'), newBranch()]);
    expect(values.size).toBe(4);
    for (const v of values) expect(v).toMatch(/^[A-Za-z0-9_\-@.]+$/);
    expect(newBranch().startsWith('z9hG4bK')).toBe(true);
  });
});

describe('transaction keys', () => {
  it('treats host and host:5060 as the same sent-by, and a bare cookie as RFC 2543', () => {
    const a = parsed(Buffer.from(request().toString().replace('127.0.0.1:5999;branch', '127.0.0.1:5060;branch')));
    const b = parsed(Buffer.from(request().toString().replace('127.0.0.1:5999;branch', '127.0.0.1;branch')));
    expect(serverKey(a)).toBe(serverKey(b));
    const bare = parsed(request({ branch: 'z9hG4bK' }));
    expect(hasTransactionBranch(bare)).toBe(false);
    expect(serverKey(bare).startsWith('2543|')).toBe(true);
  });
});

describe('registrar helpers', () => {
  const register = parsed(request({ method: 'REGISTER', extra: ['Contact: <sip:alice@127.0.0.1:6000>;expires=60;q=0.5', 'Expires: 1800'] }));

  it('reads expires from the contact parameter, then the Expires header, then the default', () => {
    expect(register.contact.map((c) => requestedExpires(c, register, 3600))).toEqual([1800, 60]);
    expect(contactQ(register.contact[1])).toBe(0.5);
    expect(contactQ(register.contact[0])).toBe(1);
    expect(contactWithExpires(register.contact[0], 300).params.get('expires')).toBe('300');
  });

  it('recognises Contact: * and refuses it next to other contacts', () => {
    const text = request({ method: 'REGISTER', extra: ['Expires: 0'] }).toString().replace('Contact: <sip:alice@127.0.0.1:5999>', 'Contact: *');
    expect(isWildcardContact(parsed(Buffer.from(text)))).toBe(true);
    const mixed = parseMessage(Buffer.from(text.replace('Contact: *', 'Contact: *, <sip:a@127.0.0.1>')));
    expect(mixed).toMatchObject({ ok: false, error: { code: 'BAD_ADDRESS' } });
  });
});
