/**
 * API keys: creation, listing, revocation, and who holds a given secret (authenticate, called by
 * the AuthGuard on every authenticated request and by the queue dashboard). Imports only the
 * platform and this folder.
 *
 * Verified keys are remembered for API_KEY_CACHE_SECONDS (default 5): without that, every
 * authenticated request paid a TypeORM query for the key before doing its own work, as costly as
 * the read of a cheap GET itself (docs/performance.md, "HTTP"). The cache is keyed by the SHA-256 of
 * the secret (never the secret), holds only keys that exist, so a key created on another node
 * works at once, and is bounded (MAX_CACHED_KEYS, oldest first out), so random bearer tokens
 * cannot grow it. Revocation: this node forgets the key at once; another node refuses it at most
 * API_KEY_CACHE_SECONDS later, when its entry expires. The bound is the price of not asking the
 * database; 0 turns the cache off.
 */
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { decodeCursor, Page, PageQuery, toPage } from '../platform/pagination';
import { notFound } from '../platform/problem';
import { ApiKey, ApiRole } from './api-key.entity';
import { ApiKeysRepository } from './api-keys.repository';
import { hashSecret, newSecret, sameHash } from './secrets';

export interface ApiKeyView {
  id: string;
  name: string;
  role: ApiRole;
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface Principal {
  keyId: string | 'config';
  role: ApiRole;
}

/** Verified keys kept at most; past it the oldest entry goes (a Map iterates in insertion order). */
export const MAX_CACHED_KEYS = 10_000;

@Injectable()
export class ApiKeysService {
  private readonly adminHash?: string;
  private readonly cacheMs: number;
  /** SHA-256 of a secret → the live key it verified as, until `until` (Date.now()). */
  private readonly verified = new Map<string, { principal: Readonly<Principal>; until: number }>();
  /** Bumped by every revoke: a lookup that started before one does not fill the cache with its answer. */
  private revocations = 0;

  constructor(
    private readonly keys: ApiKeysRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.adminHash = config.adminApiKey ? hashSecret(config.adminApiKey) : undefined;
    this.cacheMs = (config.apiKeyCacheSeconds ?? 0) * 1000;
  }

  async create(name: string, role: ApiRole): Promise<ApiKeyView & { secret: string }> {
    const secret = newSecret();
    const saved = await this.keys.insert({ id: newId(), name, role, secretHash: hashSecret(secret), prefix: secret.slice(0, 12), revokedAt: null });
    return { ...view(saved), secret };
  }

  async list(q: PageQuery): Promise<Page<ApiKeyView>> {
    const rows = await this.keys.list(decodeCursor(q.cursor), q.limit + 1);
    return toPage(rows, q.limit, view);
  }

  async revoke(id: string): Promise<void> {
    const revoked = await this.keys.revoke(id);
    this.revocations++;
    // Before the 404 too: a key revoked by another node is forgotten here as soon as anyone asks.
    for (const [hash, entry] of this.verified) if (entry.principal.keyId === id) this.verified.delete(hash);
    if (!revoked) throw notFound('API key', id);
  }

  /** Who holds this secret, if anyone: the configured admin key or a live stored key. */
  async authenticate(secret: string): Promise<Principal | undefined> {
    return this.authenticateHash(hashSecret(secret));
  }

  /** As authenticate, from the SHA-256 of the secret (a console session keeps the hash, never the key, and asks again on each request). */
  async authenticateHash(hash: string): Promise<Principal | undefined> {
    if (this.adminHash && sameHash(hash, this.adminHash)) return { keyId: 'config', role: 'admin' };
    const now = Date.now();
    const cached = this.verified.get(hash);
    if (cached) {
      if (cached.until > now) return cached.principal;
      this.verified.delete(hash);
    }
    const revocationsBefore = this.revocations;
    const key = await this.keys.findLiveByHash(hash);
    if (!key) return undefined;
    const principal = Object.freeze({ keyId: key.id, role: key.role });
    if (this.cacheMs > 0 && this.revocations === revocationsBefore) {
      if (this.verified.size >= MAX_CACHED_KEYS) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(hash, { principal, until: now + this.cacheMs });
    }
    return principal;
  }
}

function view(k: ApiKey): ApiKeyView {
  return { id: k.id, name: k.name, role: k.role, prefix: k.prefix, createdAt: k.createdAt.toISOString(), revokedAt: k.revokedAt?.toISOString() ?? null };
}
