/**
 * CSV import of toll-free numbers with their default target (no rules yet: those come through PUT).
 * Header `e164,accountId,timezone,defaultTarget`. Streamed through csv-parse, every row checked with
 * the same rules as the API (checkEntry), then everything inserted in one transaction, with a
 * version row per number, or nothing. A 422 names every bad row.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { DataSource } from 'typeorm';
import { newId } from '../platform/ids';
import { DomainError, FieldError } from '../platform/problem';
import { checkEntry, NumberChecks } from './tollfree.schemas';

export const MAX_IMPORT_ROWS = 1_000_000;
const COLUMNS = ['e164', 'accountId', 'timezone', 'defaultTarget'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CHUNK = 5000;

export interface ImportContext {
  checks: NumberChecks;
  accountExists(id: string): Promise<boolean>;
  changedBy: string;
}

interface Rows {
  e164: string[];
  accountId: string[];
  timezone: string[];
  defaultTarget: string[];
}

export async function importTollFree(db: DataSource, body: Readable, ctx: ImportContext): Promise<{ imported: number }> {
  const rows: Rows = { e164: [], accountId: [], timezone: [], defaultTarget: [] };
  const errors: FieldError[] = [];
  const firstRowOf = new Map<string, number>();
  const rowsOfAccount = new Map<string, number[]>();
  const parser = body.pipe(parse({ columns: checkHeader, bom: true, trim: true, skip_empty_lines: true, relax_column_count: false }));
  let row = 1; // the header is row 1, as a spreadsheet shows it
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      row++;
      if (row - 1 > MAX_IMPORT_ROWS) throw new DomainError('payload_too_large', `more than ${MAX_IMPORT_ROWS} rows; split the file`);
      const accountId = record.accountId.toLowerCase();
      const r = checkEntry({ e164: record.e164, accountId, timezone: record.timezone, defaultTarget: record.defaultTarget, rules: [] }, ctx.checks, newId);
      const rowErrors = r.errors.map((e) => ({ row, ...e }));
      if (!UUID.test(accountId)) rowErrors.push({ row, field: 'accountId', message: 'expected a UUID' });
      if (rowErrors.length || !r.entry) {
        errors.push(...rowErrors);
        continue;
      }
      const seen = firstRowOf.get(r.entry.e164);
      if (seen !== undefined) {
        errors.push({ row, field: 'e164', message: `${r.entry.e164} repeats row ${seen}` });
        continue;
      }
      firstRowOf.set(r.entry.e164, row);
      const ofAccount = rowsOfAccount.get(accountId);
      if (ofAccount) ofAccount.push(row);
      else rowsOfAccount.set(accountId, [row]);
      rows.e164.push(r.entry.e164);
      rows.accountId.push(accountId);
      rows.timezone.push(r.entry.timezone);
      rows.defaultTarget.push(r.entry.defaultTarget);
    }
  } catch (e) {
    if (e instanceof DomainError) throw e;
    const err = e as Error & { lines?: number };
    throw new DomainError('unprocessable', `CSV cannot be read: ${err.message}`, [{ row: err.lines ?? row, field: 'csv', message: err.message }]);
  }
  if (row === 1) {
    throw new DomainError('unprocessable', 'the CSV has no rows', [{ field: 'csv', message: `expected the header ${COLUMNS.join(',')} and at least one row` }]);
  }
  for (const [accountId, accountRows] of rowsOfAccount) {
    if (!(await ctx.accountExists(accountId))) {
      for (const r of accountRows) errors.push({ row: r, field: 'accountId', message: `account ${accountId} does not exist` });
    }
  }
  for (let i = 0; i < rows.e164.length; i += CHUNK) {
    const found = (await db.query('SELECT e164 FROM tollfree WHERE e164 = ANY($1::text[])', [rows.e164.slice(i, i + CHUNK)])) as { e164: string }[];
    for (const { e164 } of found) errors.push({ row: firstRowOf.get(e164)!, field: 'e164', message: `${e164} is already a toll-free number` });
  }
  if (errors.length > 0) {
    errors.sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
    const bad = new Set(errors.map((e) => e.row)).size;
    throw new DomainError('unprocessable', `${bad} of ${row - 1} rows are invalid; nothing was imported`, errors);
  }
  await db.transaction(async (tx) => {
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
        [e164, s(rows.accountId), s(rows.timezone), s(rows.defaultTarget), e164.map(() => newId()), e164.map(() => newId()), ctx.changedBy],
      );
    }
  });
  return { imported: rows.e164.length };
}

function checkHeader(header: string[]): string[] {
  const errors: FieldError[] = header
    .filter((h) => !(COLUMNS as readonly string[]).includes(h))
    .map((h) => ({ row: 1, field: h, message: `unknown column; expected ${COLUMNS.join(',')}` }));
  for (const c of COLUMNS) if (!header.includes(c)) errors.push({ row: 1, field: c, message: `the header must name a ${c} column` });
  if (errors.length) throw new DomainError('unprocessable', `the CSV header is not ${COLUMNS.join(',')}`, errors);
  return header;
}
