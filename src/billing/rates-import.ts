/**
 * CSV import of a rate deck's rates: streamed through csv-parse, every row validated, then all
 * written in one transaction or none; a 422 names every bad row. Rows are kept as columns (not
 * objects) so 50,000 rows cost a few megabytes. A row whose prefix and effectiveFrom already exist
 * in the deck replaces that rate (re-importing a corrected deck is the usual operator workflow);
 * the write itself is RateDecksRepository.upsertRates.
 * Imports nothing from other domain modules.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { newId } from '../platform/ids';
import { DomainError, FieldError } from '../platform/problem';
import type { RateColumns } from './rate-decks.repository';

export const MAX_RATE_ROWS = 500_000;
const REQUIRED = ['prefix', 'destination', 'ratePerMinute', 'connectionFee', 'firstIncrement', 'nextIncrement', 'effectiveFrom'];
const KNOWN = new Set([...REQUIRED, 'effectiveTo']);
const MONEY = /^\d{1,14}(\.\d{1,6})?$/;
const PREFIX = /^\+?([0-9]{1,15})$/;
const INCREMENT = /^[1-9][0-9]{0,3}$/;

function timestamp(v: string): string | null {
  if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(v)) return null;
  const d = new Date(/T| /.test(v) ? v : `${v}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Parses and validates the CSV, then hands every row at once to `write` (one transaction: all or none). */
export async function importRates(write: (rows: RateColumns) => Promise<void>, body: Readable, now = new Date()): Promise<{ imported: number }> {
  const rows: RateColumns = { id: [], prefix: [], destination: [], rate: [], fee: [], first: [], next: [], from: [], to: [] };
  const errors: FieldError[] = [];
  const firstRowOf = new Map<string, number>();
  const parser = body.pipe(parse({ columns: checkHeader, bom: true, trim: true, skip_empty_lines: true }));
  let row = 1; // the header is row 1, as a spreadsheet shows it
  try {
    for await (const r of parser as AsyncIterable<Record<string, string>>) {
      row++;
      if (row - 1 > MAX_RATE_ROWS) throw new DomainError('payload_too_large', `more than ${MAX_RATE_ROWS} rows; split the file`);
      const bad: FieldError[] = [];
      const prefix = PREFIX.exec(r.prefix ?? '')?.[1];
      if (!prefix) bad.push({ row, field: 'prefix', message: 'expected 1 to 15 digits (E.164 without +)' });
      const destination = r.destination ?? '';
      if (destination.length < 1 || destination.length > 200) bad.push({ row, field: 'destination', message: 'expected a name of 1 to 200 characters' });
      if (!MONEY.test(r.ratePerMinute ?? '')) bad.push({ row, field: 'ratePerMinute', message: 'expected a decimal such as 0.012345 (up to 6 decimals)' });
      const fee = r.connectionFee === '' || r.connectionFee === undefined ? '0' : r.connectionFee;
      if (!MONEY.test(fee)) bad.push({ row, field: 'connectionFee', message: 'expected a decimal such as 0.05 (up to 6 decimals), or empty' });
      const first = INCREMENT.test(r.firstIncrement ?? '') ? Number(r.firstIncrement) : NaN;
      if (!(first >= 1 && first <= 3600)) bad.push({ row, field: 'firstIncrement', message: 'expected whole seconds from 1 to 3600' });
      const next = INCREMENT.test(r.nextIncrement ?? '') ? Number(r.nextIncrement) : NaN;
      if (!(next >= 1 && next <= 3600)) bad.push({ row, field: 'nextIncrement', message: 'expected whole seconds from 1 to 3600' });
      const from = r.effectiveFrom ? timestamp(r.effectiveFrom) : now.toISOString();
      if (!from) bad.push({ row, field: 'effectiveFrom', message: 'expected an ISO-8601 date or timestamp, or empty for now' });
      const to = r.effectiveTo ? timestamp(r.effectiveTo) : null;
      if (r.effectiveTo && !to) bad.push({ row, field: 'effectiveTo', message: 'expected an ISO-8601 date or timestamp, or empty for open-ended' });
      else if (to && from && to <= from) bad.push({ row, field: 'effectiveTo', message: 'must be after effectiveFrom' });
      if (bad.length) {
        errors.push(...bad);
        continue;
      }
      const key = `${prefix}@${from}`;
      const seen = firstRowOf.get(key);
      if (seen !== undefined) {
        errors.push({ row, field: 'prefix', message: `prefix ${prefix} with this effectiveFrom repeats row ${seen}` });
        continue;
      }
      firstRowOf.set(key, row);
      rows.id.push(newId());
      rows.prefix.push(prefix!);
      rows.destination.push(destination);
      rows.rate.push(r.ratePerMinute);
      rows.fee.push(fee);
      rows.first.push(first);
      rows.next.push(next);
      rows.from.push(from!);
      rows.to.push(to);
    }
  } catch (e) {
    if (e instanceof DomainError) throw e;
    const err = e as Error & { lines?: number };
    throw new DomainError('unprocessable', `CSV cannot be read: ${err.message}`, [{ row: err.lines ?? row, field: 'csv', message: err.message }]);
  }
  if (errors.length > 0) {
    const bad = new Set(errors.map((e) => e.row)).size;
    throw new DomainError('unprocessable', `${bad} of ${row - 1} rows are invalid; nothing was imported`, errors);
  }
  if (rows.id.length === 0) {
    throw new DomainError('unprocessable', 'the CSV has no rows', [{ field: 'csv', message: `expected the header ${REQUIRED.join(',')} and at least one row` }]);
  }
  await write(rows);
  return { imported: rows.id.length };
}

function checkHeader(header: string[]): string[] {
  const errors: FieldError[] = header.filter((h) => !KNOWN.has(h)).map((h) => ({ row: 1, field: h, message: 'unknown column' }));
  for (const h of REQUIRED) if (!header.includes(h)) errors.push({ row: 1, field: h, message: 'missing column' });
  if (errors.length) throw new DomainError('unprocessable', `the CSV header must be ${REQUIRED.join(',')}[,effectiveTo]`, errors);
  return header;
}
