import { redisVerdict } from './redis';

describe('redisVerdict: what start-up makes of Redis settings', () => {
  const persistent = { aofEnabled: true, save: '3600 1' };

  it.each(['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])('refuses %s, naming the policy and the fix', (policy) => {
    const v = redisVerdict({ ...persistent, maxmemoryPolicy: policy });
    expect(v.refusal).toMatch(new RegExp(`^Redis maxmemory-policy is ${policy}: it may evict credit holds, registrations .*set maxmemory-policy noeviction`));
  });

  it('accepts noeviction with AOF without a word', () => {
    expect(redisVerdict({ ...persistent, maxmemoryPolicy: 'noeviction' })).toEqual({ warnings: [] });
  });

  it('warns on volatile-* (the gateway keys with a TTL are the evicted ones), without refusing', () => {
    const v = redisVerdict({ ...persistent, maxmemoryPolicy: 'volatile-ttl' });
    expect(v.refusal).toBeUndefined();
    expect(v.warnings).toEqual([expect.stringMatching(/^Redis maxmemory-policy is volatile-ttl: .*credit holds, registrations/)]);
  });

  it('warns, and says what is lost, when nothing persists; notes RDB-only persistence', () => {
    expect(redisVerdict({ maxmemoryPolicy: 'noeviction', aofEnabled: false, save: '' }).warnings).toEqual([expect.stringMatching(/^Redis keeps no persistence .*loses registrations .*credit holds .*queued rating jobs/)]);
    expect(redisVerdict({ maxmemoryPolicy: 'noeviction', aofEnabled: false, save: '900 1', rdbLastSave: '2026-11-30T00:00:00.000Z' }).warnings).toEqual([expect.stringMatching(/^Redis persists by RDB snapshots only \(save "900 1"\): .*last 2026-11-30T00:00:00.000Z/)]);
  });

  it('managed Redis with CONFIG disabled: warnings, no refusal', () => {
    const v = redisVerdict({ configError: "ERR unknown command 'CONFIG'", aofEnabled: false });
    expect(v.refusal).toBeUndefined();
    expect(v.warnings).toEqual([expect.stringMatching(/^Redis maxmemory-policy could not be read \(CONFIG GET: ERR unknown command 'CONFIG'\)/), expect.stringMatching(/^Redis persistence could not be confirmed \(AOF off, RDB schedule unknown\)/)]);
  });
});
