/**
 * CSV import of numbers (header `e164[,monthlyFee]`) on the shared skeleton (platform/csv-import.ts):
 * every row validated, then all inserted in one transaction or none. A 422 names every bad row.
 * Rows are kept as compact columns (not objects) so 100,000 rows cost a few megabytes.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { readCsv } from '../platform/csv-import';
import { newId } from '../platform/ids';
import { normaliseNumber } from './number-format';
import { NumberColumns, NumbersRepository } from './numbers.repository';

export const MAX_IMPORT_ROWS = 1_000_000;
const FEE = /^\d{1,14}(\.\d{1,6})?$/;

function numberRow(defaultCountry: string) {
  return z.object({
    e164: z.string().transform((s, ctx) => {
      const n = normaliseNumber(s, defaultCountry);
      if (n.ok) return n.number;
      ctx.addIssue({ code: 'custom', message: n.message, input: s });
      return z.NEVER;
    }),
    monthlyFee: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' ? '0' : v))
      .pipe(z.string().regex(FEE, 'expected a decimal such as 1.50 (up to 6 decimals)')),
  });
}

export async function importNumbers(repo: NumbersRepository, body: Readable, defaultCountry: string): Promise<{ imported: number }> {
  const rows: NumberColumns = { id: [], e164: [], country: [], type: [], monthlyFee: [] };
  const read = await readCsv(body, {
    required: ['e164'],
    optional: ['monthlyFee'],
    maxRows: MAX_IMPORT_ROWS,
    row: numberRow(defaultCountry),
    unique: { field: 'e164', key: (r) => r.e164.e164, message: (r, first) => `${r.e164.e164} repeats row ${first}` },
    accept: (r) => {
      rows.id.push(newId());
      rows.e164.push(r.e164.e164);
      rows.country.push(r.e164.country);
      rows.type.push(r.e164.type);
      rows.monthlyFee.push(r.monthlyFee);
    },
  });
  for (const e164 of await repo.existing(rows.e164)) read.errors.add(read.rowOf(e164)!, 'e164', `${e164} is already in the inventory`);
  read.errors.throwIfAny(read.rows);
  await repo.insertMany(rows);
  return { imported: rows.e164.length };
}
