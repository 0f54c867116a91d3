import type { AppConfig } from '../platform/config';
import type { ApiKey } from './api-key.entity';
import type { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService, MAX_CACHED_KEYS } from './api-keys.service';
import { hashSecret } from './secrets';

/** The api_keys table as a map, counting the lookups the service makes. */
class KeyTable {
  rows = new Map<string, ApiKey>();
  lookups = 0;
  /** When set, a lookup reads the row at once but answers only when this settles (a slow query). */
  hold?: Promise<void>;
  add(id: string, secret: string, role: ApiKey['role'] = 'operator'): void {
    this.rows.set(id, { id, name: id, role, secretHash: hashSecret(secret), prefix: secret.slice(0, 12), createdAt: new Date(), revokedAt: null });
  }
  repository(): ApiKeysRepository {
    return {
      findLiveByHash: async (hash: string) => {
        this.lookups++;
        const found = [...this.rows.values()].find((k) => k.secretHash === hash && !k.revokedAt);
        await this.hold;
        return found;
      },
      revoke: async (id: string) => {
        const k = this.rows.get(id);
        if (!k || k.revokedAt) return false;
        k.revokedAt = new Date();
        return true;
      },
    } as unknown as ApiKeysRepository;
  }
}

const service = (table: KeyTable, apiKeyCacheSeconds: number) => new ApiKeysService(table.repository(), { apiKeyCacheSeconds } as AppConfig);

describe('ApiKeysService.authenticate with the verified-key cache', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-11-30T12:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('asks the table once per key within API_KEY_CACHE_SECONDS, and again after', async () => {
    const table = new KeyTable();
    table.add('k1', 'gwk_secret-one');
    const keys = service(table, 5);
    for (let i = 0; i < 10; i++) expect(await keys.authenticate('gwk_secret-one')).toEqual({ keyId: 'k1', role: 'operator' });
    expect(table.lookups).toBe(1);
    jest.advanceTimersByTime(5001);
    await keys.authenticate('gwk_secret-one');
    expect(table.lookups).toBe(2);
  });

  it('sees a key revoked behind its back (another node) once the entry expires, not before the bound', async () => {
    const table = new KeyTable();
    table.add('k1', 'gwk_secret-one');
    const keys = service(table, 5);
    await keys.authenticate('gwk_secret-one');
    table.rows.get('k1')!.revokedAt = new Date(); // revoked by another node
    jest.advanceTimersByTime(5001);
    expect(await keys.authenticate('gwk_secret-one')).toBeUndefined();
  });

  it('forgets a key revoked on this node at once, and one another node revoked when asked to revoke it', async () => {
    const table = new KeyTable();
    table.add('k1', 'gwk_secret-one');
    table.add('k2', 'gwk_secret-two');
    const keys = service(table, 60);
    await keys.authenticate('gwk_secret-one');
    await keys.authenticate('gwk_secret-two');
    await keys.revoke('k1');
    expect(await keys.authenticate('gwk_secret-one')).toBeUndefined();
    table.rows.get('k2')!.revokedAt = new Date();
    await expect(keys.revoke('k2')).rejects.toMatchObject({ code: 'not_found' });
    expect(await keys.authenticate('gwk_secret-two')).toBeUndefined();
  });

  it('does not remember a lookup that a revocation on this node overtook', async () => {
    const table = new KeyTable();
    table.add('k1', 'gwk_secret-one');
    const keys = service(table, 60);
    let answer!: () => void;
    table.hold = new Promise((ok) => (answer = ok));
    const pending = keys.authenticate('gwk_secret-one'); // reads the live row first...
    table.hold = undefined;
    await keys.revoke('k1'); // ...then the key is revoked, before that lookup answers
    answer();
    expect(await pending).toEqual({ keyId: 'k1', role: 'operator' });
    expect(await keys.authenticate('gwk_secret-one')).toBeUndefined();
  });

  it('never remembers an unknown key: a key created since (on any node) works at once', async () => {
    const table = new KeyTable();
    const keys = service(table, 60);
    expect(await keys.authenticate('gwk_later')).toBeUndefined();
    table.add('k9', 'gwk_later', 'billing');
    expect(await keys.authenticate('gwk_later')).toEqual({ keyId: 'k9', role: 'billing' });
  });

  it('asks the table every time when API_KEY_CACHE_SECONDS is 0', async () => {
    const table = new KeyTable();
    table.add('k1', 'gwk_secret-one');
    const keys = service(table, 0);
    await keys.authenticate('gwk_secret-one');
    await keys.authenticate('gwk_secret-one');
    expect(table.lookups).toBe(2);
  });

  it('holds at most MAX_CACHED_KEYS keys, the oldest going first', async () => {
    const table = new KeyTable();
    for (let i = 0; i <= MAX_CACHED_KEYS; i++) table.add(`k${i}`, `gwk_${i}`);
    const keys = service(table, 60);
    for (let i = 0; i <= MAX_CACHED_KEYS; i++) await keys.authenticate(`gwk_${i}`);
    const before = table.lookups;
    await keys.authenticate(`gwk_${MAX_CACHED_KEYS}`); // newest: still held
    expect(table.lookups).toBe(before);
    await keys.authenticate('gwk_0'); // oldest: pushed out
    expect(table.lookups).toBe(before + 1);
  });
});
