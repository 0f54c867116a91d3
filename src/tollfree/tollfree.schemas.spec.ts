import { normaliseNumber, NormalisedNumber } from '../numbers/number-format';
import { checkEntry, createEntry, NumberChecks } from './tollfree.schemas';

const checks: NumberChecks = {
  normalise: (s) => normaliseNumber(s, 'US'),
  isTollFree: (n: NormalisedNumber | string) => (typeof n === 'string' ? n.startsWith('+1800') : n.type === 'tollFree'),
};
let n = 0;
const newId = () => `id-${++n}`;
const base = { e164: '+18005550100', accountId: '0190a000-0000-7000-8000-000000000001', timezone: 'America/New_York', defaultTarget: '+12125550100' };

describe('checkEntry', () => {
  it('accepts a good entry, normalising its numbers and giving each rule an id', () => {
    const input = createEntry.parse({
      ...base,
      defaultTarget: '(212) 555-0100',
      rules: [
        { name: 'split', action: { split: [{ target: '2125550101', percent: 70 }, { target: '+13125550102', percent: 30 }] } },
        { id: '0190a000-0000-7000-8000-0000000000aa', name: 'block', when: { callerTypes: ['payphone'] }, action: { block: 'no payphones' } },
      ],
    });
    const r = checkEntry(input, checks, newId);
    expect(r.errors).toEqual([]);
    expect(r.entry).toMatchObject({
      defaultTarget: '+12125550100',
      rules: [
        { id: expect.stringMatching(/^id-/), when: {}, action: { split: [{ target: '+12125550101', percent: 70 }, { target: '+13125550102', percent: 30 }] } },
        { id: '0190a000-0000-7000-8000-0000000000aa', action: { block: 'no payphones', sipCode: 403 } },
      ],
    });
  });

  it('names every problem of a bad rule set at once', () => {
    const input = createEntry.parse({
      ...base,
      e164: '+12125550100',
      timezone: 'Mars/Olympus',
      defaultTarget: '+18005550199',
      rules: [
        { name: 'bad split', action: { split: [{ target: '+12125550101', percent: 60 }, { target: '+1999', percent: 30 }] } },
        { name: 'bad times', when: { timeRanges: [{ from: '09:00', to: '09:00' }], dateRanges: [{ from: '2026-12-26', to: '2026-12-24' }, { from: '2026-02-30', to: '2026-03-01' }] }, action: { route: '+18005550123' } },
        { name: 'two actions', action: { route: '+12125550101', block: 'x' } },
        { name: 'no action', action: {} },
        { name: 'code without block', action: { route: '+12125550101', sipCode: 603 } },
      ],
    });
    const r = checkEntry(input, checks, newId);
    expect(r.entry).toBeUndefined();
    expect(r.errors.map((e) => e.field)).toEqual([
      'e164',
      'timezone',
      'defaultTarget',
      'rules.0.action.split.1.target',
      'rules.0.action.split',
      'rules.1.when.timeRanges.0',
      'rules.1.when.dateRanges.0',
      'rules.1.when.dateRanges.1.from',
      'rules.1.action.route',
      'rules.2.action',
      'rules.3.action',
      'rules.4.action.sipCode',
    ]);
    expect(r.errors.find((e) => e.field === 'rules.0.action.split')?.message).toBe('percentages sum to 90, expected 100');
    expect(r.errors.find((e) => e.field === 'defaultTarget')?.message).toContain('toll-free');
  });

  it('refuses a split of more than 32 targets and repeated targets', () => {
    const split = Array.from({ length: 33 }, (_, i) => ({ target: `+1212555${2000 + i}`, percent: i === 0 ? 4 : 3 }));
    const r = checkEntry(createEntry.parse({ ...base, rules: [{ name: 's', action: { split } }] }), checks, newId);
    expect(r.errors).toEqual([{ field: 'rules.0.action.split', message: 'expected 2 to 32 targets, got 33' }]);
    const twice = checkEntry(
      createEntry.parse({ ...base, rules: [{ name: 's', action: { split: [{ target: '+12125550101', percent: 50 }, { target: '+12125550101', percent: 50 }] } }] }),
      checks,
      newId,
    );
    expect(twice.errors).toEqual([{ field: 'rules.0.action.split.1.target', message: '+12125550101 appears twice in the split' }]);
  });

  it('refuses malformed shapes before the rules (zod): bad times, empty conditions, unknown fields', () => {
    const r = createEntry.safeParse({ ...base, rules: [{ name: 'x', when: { timeRanges: [{ from: '9:00', to: '25:00' }], days: [], colour: 'red' }, action: { route: '+12125550101' } }] });
    expect(r.success).toBe(false);
    const fields = r.error!.issues.map((i) => i.path.join('.'));
    expect(fields).toEqual(expect.arrayContaining(['rules.0.when.timeRanges.0.from', 'rules.0.when.timeRanges.0.to', 'rules.0.when.days', 'rules.0.when']));
  });
});
