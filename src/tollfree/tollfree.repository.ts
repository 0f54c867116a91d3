/**
 * Every query of the toll-free tables (tollfree, tollfree_versions, tollfree_ranges). One style:
 * raw SQL, because entries change with `version = version + 1 ... RETURNING` and a version row in
 * the same transaction, and the import writes both tables in one statement per chunk; each table's
 * rows are turned into its entity type (tollfree.entity.ts) by one mapping function here, and the
 * service maps entities to API views.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { newId } from '../platform/ids';
import { RangeKind, TollFreeNumber, TollFreeRange, TollFreeVersion } from './tollfree.entity';
import type { TollFreeEntry, TollFreeRule } from './translate';

interface EntryRow {
  id: string;
  e164: string;
  account_id: string;
  timezone: string;
  default_target: string;
  rules: TollFreeRule[];
  version: number;
  created_at: Date;
  updated_at: Date;
}
const ENTRY_COLUMNS = 'id, e164, account_id, timezone, default_target, rules, version, created_at, updated_at';
const entryOf = (r: EntryRow): TollFreeNumber => ({
  id: r.id,
  e164: r.e164,
  accountId: r.account_id,
  timezone: r.timezone,
  defaultTarget: r.default_target,
  rules: r.rules,
  version: r.version,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

interface VersionRow {
  id: string;
  e164: string;
  version: number;
  change: TollFreeVersion['change'];
  changed_by: string;
  changed_at: Date;
  entry: TollFreeEntry;
}
const VERSION_COLUMNS = 'id, e164, version, change, changed_by, changed_at, entry';
const versionOf = (r: VersionRow): TollFreeVersion => ({
  id: r.id,
  e164: r.e164,
  version: r.version,
  change: r.change,
  changedBy: r.changed_by,
  changedAt: r.changed_at,
  entry: r.entry,
});

interface RangeRow {
  id: string;
  prefix: string;
  kind: RangeKind;
  note: string | null;
  created_at: Date;
}
const RANGE_COLUMNS = 'id, prefix, kind, note, created_at';
const rangeOf = (r: RangeRow): TollFreeRange => ({ id: r.id, prefix: r.prefix, kind: r.kind, note: r.note, createdAt: r.created_at });

/** Rows for one import, kept as columns. */
export interface EntryColumns {
  e164: string[];
  accountId: string[];
  timezone: string[];
  defaultTarget: string[];
}

export interface EntryFilter {
  after?: string;
  accountId?: string;
  /** Leading digits of the E.164 number, with or without `+`. */
  prefix?: string;
  limit: number;
}

const CHUNK = 5000;

@Injectable()
export class TollFreeRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  // ---- entries ----

  async find(e164: string): Promise<TollFreeNumber | undefined> {
    const rows = (await this.db.query(`SELECT ${ENTRY_COLUMNS} FROM tollfree WHERE e164 = $1`, [e164])) as EntryRow[];
    return rows.length ? entryOf(rows[0]) : undefined;
  }

  /** Up to `limit` entries after the cursor, newest first. */
  async list(f: EntryFilter): Promise<TollFreeNumber[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.after) where.push(`id < $${params.push(f.after)}`);
    if (f.accountId) where.push(`account_id = $${params.push(f.accountId)}`);
    if (f.prefix) where.push(`e164 LIKE $${params.push(`+${f.prefix.replace(/^\+/, '')}%`)}`);
    const rows = (await this.db.query(
      `SELECT ${ENTRY_COLUMNS} FROM tollfree ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.push(f.limit)}`,
      params,
    )) as EntryRow[];
    return rows.map(entryOf);
  }

  /**
   * Stores a new entry with its `create` version row, or returns undefined when the number already
   * has one. A number deleted earlier keeps its history: the new entry continues its version count.
   */
  insert(entry: TollFreeEntry, by: string): Promise<TollFreeNumber | undefined> {
    return this.db.transaction(async (tx) => {
      const exists = (await tx.query(`SELECT 1 FROM tollfree WHERE e164 = $1`, [entry.e164])) as unknown[];
      if (exists.length) return undefined;
      const [{ next }] = (await tx.query(`SELECT coalesce(max(version), 0) + 1 AS next FROM tollfree_versions WHERE e164 = $1`, [entry.e164])) as {
        next: number;
      }[];
      const [created] = (await tx.query(
        `INSERT INTO tollfree (id, e164, account_id, timezone, default_target, rules, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${ENTRY_COLUMNS}`,
        [newId(), entry.e164, entry.accountId, entry.timezone, entry.defaultTarget, JSON.stringify(entry.rules), next],
      )) as EntryRow[];
      await this.recordVersion(tx, created.e164, created.version, 'create', by, entry);
      return entryOf(created);
    });
  }

  /** Replaces the entry of `entry.e164` (next version, with its `update` row), or undefined when it has none. */
  replace(entry: TollFreeEntry, by: string): Promise<TollFreeNumber | undefined> {
    return this.db.transaction(async (tx) => {
      const [rows] = (await tx.query(
        `UPDATE tollfree SET account_id = $2, timezone = $3, default_target = $4, rules = $5, version = version + 1, updated_at = now()
         WHERE e164 = $1 RETURNING ${ENTRY_COLUMNS}`,
        [entry.e164, entry.accountId, entry.timezone, entry.defaultTarget, JSON.stringify(entry.rules)],
      )) as [EntryRow[], number];
      if (rows.length === 0) return undefined;
      await this.recordVersion(tx, entry.e164, rows[0].version, 'update', by, entry);
      return entryOf(rows[0]);
    });
  }

  /** Deletes the entry (its `delete` version row keeps the entry as it stood), or false when there is none. */
  delete(e164: string, by: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [rows] = (await tx.query(`DELETE FROM tollfree WHERE e164 = $1 RETURNING ${ENTRY_COLUMNS}`, [e164])) as [EntryRow[], number];
      if (rows.length === 0) return false;
      const { id: _id, version, createdAt: _c, updatedAt: _u, ...entry } = entryOf(rows[0]);
      await this.recordVersion(tx, e164, version + 1, 'delete', by, entry);
      return true;
    });
  }

  private async recordVersion(tx: EntityManager, e164: string, version: number, change: TollFreeVersion['change'], by: string, entry: TollFreeEntry): Promise<void> {
    await tx.query(`INSERT INTO tollfree_versions (id, e164, version, change, changed_by, entry) VALUES ($1, $2, $3, $4, $5, $6)`, [
      newId(),
      e164,
      version,
      change,
      by,
      JSON.stringify(entry),
    ]);
  }

  // ---- versions ----

  /** Up to `limit` versions of a number after the cursor, newest first. */
  async versions(e164: string, after: string | undefined, limit: number): Promise<TollFreeVersion[]> {
    const rows = (await (after
      ? this.db.query(`SELECT ${VERSION_COLUMNS} FROM tollfree_versions WHERE e164 = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, [e164, after, limit])
      : this.db.query(`SELECT ${VERSION_COLUMNS} FROM tollfree_versions WHERE e164 = $1 ORDER BY id DESC LIMIT $2`, [e164, limit]))) as VersionRow[];
    return rows.map(versionOf);
  }

  /** The version in force at `at` (the last one changed at or before it), deletions included. */
  async versionAt(e164: string, at: Date): Promise<TollFreeVersion | undefined> {
    const rows = (await this.db.query(`SELECT ${VERSION_COLUMNS} FROM tollfree_versions WHERE e164 = $1 AND changed_at <= $2 ORDER BY version DESC LIMIT 1`, [
      e164,
      at,
    ])) as VersionRow[];
    return rows.length ? versionOf(rows[0]) : undefined;
  }

  // ---- operator ranges ----

  async allRanges(): Promise<Pick<TollFreeRange, 'prefix' | 'kind'>[]> {
    return (await this.db.query(`SELECT prefix, kind FROM tollfree_ranges`)) as Pick<TollFreeRange, 'prefix' | 'kind'>[];
  }

  async rangeExists(prefix: string, kind: RangeKind): Promise<boolean> {
    return ((await this.db.query(`SELECT 1 FROM tollfree_ranges WHERE prefix = $1 AND kind = $2`, [prefix, kind])) as unknown[]).length > 0;
  }

  async insertRange(range: { prefix: string; kind: RangeKind; note: string | null }): Promise<TollFreeRange> {
    const [row] = (await this.db.query(`INSERT INTO tollfree_ranges (id, prefix, kind, note) VALUES ($1, $2, $3, $4) RETURNING ${RANGE_COLUMNS}`, [
      newId(),
      range.prefix,
      range.kind,
      range.note,
    ])) as RangeRow[];
    return rangeOf(row);
  }

  /** Up to `limit` ranges after the cursor, newest first. */
  async listRanges(after: string | undefined, limit: number): Promise<TollFreeRange[]> {
    const rows = (await (after
      ? this.db.query(`SELECT ${RANGE_COLUMNS} FROM tollfree_ranges WHERE id < $1 ORDER BY id DESC LIMIT $2`, [after, limit])
      : this.db.query(`SELECT ${RANGE_COLUMNS} FROM tollfree_ranges ORDER BY id DESC LIMIT $1`, [limit]))) as RangeRow[];
    return rows.map(rangeOf);
  }

  async deleteRange(id: string): Promise<boolean> {
    const [rows] = (await this.db.query(`DELETE FROM tollfree_ranges WHERE id = $1 RETURNING id`, [id])) as [unknown[], number];
    return rows.length > 0;
  }

  // ---- import ----

  /** Which of these numbers already have an entry. */
  async existing(e164s: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < e164s.length; i += CHUNK) {
      const found = (await this.db.query('SELECT e164 FROM tollfree WHERE e164 = ANY($1::text[])', [e164s.slice(i, i + CHUNK)])) as { e164: string }[];
      out.push(...found.map((r) => r.e164));
    }
    return out;
  }

  /** Inserts every entry (no rules) with its `create` version row in one transaction, or none. */
  async insertMany(rows: EntryColumns, by: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < rows.e164.length; i += CHUNK) {
        const s = (a: string[]) => a.slice(i, i + CHUNK);
        const e164 = s(rows.e164);
        // Numbers deleted earlier keep their history: a new entry continues their version count.
        await tx.query(
          `WITH input AS (
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::uuid[])
               AS i (e164, account_id, timezone, default_target, entry_id, version_id)
           ), inserted AS (
             INSERT INTO tollfree (id, e164, account_id, timezone, default_target, rules, version)
             SELECT entry_id, e164, account_id, timezone, default_target, '[]'::jsonb,
                    coalesce((SELECT max(v.version) FROM tollfree_versions v WHERE v.e164 = i.e164), 0) + 1
             FROM input i
             RETURNING e164, account_id, timezone, default_target, version
           )
           INSERT INTO tollfree_versions (id, e164, version, change, changed_by, entry)
           SELECT i.version_id, ins.e164, ins.version, 'create', $7,
                  jsonb_build_object('e164', ins.e164, 'accountId', ins.account_id, 'timezone', ins.timezone,
                                     'defaultTarget', ins.default_target, 'rules', '[]'::jsonb)
           FROM inserted ins JOIN input i ON i.e164 = ins.e164`,
          [e164, s(rows.accountId), s(rows.timezone), s(rows.defaultTarget), e164.map(() => newId()), e164.map(() => newId()), by],
        );
      }
    });
  }
}
