/**
 * Cursor pagination over time-ordered ids (UUIDv7): `WHERE id < cursor ORDER BY id DESC LIMIT n+1`:
 * every list is newest first (`cdrs?limit=1` is the latest call).
 * A keyset cursor stays correct while rows are inserted, unlike OFFSET, and costs one index seek.
 */
import { z } from 'zod';
import { invalid } from './problem';

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().max(200).optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9a-f-]{36}$/.test(id)) throw invalid('cursor', 'not a cursor this API returned');
  return id;
}

/** Trims the look-ahead row and builds the page. `rows` must be fetched with limit + 1. */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, map: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const slice = more ? rows.slice(0, limit) : rows;
  return { data: slice.map(map), nextCursor: more ? encodeCursor(slice[slice.length - 1].id) : null };
}
