/**
 * CSV import of numbers: streamed through csv-parse, every row validated, then all inserted in one
 * transaction or none. A 422 names every bad row. Rows are kept as compact columns (not objects)
 * so 100,000 rows cost a few megabytes.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { DataSource } from 'typeorm';
import { newId } from '../platform/ids';
import { DomainError, FieldError } from '../platform/problem';
import { normaliseNumber } from './number-format';

export const MAX_IMPORT_ROWS = 1_000_000;
const KNOWN_COLUMNS = new Set(['e164', 'monthlyFee']);
const FEE = /^\d{1,14}(\.\d{1,6})?$/;
const CHUNK = 5000;

interface Columns {
  id: string[];
  e164: string[];
  country: (string | null)[];
  type: string[];
  monthlyFee: string[];
}

export async function importNumbers(db: DataSource, body: Readable, defaultCountry: string): Promise<{ imported: number }> {
  const rows: Columns = { id: [], e164: [], country: [], type: [], monthlyFee: [] };
  const errors: FieldError[] = [];
  const firstRowOf = new Map<string, number>();
  const parser = body.pipe(
    parse({ columns: (header: string[]) => checkHeader(header), bom: true, trim: true, skip_empty_lines: true, relax_column_count: false }),
  );
  let row = 1; // the header is row 1, as a spreadsheet shows it
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      row++;
      if (row - 1 > MAX_IMPORT_ROWS) throw new DomainError('payload_too_large', `more than ${MAX_IMPORT_ROWS} rows; split the file`);
      const n = normaliseNumber(record.e164 ?? '', defaultCountry);
      const fee = record.monthlyFee === undefined || record.monthlyFee === '' ? '0' : record.monthlyFee;
      if (!n.ok) errors.push({ row, field: 'e164', message: n.message });
      if (!FEE.test(fee)) errors.push({ row, field: 'monthlyFee', message: 'expected a decimal such as 1.50 (up to 6 decimals)' });
      if (!n.ok || !FEE.test(fee)) continue;
      const seen = firstRowOf.get(n.number.e164);
      if (seen !== undefined) {
        errors.push({ row, field: 'e164', message: `${n.number.e164} repeats row ${seen}` });
        continue;
      }
      firstRowOf.set(n.number.e164, row);
      rows.id.push(newId());
      rows.e164.push(n.number.e164);
      rows.country.push(n.number.country);
      rows.type.push(n.number.type);
      rows.monthlyFee.push(fee);
    }
  } catch (e) {
    if (e instanceof DomainError) throw e;
    const err = e as Error & { code?: string; lines?: number };
    throw new DomainError('unprocessable', `CSV cannot be read: ${err.message}`, [{ row: err.lines ?? row, field: 'csv', message: err.message }]);
  }
  if (row === 1 && rows.e164.length === 0 && errors.length === 0) {
    throw new DomainError('unprocessable', 'the CSV has no rows', [{ field: 'csv', message: 'expected a header line e164[,monthlyFee] and at least one row' }]);
  }
  for (let i = 0; i < rows.e164.length; i += CHUNK) {
    const found = (await db.query('SELECT e164 FROM numbers WHERE e164 = ANY($1::text[])', [rows.e164.slice(i, i + CHUNK)])) as { e164: string }[];
    for (const { e164 } of found) errors.push({ row: firstRowOf.get(e164)!, field: 'e164', message: `${e164} is already in the inventory` });
  }
  if (errors.length > 0) {
    errors.sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
    const bad = new Set(errors.map((e) => e.row)).size;
    const problem = new DomainError('unprocessable', `${bad} of ${row - 1} rows are invalid; nothing was imported`, errors);
    throw problem;
  }
  await db.transaction(async (tx) => {
    for (let i = 0; i < rows.e164.length; i += CHUNK) {
      const s = (a: unknown[]) => a.slice(i, i + CHUNK);
      await tx.query(
        `INSERT INTO numbers (id, e164, country, type, monthly_fee)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::char(2)[], $4::text[], $5::numeric[])`,
        [s(rows.id), s(rows.e164), s(rows.country), s(rows.type), s(rows.monthlyFee)],
      );
    }
  });
  return { imported: rows.e164.length };
}

function checkHeader(header: string[]): string[] {
  const unknown = header.filter((h) => !KNOWN_COLUMNS.has(h));
  const errors: FieldError[] = unknown.map((h) => ({ row: 1, field: h, message: 'unknown column; expected e164 and optionally monthlyFee' }));
  if (!header.includes('e164')) errors.push({ row: 1, field: 'e164', message: 'the header must name an e164 column' });
  if (errors.length) throw new DomainError('unprocessable', 'the CSV header is not e164[,monthlyFee]', errors);
  return header;
}
