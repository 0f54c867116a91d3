import { chargedDestination } from './cdrs.service';
import { prefixesOf } from './rate-decks.service';

describe('prefixesOf', () => {
  it('lists every prefix of the digits, longest first, so the longest matching rate wins', () => {
    expect(prefixesOf('+4420')).toEqual(['4420', '442', '44', '4']);
  });
  it('never goes beyond the 15 digits E.164 allows', () => {
    expect(prefixesOf('+1234567890123456789')[0]).toBe('123456789012345');
  });
});

describe('chargedDestination', () => {
  const cdr = { direction: 'outbound', callee: '+12025550123', translated_to: null as string | null, account_id: 'a' as string | null };
  it('rates the callee of an outbound call', () => expect(chargedDestination(cdr)).toBe('+12025550123'));
  it('rates the toll-free target instead of the dialled number', () => expect(chargedDestination({ ...cdr, direction: 'inbound', translated_to: '+81312345678' })).toBe('+81312345678'));
  it('charges nothing for inbound or internal calls, or calls no account pays for', () => {
    expect(chargedDestination({ ...cdr, direction: 'inbound' })).toBeNull();
    expect(chargedDestination({ ...cdr, direction: 'internal' })).toBeNull();
    expect(chargedDestination({ ...cdr, account_id: null })).toBeNull();
  });
});
