/**
 * CSV import of toll-free numbers with their default target (no rules yet: those come through PUT).
 * Header `e164,accountId,timezone,defaultTarget`, read by the shared skeleton (platform/csv-import.ts);
 * every row is checked with the same rules as the API (checkEntry), then everything inserted in one
 * transaction, with a version row per number, or nothing. A 422 names every bad row.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { readCsv } from '../platform/csv-import';
import { newId } from '../platform/ids';
import { EntryColumns, TollFreeRepository } from './tollfree.repository';
import { checkEntry, NumberChecks } from './tollfree.schemas';

export const MAX_IMPORT_ROWS = 1_000_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ImportContext {
  checks: NumberChecks;
  accountExists(id: string): Promise<boolean>;
  changedBy: string;
}

/** One row: the API's checks (checkEntry, with no rules), then the account id's form. */
function entryRow(checks: NumberChecks) {
  return z
    .object({ e164: z.string(), accountId: z.string().toLowerCase(), timezone: z.string(), defaultTarget: z.string() })
    .transform((record, ctx) => {
      const r = checkEntry({ ...record, rules: [] }, checks, newId);
      for (const e of r.errors) ctx.addIssue({ code: 'custom', path: [e.field], message: e.message, input: record });
      if (!UUID.test(record.accountId)) ctx.addIssue({ code: 'custom', path: ['accountId'], message: 'expected a UUID', input: record });
      return r.entry && UUID.test(record.accountId) ? { ...r.entry, accountId: record.accountId } : z.NEVER;
    });
}

export async function importTollFree(repo: TollFreeRepository, body: Readable, ctx: ImportContext): Promise<{ imported: number }> {
  const rows: EntryColumns = { e164: [], accountId: [], timezone: [], defaultTarget: [] };
  const rowsOfAccount = new Map<string, number[]>();
  const read = await readCsv(body, {
    required: ['e164', 'accountId', 'timezone', 'defaultTarget'],
    maxRows: MAX_IMPORT_ROWS,
    row: entryRow(ctx.checks),
    unique: { field: 'e164', key: (e) => e.e164, message: (e, first) => `${e.e164} repeats row ${first}` },
    accept: (e, line) => {
      const ofAccount = rowsOfAccount.get(e.accountId);
      if (ofAccount) ofAccount.push(line);
      else rowsOfAccount.set(e.accountId, [line]);
      rows.e164.push(e.e164);
      rows.accountId.push(e.accountId);
      rows.timezone.push(e.timezone);
      rows.defaultTarget.push(e.defaultTarget);
    },
  });
  for (const [accountId, accountRows] of rowsOfAccount) {
    if (!(await ctx.accountExists(accountId))) {
      for (const r of accountRows) read.errors.add(r, 'accountId', `account ${accountId} does not exist`);
    }
  }
  for (const e164 of await repo.existing(rows.e164)) read.errors.add(read.rowOf(e164)!, 'e164', `${e164} is already a toll-free number`);
  read.errors.throwIfAny(read.rows);
  await repo.insertMany(rows, ctx.changedBy);
  return { imported: rows.e164.length };
}
