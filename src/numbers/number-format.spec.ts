import fc from 'fast-check';
import { isE164, normaliseNumber } from './number-format';

describe('normaliseNumber', () => {
  it('keeps a valid E.164 number and detects its country and type', () => {
    expect(normaliseNumber('+81312345678', 'US')).toEqual({ ok: true, number: { e164: '+81312345678', country: 'JP', type: 'geographic' } });
  });

  it('normalises national input with the default country', () => {
    const r = normaliseNumber('03-1234-5678', 'JP');
    expect(r).toEqual({ ok: true, number: { e164: '+81312345678', country: 'JP', type: 'geographic' } });
    expect(normaliseNumber('(212) 555-0100', 'US')).toMatchObject({ ok: true, number: { e164: '+12125550100', country: 'US' } });
  });

  it('detects toll-free numbers in Japan and North America', () => {
    expect(normaliseNumber('0120-123-456', 'JP')).toMatchObject({ ok: true, number: { e164: '+81120123456', type: 'tollFree' } });
    expect(normaliseNumber('+18005550100', 'JP')).toMatchObject({ ok: true, number: { type: 'tollFree' } });
  });

  it('detects mobile numbers', () => {
    expect(normaliseNumber('090-1234-5678', 'JP')).toMatchObject({ ok: true, number: { e164: '+819012345678', type: 'mobile' } });
  });

  it('accepts international digits dialled without + and with 00', () => {
    expect(normaliseNumber('81312345678', 'US')).toMatchObject({ ok: true, number: { e164: '+81312345678' } });
    expect(normaliseNumber('0081312345678', 'US')).toMatchObject({ ok: true, number: { e164: '+81312345678' } });
  });

  it('refuses what is not a number, with a reason', () => {
    expect(normaliseNumber('hello', 'US')).toEqual({ ok: false, message: expect.stringContaining('expected a telephone number') });
    expect(normaliseNumber('+999123', 'US')).toEqual({ ok: false, message: 'not a valid international number' });
    expect(normaliseNumber('12', 'US')).toMatchObject({ ok: false });
  });

  it('never throws and always yields strict E.164 when it succeeds', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), fc.constantFrom('US', 'JP', 'GB', 'DE'), (s, cc) => {
        const r = normaliseNumber(s, cc);
        return !r.ok || isE164(r.number.e164);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('normaliseNumber, asked again', () => {
  it('gives the same answer each time, and a caller changing its copy changes no later answer', () => {
    const first = normaliseNumber('+1 212 555 0100', 'US');
    expect(first).toEqual({ ok: true, number: { e164: '+12125550100', country: 'US', type: 'fixedLineOrMobile' } });
    if (first.ok) first.number.e164 = 'changed';
    expect(normaliseNumber('+1 212 555 0100', 'US')).toEqual({ ok: true, number: { e164: '+12125550100', country: 'US', type: 'fixedLineOrMobile' } });
    const refused = normaliseNumber('12', 'US');
    expect(refused.ok).toBe(false);
    expect(normaliseNumber('12', 'US')).toEqual(refused);
  });
});
