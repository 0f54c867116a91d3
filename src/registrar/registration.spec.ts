import { Binding, planRegister, RegisterInput, remainingSeconds } from './registration';

const binding = (uri: string, callId = 'call-1', cseq = 1): Binding => ({
  uri,
  contact: `<${uri}>`,
  expiresAt: 10_000,
  q: 1,
  callId,
  cseq,
  source: { address: '127.0.0.1', port: 5070, transport: 'UDP' },
  registeredAt: 0,
});

const base: RegisterInput = { wildcard: false, contacts: [], callId: 'call-1', cseq: 2, existing: [], minExpires: 60, maxExpires: 3600 };
const contact = (uri: string, expires: number) => ({ uri, contact: `<${uri}>`, expires, q: 1 });

describe('planRegister (RFC 3261 §10.3)', () => {
  it('answers a REGISTER without Contact with the current bindings (a query)', () => {
    expect(planRegister({ ...base, existing: [binding('sip:a@127.0.0.1')] })).toEqual({ kind: 'query' });
  });

  it('adds several contacts for one user (many devices), clamping to the maximum', () => {
    const plan = planRegister({ ...base, contacts: [contact('sip:a@127.0.0.1:5070', 120), contact('sip:a@127.0.0.1:5072', 999_999)] });
    expect(plan).toEqual({
      kind: 'change',
      upserts: [
        { contact: contact('sip:a@127.0.0.1:5070', 120), expires: 120 },
        { contact: contact('sip:a@127.0.0.1:5072', 999_999), expires: 3600 },
      ],
      removals: [],
    });
  });

  it('refuses an interval below the minimum with 423 and Min-Expires', () => {
    expect(planRegister({ ...base, contacts: [contact('sip:a@127.0.0.1', 30)] })).toEqual({ kind: 'reject', status: 423, reason: 'Interval Too Brief', minExpires: 60 });
  });

  it('removes a binding with expires 0, and ignores expires 0 for an unknown contact', () => {
    const existing = [binding('sip:a@127.0.0.1')];
    expect(planRegister({ ...base, existing, contacts: [contact('sip:a@127.0.0.1', 0), contact('sip:b@127.0.0.1', 0)] })).toEqual({ kind: 'change', upserts: [], removals: ['sip:a@127.0.0.1'] });
  });

  it('removes every binding for Contact: * with Expires: 0', () => {
    const existing = [binding('sip:a@127.0.0.1'), binding('sip:b@127.0.0.1', 'other-call', 9)];
    expect(planRegister({ ...base, wildcard: true, expiresHeader: 0, existing })).toEqual({ kind: 'change', upserts: [], removals: ['sip:a@127.0.0.1', 'sip:b@127.0.0.1'] });
  });

  it('refuses a wildcard with a non-zero Expires or beside other contacts', () => {
    expect(planRegister({ ...base, wildcard: true, expiresHeader: 60 })).toMatchObject({ kind: 'reject', status: 400 });
    expect(planRegister({ ...base, wildcard: true, expiresHeader: 0, contacts: [contact('sip:a@127.0.0.1', 0)] })).toMatchObject({ kind: 'reject', status: 400 });
  });

  it('refuses a stale CSeq for a binding of the same Call-ID, but lets another Call-ID replace it', () => {
    const existing = [binding('sip:a@127.0.0.1', 'call-1', 5)];
    expect(planRegister({ ...base, cseq: 5, existing, contacts: [contact('sip:a@127.0.0.1', 120)] })).toEqual({ kind: 'reject', status: 400, reason: 'CSeq Out Of Order' });
    expect(planRegister({ ...base, cseq: 1, callId: 'call-2', existing, contacts: [contact('sip:a@127.0.0.1', 120)] })).toMatchObject({ kind: 'change' });
  });
});

describe('remainingSeconds', () => {
  it('rounds up and never shows a live binding as 0', () => {
    expect(remainingSeconds({ ...binding('sip:a@x'), expiresAt: 10_500 }, 10_000)).toBe(1);
    expect(remainingSeconds({ ...binding('sip:a@x'), expiresAt: 70_000 }, 10_000)).toBe(60);
  });
});
