/**
 * Storage of rate decks: the rate_decks and rates tables, every query billing makes on them,
 * including the longest-prefix lookup. Services call this, never SQL.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SqlRepository, Tx } from './sql.repository';

export interface DeckRow {
  id: string;
  name: string;
  currency: string;
  rates: number;
  created_at: Date;
  updated_at: Date;
}

/** A rate with its deck's currency. */
export interface RateRow {
  id: string;
  rate_deck_id: string;
  prefix: string;
  destination: string;
  rate_per_minute: string;
  connection_fee: string;
  first_increment: number;
  next_increment: number;
  effective_from: Date;
  effective_to: Date | null;
  currency: string;
}

/** Rates to import, as columns (not objects): 50,000 rows then cost a few megabytes. */
export interface RateColumns {
  id: string[];
  prefix: string[];
  destination: string[];
  rate: string[];
  fee: string[];
  first: number[];
  next: number[];
  from: string[];
  to: (string | null)[];
}

const DECK_SELECT = `SELECT d.id, d.name, d.currency, d.created_at, d.updated_at, (SELECT count(*) FROM rates r WHERE r.rate_deck_id = d.id) AS rates FROM rate_decks d`;
/** Rows written per INSERT of an import. */
const CHUNK = 5000;

@Injectable()
export class RateDecksRepository extends SqlRepository {
  constructor(@InjectDataSource() db: DataSource) {
    super(db);
  }

  async insertDeck(d: { id: string; name: string; currency: string }): Promise<void> {
    await this.db.query('INSERT INTO rate_decks (id, name, currency) VALUES ($1, $2, $3)', [d.id, d.name, d.currency]);
  }

  async decksPage(after: string | undefined, take: number): Promise<DeckRow[]> {
    return (await this.db.query(`${DECK_SELECT} WHERE ($1::uuid IS NULL OR d.id < $1) ORDER BY d.id DESC LIMIT $2`, [after ?? null, take])) as DeckRow[];
  }

  async deck(id: string): Promise<DeckRow | null> {
    const [row] = (await this.db.query(`${DECK_SELECT} WHERE d.id = $1`, [id])) as DeckRow[];
    return row ?? null;
  }

  /** One page of a deck's rates, newest first; `prefix` (digits) keeps those starting with it. */
  async ratesPage(deckId: string, filter: { after?: string; prefix?: string }, take: number): Promise<RateRow[]> {
    return (await this.db.query(
      `SELECT r.*, d.currency FROM rates r JOIN rate_decks d ON d.id = r.rate_deck_id
       WHERE r.rate_deck_id = $1 AND ($2::uuid IS NULL OR r.id < $2) AND ($3::text IS NULL OR r.prefix LIKE $3 || '%')
       ORDER BY r.id DESC LIMIT $4`,
      [deckId, filter.after ?? null, filter.prefix ?? null, take],
    )) as RateRow[];
  }

  /**
   * Writes the rates in one transaction, all or none. A rate whose prefix and effectiveFrom already
   * exist in the deck is replaced.
   */
  async upsertRates(deckId: string, rows: RateColumns): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < rows.id.length; i += CHUNK) {
        const s = <T>(a: T[]) => a.slice(i, i + CHUNK);
        await tx.query(
          `INSERT INTO rates (id, rate_deck_id, prefix, destination, rate_per_minute, connection_fee, first_increment, next_increment, effective_from, effective_to)
           SELECT u.id, $1, u.prefix, u.destination, u.rate, u.fee, u.first, u.next, u.ef, u.et
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::int[], $8::int[], $9::timestamptz[], $10::timestamptz[])
             AS u(id, prefix, destination, rate, fee, first, next, ef, et)
           ON CONFLICT (rate_deck_id, prefix, effective_from) DO UPDATE SET destination = EXCLUDED.destination,
             rate_per_minute = EXCLUDED.rate_per_minute, connection_fee = EXCLUDED.connection_fee, first_increment = EXCLUDED.first_increment,
             next_increment = EXCLUDED.next_increment, effective_to = EXCLUDED.effective_to`,
          [deckId, s(rows.id), s(rows.prefix), s(rows.destination), s(rows.rate), s(rows.fee), s(rows.first), s(rows.next), s(rows.from), s(rows.to)],
        );
      }
      await tx.query('UPDATE rate_decks SET updated_at = now() WHERE id = $1', [deckId]);
    });
  }

  /** The rate for any of `prefixes` in a deck at `at`: longest prefix wins, then the latest effectiveFrom. */
  async findRate(deckId: string, prefixes: string[], at: Date, tx?: Tx): Promise<RateRow | null> {
    const [row] = (await this.on(tx).query(
      `SELECT r.*, d.currency FROM rates r JOIN rate_decks d ON d.id = r.rate_deck_id
       WHERE r.rate_deck_id = $1 AND r.prefix = ANY($2::text[]) AND r.effective_from <= $3 AND (r.effective_to IS NULL OR r.effective_to > $3)
       ORDER BY length(r.prefix) DESC, r.effective_from DESC LIMIT 1`,
      [deckId, prefixes, at],
    )) as RateRow[];
    return row ?? null;
  }

  /** findRate for many (deck, digits, time) at once, in one query; results in the same order. */
  async findRates(queries: { deckId: string; digits: string; at: Date }[], tx?: Tx): Promise<(RateRow | null)[]> {
    const rows = (await this.on(tx).query(
      `SELECT q.i, r.*, d.currency
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS q(deck, digits, at, i)
       CROSS JOIN LATERAL (
         SELECT * FROM rates r
         WHERE r.rate_deck_id = q.deck AND r.effective_from <= q.at AND (r.effective_to IS NULL OR r.effective_to > q.at)
           AND r.prefix = ANY (ARRAY(SELECT left(q.digits, n) FROM generate_series(1, least(15, length(q.digits))) n))
         ORDER BY length(r.prefix) DESC, r.effective_from DESC LIMIT 1) r
       JOIN rate_decks d ON d.id = r.rate_deck_id`,
      [queries.map((q) => q.deckId), queries.map((q) => q.digits), queries.map((q) => q.at)],
    )) as (RateRow & { i: string })[];
    const out: (RateRow | null)[] = queries.map(() => null);
    for (const r of rows) {
      const { i, ...rate } = r;
      out[Number(i) - 1] = rate;
    }
    return out;
  }
}
