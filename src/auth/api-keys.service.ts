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

@Injectable()
export class ApiKeysService {
  private readonly adminHash?: string;

  constructor(
    private readonly keys: ApiKeysRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.adminHash = config.adminApiKey ? hashSecret(config.adminApiKey) : undefined;
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
    if (!(await this.keys.revoke(id))) throw notFound('API key', id);
  }

  /** Who holds this secret, if anyone: the configured admin key or a live stored key. */
  async authenticate(secret: string): Promise<Principal | undefined> {
    const hash = hashSecret(secret);
    if (this.adminHash && sameHash(hash, this.adminHash)) return { keyId: 'config', role: 'admin' };
    const key = await this.keys.findLiveByHash(hash);
    return key ? { keyId: key.id, role: key.role } : undefined;
  }
}

function view(k: ApiKey): ApiKeyView {
  return { id: k.id, name: k.name, role: k.role, prefix: k.prefix, createdAt: k.createdAt.toISOString(), revokedAt: k.revokedAt?.toISOString() ?? null };
}
