/**
 * The one skeleton of every CSV import (numbers, toll-free numbers, rates): the file is streamed
 * through csv-parse, the header is checked (a 422 names every unknown and every missing column),
 * each row goes through the importer's own zod schema, repeated keys are refused with the row they
 * repeat, and row errors are collected with their line numbers (the header is row 1, as a
 * spreadsheet shows it) into a bounded list. The importers own their row schema, their checks
 * against the database and their writes; all or nothing stays theirs too.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { z } from 'zod';
import { DomainError, FieldError } from './problem';

/** Problems listed in one 422 at most (the count in its detail stays exact). */
export const MAX_LISTED_ERRORS = 1000;

export interface CsvImportSpec<T> {
  /** Columns the header must name. */
  required: readonly string[];
  /** Columns the header may name besides. */
  optional?: readonly string[];
  /** Data rows beyond this are a 413. */
  maxRows: number;
  /** Turns one record (column name → trimmed text) into the importer's row; its issues become row errors. */
  row: z.ZodType<T>;
  /** Rows with the same key are refused, each naming the first row that had it. */
  unique?: { field: string; key(row: T): string; message(row: T, firstRow: number): string };
  /** Takes a valid, non-repeated row (importers keep rows as compact columns). */
  accept(row: T, line: number): void;
}

export interface CsvRead {
  /** Data rows read (the header not counted). */
  rows: number;
  errors: RowErrors;
  /** The row that first had this unique key. */
  rowOf(key: string): number | undefined;
}

/** `e164[,monthlyFee]`: the header as the errors describe it. */
export function headerText(spec: Pick<CsvImportSpec<unknown>, 'required' | 'optional'>): string {
  return spec.required.join(',') + (spec.optional ?? []).map((c) => `[,${c}]`).join('');
}

/**
 * The body of a `text/csv` upload: the request stream, unread (app.ts hands text/csv bodies on as
 * they come). Any other Content-Type is a 415 naming the header.
 */
export function csvBody(req: { headers: Record<string, string | string[] | undefined>; body?: unknown }): Readable {
  const type = req.headers['content-type'] ?? '';
  if (typeof type !== 'string' || !/^text\/csv\b/i.test(type) || !isReadable(req.body)) {
    throw new DomainError('unsupported_media_type', `expected Content-Type text/csv, got ${type || 'none'}`, [{ field: 'Content-Type', message: 'expected text/csv' }]);
  }
  return req.body;
}

function isReadable(body: unknown): body is Readable {
  return typeof (body as Readable | undefined)?.pipe === 'function';
}

/** Row errors: the first MAX_LISTED_ERRORS by row are kept, and the bad rows counted exactly. */
export class RowErrors {
  private list: (FieldError & { row: number })[] = [];
  private readonly bad: Uint8Array;
  private badRows = 0;
  private truncated = false;

  constructor(
    maxRows: number,
    private readonly limit = MAX_LISTED_ERRORS,
  ) {
    this.bad = new Uint8Array(Math.ceil((maxRows + 3) / 8));
  }

  get size(): number {
    return this.badRows;
  }

  add(row: number, field: string, message: string): void {
    const bit = 1 << (row & 7);
    if (!(this.bad[row >> 3] & bit)) {
      this.bad[row >> 3] |= bit;
      this.badRows++;
    }
    this.list.push({ row, field, message });
    if (this.list.length >= 2 * this.limit) this.trim();
  }

  /** A 422 naming the bad rows (lowest first) when there is any; nothing was written. */
  throwIfAny(rows: number): void {
    if (this.badRows === 0) return;
    this.trim();
    const listed = this.truncated ? ` (the first ${this.limit} problems are listed)` : '';
    throw new DomainError('unprocessable', `${this.badRows} of ${rows} rows are invalid; nothing was imported${listed}`, this.list);
  }

  private trim(): void {
    // Stable: a row's problems keep the order they were found in.
    this.list.sort((a, b) => a.row - b.row);
    if (this.list.length > this.limit) {
      this.list.length = this.limit;
      this.truncated = true;
    }
  }
}

export async function readCsv<T>(body: Readable, spec: CsvImportSpec<T>): Promise<CsvRead> {
  const errors = new RowErrors(spec.maxRows);
  const firstRowOf = new Map<string, number>();
  const parser = body.pipe(parse({ columns: (header: string[]) => checkHeader(header, spec), bom: true, trim: true, skip_empty_lines: true, relax_column_count: false }));
  let row = 1; // the header is row 1, as a spreadsheet shows it
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      row++;
      if (row - 1 > spec.maxRows) throw new DomainError('payload_too_large', `more than ${spec.maxRows} rows; split the file`);
      const r = spec.row.safeParse(record);
      if (!r.success) {
        for (const i of r.error.issues) errors.add(row, i.path.length ? i.path.map(String).join('.') : 'csv', i.message);
        continue;
      }
      if (spec.unique) {
        const key = spec.unique.key(r.data);
        const seen = firstRowOf.get(key);
        if (seen !== undefined) {
          errors.add(row, spec.unique.field, spec.unique.message(r.data, seen));
          continue;
        }
        firstRowOf.set(key, row);
      }
      spec.accept(r.data, row);
    }
  } catch (e) {
    if (e instanceof DomainError) throw e;
    const err = e as Error & { lines?: number };
    throw new DomainError('unprocessable', `CSV cannot be read: ${err.message}`, [{ row: err.lines ?? row, field: 'csv', message: err.message }]);
  }
  if (row === 1) {
    throw new DomainError('unprocessable', 'the CSV has no rows', [{ field: 'csv', message: `expected the header ${headerText(spec)} and at least one row` }]);
  }
  return { rows: row - 1, errors, rowOf: (key) => firstRowOf.get(key) };
}

function checkHeader(header: string[], spec: Pick<CsvImportSpec<unknown>, 'required' | 'optional'>): string[] {
  const known = new Set([...spec.required, ...(spec.optional ?? [])]);
  const expected = headerText(spec);
  const errors: FieldError[] = header.filter((h) => !known.has(h)).map((h) => ({ row: 1, field: h, message: `unknown column; expected ${expected}` }));
  for (const c of spec.required) if (!header.includes(c)) errors.push({ row: 1, field: c, message: `missing column; the header must name ${c}` });
  if (errors.length) throw new DomainError('unprocessable', `the CSV header must be ${expected}`, errors);
  return header;
}
