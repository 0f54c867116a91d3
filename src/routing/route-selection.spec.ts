import fc from 'fast-check';
import { prefixesOf, RouteCandidate, selectRoutes } from './route-selection';

const route = (trunkId: string, prefix: string, priority = 100, weight = 1, extra: Partial<RouteCandidate> = {}): RouteCandidate => ({
  routeId: `${trunkId}-${prefix}`,
  prefix,
  priority,
  weight,
  trunkId,
  trunkEnabled: true,
  ...extra,
});

describe('selectRoutes', () => {
  it('tries the longest matching prefix first, then shorter ones as fallbacks', () => {
    const routes = [route('all', ''), route('jp', '81'), route('tokyo', '813'), route('us', '1')];
    expect(selectRoutes({ destination: '+81312345678', routes, seed: 'c1' }).map((r) => r.trunkId)).toEqual(['tokyo', 'jp', 'all']);
  });

  it('orders by priority within a prefix (lower first)', () => {
    const routes = [route('b', '44', 20), route('a', '44', 10), route('c', '44', 30)];
    expect(selectRoutes({ destination: '442071234567', routes, seed: 'x' }).map((r) => r.trunkId)).toEqual(['a', 'b', 'c']);
  });

  it('lists a trunk once, at its best place', () => {
    const routes = [route('t1', '81'), route('t1', ''), route('t2', '')];
    expect(selectRoutes({ destination: '81312345678', routes, seed: 's' }).map((r) => r.routeId)).toEqual(['t1-81', 't2-']);
  });

  it('leaves out disabled trunks', () => {
    const routes = [route('off', '1', 1, 1, { trunkEnabled: false }), route('ok', '1', 3)];
    expect(selectRoutes({ destination: '12125550100', routes, seed: 's' }).map((r) => r.trunkId)).toEqual(['ok']);
  });

  it('matches nothing for a number no prefix covers', () => {
    expect(selectRoutes({ destination: '33123456789', routes: [route('jp', '81')], seed: 's' })).toEqual([]);
  });

  it('gives the same call the same order, whatever the input order', () => {
    fc.assert(
      fc.property(fc.string(), fc.shuffledSubarray([route('a', '1', 1, 3), route('b', '1', 1, 1), route('c', '1', 1, 6), route('d', '', 5)], { minLength: 4, maxLength: 4 }), (seed, routes) => {
        const once = selectRoutes({ destination: '12125550100', routes, seed }).map((r) => r.trunkId);
        const again = selectRoutes({ destination: '12125550100', routes: [...routes].reverse(), seed }).map((r) => r.trunkId);
        return JSON.stringify(once) === JSON.stringify(again) && once[once.length - 1] === 'd';
      }),
    );
  });

  it('spreads first attempts by weight over many calls (within 1.5 points of each share)', () => {
    const routes = [route('a', '1', 1, 1), route('b', '1', 1, 3), route('c', '1', 1, 6)];
    const first = new Map<string, number>();
    const calls = 100_000;
    for (let i = 0; i < calls; i++) {
      const id = selectRoutes({ destination: '12125550100', routes, seed: `call-${i}` })[0].trunkId;
      first.set(id, (first.get(id) ?? 0) + 1);
    }
    expect(Math.abs((first.get('a') ?? 0) / calls - 0.1)).toBeLessThan(0.015);
    expect(Math.abs((first.get('b') ?? 0) / calls - 0.3)).toBeLessThan(0.015);
    expect(Math.abs((first.get('c') ?? 0) / calls - 0.6)).toBeLessThan(0.015);
  });
});

describe('prefixesOf', () => {
  it('lists every prefix, longest first, down to the empty one', () => {
    expect(prefixesOf('+813')).toEqual(['813', '81', '8', '']);
  });
});
