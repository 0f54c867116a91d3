/**
 * Toll-free numbers: their entries (CRUD with a version row per change), the operator's number
 * ranges, the dry run, and `translateNumber`, the per-call lookup the B2BUA uses (cached in process,
 * invalidated across processes through Redis, cold reads by unique index).
 *
 * The decision itself is the pure `translate` (translate.ts); this service only does the I/O around
 * it. It reads accounts through AccountsService, never through their repository.
 */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Readable } from 'node:stream';
import { DataSource, EntityManager, MoreThan } from 'typeorm';
import { z } from 'zod';
import { AccountsService } from '../billing/accounts.service';
import { isE164, NormalisedNumber, normaliseNumber } from '../numbers/number-format';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, DomainError, FieldError, invalid, notFound } from '../platform/problem';
import { Cached, TollFreeCache } from './tollfree-cache';
import { EVERYTHING, TollFreeChanges } from './tollfree-changes';
import { TollFreeRange, TollFreeVersion } from './tollfree.entity';
import { importTollFree } from './tollfree-import';
import { checkEntry, EntryInput, entryQuery, NumberChecks, rangeInput, replaceEntry, translateInput, versionQuery } from './tollfree.schemas';
import { CallerRanges, compileEntry, TollFreeEntry, TollFreeRule, translate, translateCompiled, Translation, TranslationInput } from './translate';

/** Entries kept per process; beyond it the least recently used go (a million entries would not fit). */
export const CACHE_MAX_ENTRIES = 200_000;
/** Backstop only: a change reaches every process by pub/sub; this bounds staleness if a message is lost. */
export const CACHE_MAX_AGE_MS = 60_000;

export interface TollFreeView extends TollFreeEntry {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface VersionView {
  version: number;
  change: string;
  changedBy: string;
  changedAt: string;
  entry: TollFreeEntry;
}

/** What the B2BUA gets for a call to a toll-free number: the translation and who pays. */
export type TollFreeRouting = Translation & { e164: string; accountId: string; version: number };

export type DryRun = Translation & { version: number; at: string };

interface RangeSet extends CallerRanges {
  tollFreePrefixes: readonly string[];
}

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

const entryOf = (r: EntryRow): TollFreeEntry => ({
  e164: r.e164,
  accountId: r.account_id,
  timezone: r.timezone,
  defaultTarget: r.default_target,
  rules: r.rules,
});

const view = (r: EntryRow): TollFreeView => ({
  id: r.id,
  ...entryOf(r),
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const COLUMNS = 'id, e164, account_id, timezone, default_target, rules, version, created_at, updated_at';

@Injectable()
export class TollFreeService implements OnModuleInit {
  readonly cache = new TollFreeCache(CACHE_MAX_ENTRIES, CACHE_MAX_AGE_MS);
  private ranges?: Promise<RangeSet>;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly accounts: AccountsService,
    private readonly changes: TollFreeChanges,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.changes.onChange((what) => {
      if (what === EVERYTHING) {
        this.cache.clear();
        this.ranges = undefined;
      } else {
        this.cache.drop(what);
      }
    });
  }

  // ---- the per-call lookup (B2BUA) ----

  /**
   * The routing of a call to `e164` (E.164), or undefined when it is not a toll-free number in our
   * database. `call.caller` is the caller in E.164 (anything else counts as a withheld caller).
   */
  async translateNumber(e164: string, call: TranslationInput): Promise<TollFreeRouting | undefined> {
    const cached = await this.cache.get(e164, (n) => this.load(n));
    if (!cached) return undefined;
    const ranges = await this.rangeSet();
    return { ...translateCompiled(cached.compiled, call, ranges), e164, accountId: cached.accountId, version: cached.version };
  }

  /** Whether `e164` counts as toll-free (libphonenumber's type or an operator range), entry or not. */
  async isTollFreeNumber(e164: string): Promise<boolean> {
    return (await this.numberChecks()).isTollFree(e164);
  }

  private async load(e164: string): Promise<Cached | null> {
    const rows = (await this.db.query(`SELECT ${COLUMNS} FROM tollfree WHERE e164 = $1`, [e164])) as EntryRow[];
    if (rows.length === 0) return null;
    return { compiled: compileEntry(entryOf(rows[0])), accountId: rows[0].account_id, version: rows[0].version };
  }

  // ---- number checks ----

  private rangeSet(): Promise<RangeSet> {
    this.ranges ??= this.db
      .query(`SELECT prefix, kind FROM tollfree_ranges`)
      .then((rows: { prefix: string; kind: string }[]) => ({
        tollFreePrefixes: rows.filter((r) => r.kind === 'tollFree').map((r) => r.prefix),
        payphonePrefixes: rows.filter((r) => r.kind === 'payphone').map((r) => r.prefix),
      }))
      .catch((e: unknown) => {
        this.ranges = undefined;
        throw e;
      });
    return this.ranges;
  }

  async numberChecks(): Promise<NumberChecks> {
    const ranges = await this.rangeSet();
    const defaultCountry = this.config.defaultCountry;
    return {
      normalise: (input) => normaliseNumber(input, defaultCountry),
      isTollFree: (n: NormalisedNumber | string) => {
        const e164 = typeof n === 'string' ? n : n.e164;
        if (ranges.tollFreePrefixes.some((p) => e164.startsWith(p))) return true;
        if (typeof n !== 'string') return n.type === 'tollFree';
        const parsed = normaliseNumber(e164, defaultCountry);
        return parsed.ok && parsed.number.type === 'tollFree';
      },
    };
  }

  /** A number from a path: normalised, or 404 (a malformed number names no entry). */
  private pathNumber(raw: string): string {
    // Already E.164: used as is (an invalid one simply names no entry); parsing costs tens of microseconds.
    if (isE164(raw)) return raw;
    const n = normaliseNumber(raw, this.config.defaultCountry);
    if (n.ok) return n.number.e164;
    throw notFound('toll-free number', raw);
  }

  /** Every problem of the entry at once (rules, numbers, time zone, account), or the entry to store. */
  private async checked(input: EntryInput): Promise<TollFreeEntry> {
    const r = checkEntry(input, await this.numberChecks(), newId);
    const errors: FieldError[] = [...r.errors];
    if (!(await this.accounts.find(input.accountId))) errors.push({ field: 'accountId', message: `account ${input.accountId} does not exist` });
    if (errors.length || !r.entry) {
      throw new DomainError('unprocessable', `the entry is refused whole (${errors.length} problem${errors.length === 1 ? '' : 's'}); nothing was changed`, errors);
    }
    return r.entry;
  }

  // ---- CRUD with versions ----

  async create(input: EntryInput, by: string): Promise<TollFreeView> {
    const entry = await this.checked(input);
    const row = await this.db.transaction(async (tx) => {
      const exists = (await tx.query(`SELECT 1 FROM tollfree WHERE e164 = $1`, [entry.e164])) as unknown[];
      if (exists.length) throw conflict(`${entry.e164} is already a toll-free number`, 'e164');
      const [{ next }] = (await tx.query(`SELECT coalesce(max(version), 0) + 1 AS next FROM tollfree_versions WHERE e164 = $1`, [entry.e164])) as {
        next: number;
      }[];
      const [created] = (await tx.query(
        `INSERT INTO tollfree (id, e164, account_id, timezone, default_target, rules, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
        [newId(), entry.e164, entry.accountId, entry.timezone, entry.defaultTarget, JSON.stringify(entry.rules), next],
      )) as EntryRow[];
      await this.recordVersion(tx, created.e164, created.version, 'create', by, entry);
      return created;
    });
    await this.changes.publish(row.e164);
    return view(row);
  }

  async replace(rawE164: string, input: z.infer<typeof replaceEntry>, by: string): Promise<TollFreeView> {
    const e164 = this.pathNumber(rawE164);
    await this.require(e164);
    if (input.e164 !== undefined) {
      const given = normaliseNumber(input.e164, this.config.defaultCountry);
      if ((given.ok ? given.number.e164 : input.e164) !== e164) throw invalid('e164', `must be the number in the path (${e164}); a number cannot be renamed`);
    }
    const entry = await this.checked({ ...input, e164 });
    const row = await this.db.transaction(async (tx) => {
      const [rows] = (await tx.query(
        `UPDATE tollfree SET account_id = $2, timezone = $3, default_target = $4, rules = $5, version = version + 1, updated_at = now()
         WHERE e164 = $1 RETURNING ${COLUMNS}`,
        [e164, entry.accountId, entry.timezone, entry.defaultTarget, JSON.stringify(entry.rules)],
      )) as [EntryRow[], number];
      if (rows.length === 0) throw notFound('toll-free number', e164);
      await this.recordVersion(tx, e164, rows[0].version, 'update', by, entry);
      return rows[0];
    });
    await this.changes.publish(e164);
    return view(row);
  }

  async remove(rawE164: string, by: string): Promise<void> {
    const e164 = this.pathNumber(rawE164);
    await this.db.transaction(async (tx) => {
      const [rows] = (await tx.query(`DELETE FROM tollfree WHERE e164 = $1 RETURNING ${COLUMNS}`, [e164])) as [EntryRow[], number];
      if (rows.length === 0) throw notFound('toll-free number', e164);
      await this.recordVersion(tx, e164, rows[0].version + 1, 'delete', by, entryOf(rows[0]));
    });
    await this.changes.publish(e164);
  }

  private async recordVersion(tx: EntityManager, e164: string, version: number, change: string, by: string, entry: TollFreeEntry): Promise<void> {
    await tx.query(`INSERT INTO tollfree_versions (id, e164, version, change, changed_by, entry) VALUES ($1, $2, $3, $4, $5, $6)`, [
      newId(),
      e164,
      version,
      change,
      by,
      JSON.stringify(entry),
    ]);
  }

  async get(rawE164: string): Promise<TollFreeView> {
    return view(await this.require(this.pathNumber(rawE164)));
  }

  private async require(e164: string): Promise<EntryRow> {
    const rows = (await this.db.query(`SELECT ${COLUMNS} FROM tollfree WHERE e164 = $1`, [e164])) as EntryRow[];
    if (rows.length === 0) throw notFound('toll-free number', e164);
    return rows[0];
  }

  async list(q: z.infer<typeof entryQuery>): Promise<Page<TollFreeView>> {
    const after = decodeCursor(q.cursor);
    const where: string[] = [];
    const params: unknown[] = [];
    if (after) where.push(`id > $${params.push(after)}`);
    if (q.accountId) where.push(`account_id = $${params.push(q.accountId)}`);
    if (q.prefix) where.push(`e164 LIKE $${params.push(`+${q.prefix.replace(/^\+/, '')}%`)}`);
    const rows = (await this.db.query(
      `SELECT ${COLUMNS} FROM tollfree ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.push(q.limit + 1)}`,
      params,
    )) as EntryRow[];
    return toPage(rows, q.limit, view);
  }

  /** Every version of a number, oldest first; kept after the number is deleted. */
  async versions(rawE164: string, q: z.infer<typeof versionQuery>): Promise<Page<VersionView>> {
    const e164 = this.pathNumber(rawE164);
    const after = decodeCursor(q.cursor);
    const rows = await this.db.getRepository(TollFreeVersion).find({
      where: after ? { e164, id: MoreThan(after) } : { e164 },
      order: { id: 'ASC' },
      take: q.limit + 1,
    });
    if (rows.length === 0 && !after) throw notFound('toll-free number', e164);
    return toPage(rows, q.limit, (v) => ({
      version: v.version,
      change: v.change,
      changedBy: v.changedBy,
      changedAt: v.changedAt.toISOString(),
      entry: v.entry,
    }));
  }

  // ---- dry run ----

  /**
   * What a call would get. Without `at`: the entry in force now, through the same cache as calls.
   * With `at`: the version that was (or is) in force at that instant, from the version history.
   */
  async dryRun(rawE164: string, input: z.infer<typeof translateInput>): Promise<DryRun> {
    const e164 = this.pathNumber(rawE164);
    const caller = this.callerOf(input.caller);
    if (input.at === undefined) {
      const at = new Date();
      const r = await this.translateNumber(e164, { caller, at, callId: input.callId });
      if (!r) throw notFound('toll-free number', e164);
      const { e164: _n, accountId: _a, version, ...translation } = r;
      return { ...translation, version, at: at.toISOString() };
    }
    const at = new Date(input.at);
    const [v] = (await this.db.query(
      `SELECT version, change, entry FROM tollfree_versions WHERE e164 = $1 AND changed_at <= $2 ORDER BY version DESC LIMIT 1`,
      [e164, at],
    )) as { version: number; change: string; entry: TollFreeEntry }[];
    if (!v || v.change === 'delete') throw new DomainError('not_found', `${e164} was not a toll-free number in service at ${at.toISOString()} (see its versions)`);
    return { ...translate(v.entry, { caller, at, callId: input.callId }, await this.rangeSet()), version: v.version, at: at.toISOString() };
  }

  private callerOf(raw: string | null): string | null {
    if (raw === null || raw === '' || /^(anonymous|unknown|restricted|private)$/i.test(raw)) return null;
    if (isE164(raw)) return raw;
    const n = normaliseNumber(raw, this.config.defaultCountry);
    return n.ok ? n.number.e164 : raw;
  }

  // ---- import ----

  async importCsv(body: Readable, by: string): Promise<{ imported: number }> {
    const result = await importTollFree(this.db, body, {
      checks: await this.numberChecks(),
      accountExists: async (id) => (await this.accounts.find(id)) !== null,
      changedBy: by,
    });
    await this.changes.publish(EVERYTHING);
    return result;
  }

  // ---- operator ranges ----

  async addRange(input: z.infer<typeof rangeInput>): Promise<TollFreeRange> {
    const repo = this.db.getRepository(TollFreeRange);
    if (await repo.existsBy({ prefix: input.prefix, kind: input.kind })) throw conflict(`${input.kind} range ${input.prefix} already exists`, 'prefix');
    const saved = await repo.save(repo.create({ id: newId(), ...input }));
    await this.changes.publish(EVERYTHING);
    return saved;
  }

  async listRanges(q: z.infer<typeof versionQuery>): Promise<Page<TollFreeRange>> {
    const after = decodeCursor(q.cursor);
    const qb = this.db.getRepository(TollFreeRange).createQueryBuilder('r').orderBy('r.id', 'ASC').take(q.limit + 1);
    if (after) qb.andWhere('r.id > :after', { after });
    return toPage(await qb.getMany(), q.limit, (r) => r);
  }

  async removeRange(id: string): Promise<void> {
    const r = await this.db.getRepository(TollFreeRange).delete({ id });
    if (!r.affected) throw notFound('toll-free range', id);
    await this.changes.publish(EVERYTHING);
  }
}
