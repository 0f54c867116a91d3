/** Every query of the api_keys table. Only hashes of secrets are stored (see secrets.ts). */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThan, Repository } from 'typeorm';
import { ApiKey } from './api-key.entity';

@Injectable()
export class ApiKeysRepository {
  constructor(@InjectRepository(ApiKey) private readonly keys: Repository<ApiKey>) {}

  insert(key: Omit<ApiKey, 'createdAt'>): Promise<ApiKey> {
    return this.keys.save(this.keys.create(key));
  }

  /** Up to `limit` keys after the cursor, newest first. */
  list(after: string | undefined, limit: number): Promise<ApiKey[]> {
    return this.keys.find({ where: after ? { id: LessThan(after) } : {}, order: { id: 'DESC' }, take: limit });
  }

  /** Revokes a live key now; false when there is no such live key. */
  async revoke(id: string): Promise<boolean> {
    return !!(await this.keys.update({ id, revokedAt: IsNull() }, { revokedAt: new Date() })).affected;
  }

  async findLiveByHash(secretHash: string): Promise<ApiKey | undefined> {
    return (await this.keys.findOne({ where: { secretHash, revokedAt: IsNull() } })) ?? undefined;
  }
}
