/**
 * CSV import of a rate deck's rates on the shared skeleton (platform/csv-import.ts): every row
 * validated by its zod schema, then all written in one transaction or none; a 422 names every bad
 * row. Rows are kept as columns (not objects) so 50,000 rows cost a few megabytes. A row whose
 * prefix and effectiveFrom already exist in the deck replaces that rate (re-importing a corrected
 * deck is the usual operator workflow); the write itself is RateDecksRepository.upsertRates.
 * Imports nothing from other domain modules.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { readCsv } from '../platform/csv-import';
import { newId } from '../platform/ids';
import type { RateColumns } from './rate-decks.repository';

export const MAX_RATE_ROWS = 500_000;
const MONEY = /^\d{1,14}(\.\d{1,6})?$/;
const PREFIX = /^\+?([0-9]{1,15})$/;
const INCREMENT = /^[1-9][0-9]{0,3}$/;
function timestamp(v: string): string | null {
  if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(v)) return null;
  const d = new Date(/T| /.test(v) ? v : `${v}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

const increment = z
  .string()
  .refine((v) => INCREMENT.test(v) && Number(v) <= 3600, 'expected whole seconds from 1 to 3600')
  .transform(Number);

/** A moment as ISO text: `message` when it is not one; `empty` when the cell is empty. */
const moment = <E extends string | null>(empty: () => E, message: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return empty();
      const t = timestamp(v);
      if (t) return t;
      ctx.addIssue({ code: 'custom', message, input: v });
      return z.NEVER;
    });

/** One rate row; `now` is the effectiveFrom of a row that leaves it empty. */
function rateRow(now: Date) {
  return z
    .object({
      prefix: z.string().transform((v, ctx) => PREFIX.exec(v)?.[1] ?? (ctx.addIssue({ code: 'custom', message: 'expected 1 to 15 digits (E.164 without +)', input: v }), z.NEVER)),
      destination: z.string().min(1, 'expected a name of 1 to 200 characters').max(200, 'expected a name of 1 to 200 characters'),
      ratePerMinute: z.string().regex(MONEY, 'expected a decimal such as 0.012345 (up to 6 decimals)'),
      connectionFee: z
        .string()
        .transform((v) => v || '0')
        .pipe(z.string().regex(MONEY, 'expected a decimal such as 0.05 (up to 6 decimals), or empty')),
      firstIncrement: increment,
      nextIncrement: increment,
      effectiveFrom: moment(() => now.toISOString(), 'expected an ISO-8601 date or timestamp, or empty for now'),
      effectiveTo: moment(() => null, 'expected an ISO-8601 date or timestamp, or empty for open-ended'),
    })
    .refine((r) => r.effectiveTo === null || r.effectiveTo > r.effectiveFrom, {
      path: ['effectiveTo'],
      message: 'must be after effectiveFrom',
      // Checked beside the other fields' problems, as long as both moments are readable.
      when: (p) => !p.issues.some((i) => i.path?.[0] === 'effectiveFrom' || i.path?.[0] === 'effectiveTo'),
    });
}

/** Parses and validates the CSV, then hands every row at once to `write` (one transaction: all or none). */
export async function importRates(write: (rows: RateColumns) => Promise<void>, body: Readable, now = new Date()): Promise<{ imported: number }> {
  const rows: RateColumns = { id: [], prefix: [], destination: [], rate: [], fee: [], first: [], next: [], from: [], to: [] };
  const read = await readCsv(body, {
    required: ['prefix', 'destination', 'ratePerMinute', 'connectionFee', 'firstIncrement', 'nextIncrement', 'effectiveFrom'],
    optional: ['effectiveTo'],
    maxRows: MAX_RATE_ROWS,
    row: rateRow(now),
    unique: { field: 'prefix', key: (r) => `${r.prefix}@${r.effectiveFrom}`, message: (r, first) => `prefix ${r.prefix} with this effectiveFrom repeats row ${first}` },
    accept: (r) => {
      rows.id.push(newId());
      rows.prefix.push(r.prefix);
      rows.destination.push(r.destination);
      rows.rate.push(r.ratePerMinute);
      rows.fee.push(r.connectionFee);
      rows.first.push(r.firstIncrement);
      rows.next.push(r.nextIncrement);
      rows.from.push(r.effectiveFrom);
      rows.to.push(r.effectiveTo);
    },
  });
  read.errors.throwIfAny(read.rows);
  await write(rows);
  return { imported: rows.id.length };
}
