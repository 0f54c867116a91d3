/**
 * Toll-free numbers: their entries (CRUD with a version row per change), the operator's number
 * ranges, the dry run, and `translateNumber`, the per-call lookup the B2BUA uses (cached in process,
 * invalidated across processes through Redis, cold reads by unique index).
 *
 * The decision itself is the pure `translate` (translate.ts); this service only does the I/O around
 * it. It reads accounts through AccountsService, never through their repository.
 */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { AccountsService } from '../billing/accounts.service';
import { isE164, NormalisedNumber, normaliseNumber } from '../numbers/number-format';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, DomainError, FieldError, invalid, notFound } from '../platform/problem';
import { Cached, TollFreeCache } from './tollfree-cache';
import { EVERYTHING, TollFreeChanges } from './tollfree-changes';
import { TollFreeNumber, TollFreeRange } from './tollfree.entity';
import { importTollFree } from './tollfree-import';
import { TollFreeRepository } from './tollfree.repository';
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

const entryOf = (e: TollFreeNumber): TollFreeEntry => ({
  e164: e.e164,
  accountId: e.accountId,
  timezone: e.timezone,
  defaultTarget: e.defaultTarget,
  rules: e.rules,
});

const view = (e: TollFreeNumber): TollFreeView => ({
  id: e.id,
  ...entryOf(e),
  version: e.version,
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
});

@Injectable()
export class TollFreeService implements OnModuleInit {
  readonly cache = new TollFreeCache(CACHE_MAX_ENTRIES, CACHE_MAX_AGE_MS);
  private ranges?: Promise<RangeSet>;

  constructor(
    private readonly repo: TollFreeRepository,
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
    const e = await this.repo.find(e164);
    if (!e) return null;
    return { compiled: compileEntry(entryOf(e)), accountId: e.accountId, version: e.version };
  }

  // ---- number checks ----

  private rangeSet(): Promise<RangeSet> {
    this.ranges ??= this.repo
      .allRanges()
      .then((rows) => ({
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
    const created = await this.repo.insert(entry, by);
    if (!created) throw conflict(`${entry.e164} is already a toll-free number`, 'e164');
    await this.changes.publish(created.e164);
    return view(created);
  }

  async replace(rawE164: string, input: z.infer<typeof replaceEntry>, by: string): Promise<TollFreeView> {
    const e164 = this.pathNumber(rawE164);
    await this.require(e164);
    if (input.e164 !== undefined) {
      const given = normaliseNumber(input.e164, this.config.defaultCountry);
      if ((given.ok ? given.number.e164 : input.e164) !== e164) throw invalid('e164', `must be the number in the path (${e164}); a number cannot be renamed`);
    }
    const entry = await this.checked({ ...input, e164 });
    const replaced = await this.repo.replace(entry, by);
    if (!replaced) throw notFound('toll-free number', e164);
    await this.changes.publish(e164);
    return view(replaced);
  }

  async remove(rawE164: string, by: string): Promise<void> {
    const e164 = this.pathNumber(rawE164);
    if (!(await this.repo.delete(e164, by))) throw notFound('toll-free number', e164);
    await this.changes.publish(e164);
  }

  async get(rawE164: string): Promise<TollFreeView> {
    return view(await this.require(this.pathNumber(rawE164)));
  }

  private async require(e164: string): Promise<TollFreeNumber> {
    const e = await this.repo.find(e164);
    if (!e) throw notFound('toll-free number', e164);
    return e;
  }

  async list(q: z.infer<typeof entryQuery>): Promise<Page<TollFreeView>> {
    const rows = await this.repo.list({ after: decodeCursor(q.cursor), accountId: q.accountId, prefix: q.prefix, limit: q.limit + 1 });
    return toPage(rows, q.limit, view);
  }

  /** Every version of a number, newest first; kept after the number is deleted. */
  async versions(rawE164: string, q: z.infer<typeof versionQuery>): Promise<Page<VersionView>> {
    const e164 = this.pathNumber(rawE164);
    const after = decodeCursor(q.cursor);
    const rows = await this.repo.versions(e164, after, q.limit + 1);
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
    const v = await this.repo.versionAt(e164, at);
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
    const result = await importTollFree(this.repo, body, {
      checks: await this.numberChecks(),
      accountExists: async (id) => (await this.accounts.find(id)) !== null,
      changedBy: by,
    });
    await this.changes.publish(EVERYTHING);
    return result;
  }

  // ---- operator ranges ----

  async addRange(input: z.infer<typeof rangeInput>): Promise<TollFreeRange> {
    if (await this.repo.rangeExists(input.prefix, input.kind)) throw conflict(`${input.kind} range ${input.prefix} already exists`, 'prefix');
    const saved = await this.repo.insertRange(input);
    await this.changes.publish(EVERYTHING);
    return saved;
  }

  async listRanges(q: z.infer<typeof versionQuery>): Promise<Page<TollFreeRange>> {
    return toPage(await this.repo.listRanges(decodeCursor(q.cursor), q.limit + 1), q.limit, (r) => r);
  }

  async removeRange(id: string): Promise<void> {
    if (!(await this.repo.deleteRange(id))) throw notFound('toll-free range', id);
    await this.changes.publish(EVERYTHING);
  }
}
