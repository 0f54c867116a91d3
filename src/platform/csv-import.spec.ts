import { Readable } from 'node:stream';
import { z } from 'zod';
import { CsvImportSpec, readCsv, RowErrors } from './csv-import';
import { DomainError } from './problem';

const spec = (accepted: [string, number][] = []): CsvImportSpec<{ code: string; n: number }> => ({
  required: ['code'],
  optional: ['n'],
  maxRows: 5,
  row: z.object({
    code: z.string().regex(/^[a-z]+$/, 'expected letters'),
    n: z
      .string()
      .optional()
      .transform((v) => Number(v ?? '0'))
      .pipe(z.number().int('expected a whole number')),
  }),
  unique: { field: 'code', key: (r) => r.code, message: (r, first) => `${r.code} repeats row ${first}` },
  accept: (r, line) => accepted.push([r.code, line]),
});

async function refusal(csv: string, s = spec()): Promise<DomainError> {
  try {
    const read = await readCsv(Readable.from([csv]), s);
    read.errors.throwIfAny(read.rows);
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('readCsv', () => {
  it('hands over valid rows with their line numbers (the header is row 1)', async () => {
    const accepted: [string, number][] = [];
    const read = await readCsv(Readable.from(['code,n\nab,1\n\ncd,\n']), spec(accepted));
    expect(accepted).toEqual([
      ['ab', 2],
      ['cd', 3],
    ]);
    expect(read.rows).toBe(2);
    expect(read.rowOf('cd')).toBe(3);
  });

  it('names unknown and missing columns', async () => {
    const e = await refusal('name,n\nab,1\n');
    expect(e.message).toBe('the CSV header must be code[,n]');
    expect(e.errors).toEqual([
      { row: 1, field: 'name', message: 'unknown column; expected code[,n]' },
      { row: 1, field: 'code', message: 'missing column; the header must name code' },
    ]);
  });

  it('collects every bad field and repeated key with its row, and counts bad rows', async () => {
    const e = await refusal('code,n\nab,1\nAB,1.5\nab,2\n');
    expect(e.message).toBe('2 of 3 rows are invalid; nothing was imported');
    expect(e.errors).toEqual([
      { row: 3, field: 'code', message: 'expected letters' },
      { row: 3, field: 'n', message: 'expected a whole number' },
      { row: 4, field: 'code', message: 'ab repeats row 2' },
    ]);
  });

  it('refuses an empty file, a ragged row and too many rows', async () => {
    expect((await refusal('code\n')).message).toBe('the CSV has no rows');
    expect((await refusal('code,n\nab,1,2\n')).errors[0]).toMatchObject({ field: 'csv', row: 2 });
    const tooMany = await refusal(['code', 'a', 'b', 'c', 'd', 'e', 'f'].join('\n'));
    expect(tooMany.code).toBe('payload_too_large');
  });
});

describe('RowErrors', () => {
  it('lists the lowest rows up to its limit and still counts every bad row', () => {
    const errors = new RowErrors(100, 3);
    for (let row = 50; row >= 2; row--) errors.add(row, 'f', `bad ${row}`);
    errors.add(2, 'g', 'also bad');
    let thrown: DomainError | undefined;
    try {
      errors.throwIfAny(60);
    } catch (e) {
      thrown = e as DomainError;
    }
    expect(thrown?.message).toBe('49 of 60 rows are invalid; nothing was imported (the first 3 problems are listed)');
    expect(thrown?.errors).toEqual([
      { row: 2, field: 'f', message: 'bad 2' },
      { row: 2, field: 'g', message: 'also bad' },
      { row: 3, field: 'f', message: 'bad 3' },
    ]);
  });

  it('throws nothing without errors', () => {
    expect(() => new RowErrors(10).throwIfAny(10)).not.toThrow();
  });
});
