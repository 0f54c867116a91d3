/**
 * Every query of the numbers table: the inventory CRUD through TypeORM, the two per-call reads of
 * the B2BUA in raw SQL (one indexed read each, without the ORM's per-call overhead), the lazy end
 * of quarantine, and the bulk writes of the CSV import.
 *
 * The caller's number (a user's first assigned number, read on every call the user places) is
 * kept for CACHE_MS (platform/lookup-cache.ts): every write of an assignment here (insert, update,
 * delete) clears it, so a change made through this process is seen at once, and another process
 * sees it within CACHE_MS, as with trunks. The end of quarantine and the import only write numbers
 * that are not assigned, which it does not read.
 */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { LookupCache } from '../platform/lookup-cache';
import { Did, Forwarding } from './did.entity';

/** Rows for one bulk insert, kept as columns. */
export interface NumberColumns {
  id: string[];
  e164: string[];
  country: (string | null)[];
  type: string[];
  monthlyFee: string[];
}

export interface NumberFilter {
  after?: string;
  status?: string;
  userId?: string;
  country?: string;
  type?: string;
  /** Leading digits of the E.164 number, with or without `+`. */
  prefix?: string;
  limit: number;
}

const CHUNK = 5000;

/** How long a per-call read is served from memory (the trunk cache's time). */
const CACHE_MS = 2_000;
const CACHE_ENTRIES = 50_000;

@Injectable()
export class NumbersRepository {
  private readonly firstOfUserCache = new LookupCache<string, string | undefined>(CACHE_ENTRIES, CACHE_MS);

  constructor(@InjectRepository(Did) private readonly dids: Repository<Did>) {}

  async insert(did: Omit<Did, 'createdAt' | 'updatedAt'>): Promise<void> {
    this.changed();
    await this.dids.save(this.dids.create(did));
    this.changed();
  }

  /** Before a write (no read during it keeps the old row) and after it (none started during it stays). */
  private changed(): void {
    this.firstOfUserCache.clear();
  }

  existsByE164(e164: string): Promise<boolean> {
    return this.dids.existsBy({ e164 });
  }

  async findByE164(e164: string): Promise<Did | undefined> {
    return (await this.dids.findOneBy({ e164 })) ?? undefined;
  }

  /** Up to `limit` numbers after the cursor, newest first. */
  list(f: NumberFilter): Promise<Did[]> {
    const qb = this.dids.createQueryBuilder('n').orderBy('n.id', 'DESC').take(f.limit);
    if (f.after) qb.andWhere('n.id < :after', { after: f.after });
    if (f.status) qb.andWhere('n.status = :status', { status: f.status });
    if (f.userId) qb.andWhere('n.user_id = :userId', { userId: f.userId });
    if (f.country) qb.andWhere('n.country = :country', { country: f.country });
    if (f.type) qb.andWhere('n.type = :type', { type: f.type });
    if (f.prefix) qb.andWhere('n.e164 LIKE :prefix', { prefix: `+${f.prefix.replace(/^\+/, '')}%` });
    return qb.getMany();
  }

  async update(id: string, changes: Partial<Did>): Promise<void> {
    this.changed();
    await this.dids.update({ id }, changes);
    this.changed();
  }

  async delete(id: string): Promise<void> {
    this.changed();
    await this.dids.delete({ id });
    this.changed();
  }

  /** The user's assigned number with the lowest E.164. */
  firstOfUser(userId: string): Promise<string | undefined> {
    return this.firstOfUserCache.get(userId, async (id) => {
      const rows = (await this.dids.query(`SELECT e164 FROM numbers WHERE user_id = $1 AND status = 'assigned' ORDER BY e164 LIMIT 1`, [id])) as { e164: string }[];
      return rows[0]?.e164;
    });
  }

  /** Not cached: the dialled number, which is a different one on nearly every call. */
  async routing(e164: string): Promise<{ userId: string; forwarding: Forwarding } | undefined> {
    const rows = (await this.dids.query(`SELECT user_id AS "userId", forwarding FROM numbers WHERE e164 = $1 AND status = 'assigned'`, [e164])) as {
      userId: string;
      forwarding: Forwarding;
    }[];
    return rows[0];
  }

  /** Makes numbers whose quarantine has ended available again (one indexed UPDATE). */
  async releaseQuarantine(): Promise<void> {
    await this.dids.query(
      `UPDATE numbers SET status = 'available', quarantined_until = NULL, updated_at = now()
       WHERE status = 'quarantined' AND quarantined_until <= now()`,
    );
  }

  /** Which of these numbers the inventory already holds. */
  async existing(e164s: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < e164s.length; i += CHUNK) {
      const found = (await this.dids.query('SELECT e164 FROM numbers WHERE e164 = ANY($1::text[])', [e164s.slice(i, i + CHUNK)])) as { e164: string }[];
      out.push(...found.map((r) => r.e164));
    }
    return out;
  }

  /** Inserts every row (status available) in one transaction, or none. */
  async insertMany(rows: NumberColumns): Promise<void> {
    await this.dids.manager.transaction(async (tx) => {
      for (let i = 0; i < rows.e164.length; i += CHUNK) {
        const s = (a: unknown[]) => a.slice(i, i + CHUNK);
        await tx.query(
          `INSERT INTO numbers (id, e164, country, type, monthly_fee)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::char(2)[], $4::text[], $5::numeric[])`,
          [s(rows.id), s(rows.e164), s(rows.country), s(rows.type), s(rows.monthlyFee)],
        );
      }
    });
  }
}
