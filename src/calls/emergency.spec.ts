import fc from 'fast-check';
import { chargedDestination } from '../billing/cdrs.service';
import { loadConfig } from '../platform/config';
import { defaultEmergencyNumbers, emergencyNumber, emergencyRoutes, EU_MEMBER_STATES } from './emergency';

describe('emergency numbers', () => {
  it('has the per-country defaults', () => {
    expect(defaultEmergencyNumbers('US')).toEqual(['911', '933']);
    expect(defaultEmergencyNumbers('GB')).toEqual(['999', '112']);
    expect(defaultEmergencyNumbers('JP')).toEqual(['110', '118', '119']);
    expect(EU_MEMBER_STATES).toHaveLength(27);
    for (const c of EU_MEMBER_STATES) expect(defaultEmergencyNumbers(c)).toEqual(['112']);
    expect(defaultEmergencyNumbers('DE')).toEqual(['112']);
    expect(defaultEmergencyNumbers('BR')).toEqual(['112']);
  });

  it('matches the dialled string exactly: no longer number, no + form, no prefix', () => {
    const us = defaultEmergencyNumbers('US');
    expect(emergencyNumber('911', us)).toBe('911');
    expect(emergencyNumber('933', us)).toBe('933');
    for (const d of ['9111', '+911', '1911', '91', '112', '', '+12015550123']) expect(emergencyNumber(d, us)).toBeUndefined();
    fc.assert(fc.property(fc.string(), (d) => (emergencyNumber(d, us) === undefined) === !us.includes(d)));
  });

  it('routes only by a route whose prefix is the number: a route for 9 (+9…) never carries 911', () => {
    const routes = [{ prefix: '911', trunkId: 'a' }, { prefix: '9', trunkId: 'b' }, { prefix: '', trunkId: 'c' }, { prefix: '91', trunkId: 'd' }];
    expect(emergencyRoutes('911', routes)).toEqual([{ prefix: '911', trunkId: 'a' }]);
    expect(emergencyRoutes('933', routes)).toEqual([]);
  });

  it('an emergency CDR (outbound, no E.164 callee, no reservation) is charged to no destination: the worker rates it 0', () => {
    expect(chargedDestination({ direction: 'outbound', callee: null, translated_to: null, account_id: 'acc' })).toBeNull();
  });
});

describe('EMERGENCY_NUMBERS and DEFAULT_MAX_CONCURRENT_CALLS', () => {
  it('default to the country list and 10 calls; parse lists, none, and reject bad values naming the variable', () => {
    const d = loadConfig({});
    expect(d.calls.emergencyNumbers).toBeUndefined();
    expect(d.calls.defaultMaxConcurrentCalls).toBe(10);
    const c = loadConfig({ EMERGENCY_NUMBERS: '911, 112', DEFAULT_MAX_CONCURRENT_CALLS: 'none' });
    expect(c.calls.emergencyNumbers).toEqual(['911', '112']);
    expect(c.calls.defaultMaxConcurrentCalls).toBeNull();
    expect(loadConfig({ EMERGENCY_NUMBERS: 'none' }).calls.emergencyNumbers).toEqual([]);
    expect(() => loadConfig({ EMERGENCY_NUMBERS: '+911' })).toThrow(/EMERGENCY_NUMBERS: /);
    expect(() => loadConfig({ DEFAULT_MAX_CONCURRENT_CALLS: '0' })).toThrow(/DEFAULT_MAX_CONCURRENT_CALLS: /);
    expect(() => loadConfig({ DEFAULT_MAX_CONCURRENT_CALLS: '2.5' })).toThrow(/DEFAULT_MAX_CONCURRENT_CALLS: /);
  });
});
