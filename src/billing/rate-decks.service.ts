/**
 * Rate decks and their rates: create, read, CSV import, and the longest-prefix lookup that rating
 * and credit control use. Owns the rate_decks and rates tables; imports nothing from other domain
 * modules.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Readable } from 'node:stream';
import { DataSource, EntityManager } from 'typeorm';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { DomainError, notFound } from '../platform/problem';
import { importRates } from './rates-import';
import { rateCall, Tariff } from './rating';

export const createRateDeck = z.strictObject({
  name: z.string().trim().min(1).max(200),
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code such as USD'),
});
export const rateDeckQuery = pageQuery;
export const rateQuery = pageQuery.extend({ prefix: z.string().regex(/^\+?\d{1,15}$/).optional() });

export interface RateDeckView {
  id: string;
  name: string;
  currency: string;
  rates: number;
  createdAt: string;
  updatedAt: string;
}

/** A rate as rating and credit control need it. */
export interface Rate extends Tariff {
  id: string;
  rateDeckId: string;
  prefix: string;
  destination: string;
  currency: string;
  effectiveFrom: string;
  effectiveTo: string | null;
}

interface DeckRow {
  id: string;
  name: string;
  currency: string;
  rates: number;
  created_at: Date;
  updated_at: Date;
}
const deckView = (r: DeckRow): RateDeckView => ({
  id: r.id,
  name: r.name,
  currency: r.currency,
  rates: Number(r.rates),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

interface RateRow {
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
const rateView = (r: RateRow): Rate => ({
  id: r.id,
  rateDeckId: r.rate_deck_id,
  prefix: r.prefix,
  destination: r.destination,
  ratePerMinute: r.rate_per_minute,
  connectionFee: r.connection_fee,
  firstIncrement: r.first_increment,
  nextIncrement: r.next_increment,
  currency: r.currency,
  effectiveFrom: r.effective_from.toISOString(),
  effectiveTo: r.effective_to?.toISOString() ?? null,
});

const DECK_SELECT = `SELECT d.id, d.name, d.currency, d.created_at, d.updated_at, (SELECT count(*) FROM rates r WHERE r.rate_deck_id = d.id) AS rates FROM rate_decks d`;

/** Every prefix of an E.164 number's digits, longest first: the candidates for longest-prefix match. */
export function prefixesOf(e164: string): string[] {
  const digits = e164.replace(/^\+/, '');
  const out: string[] = [];
  for (let i = Math.min(digits.length, 15); i >= 1; i--) out.push(digits.slice(0, i));
  return out;
}

@Injectable()
export class RateDecksService {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async create(input: z.infer<typeof createRateDeck>): Promise<RateDeckView> {
    const id = newId();
    await this.db.query('INSERT INTO rate_decks (id, name, currency) VALUES ($1, $2, $3)', [id, input.name, input.currency]);
    return this.get(id);
  }

  async list(q: z.infer<typeof rateDeckQuery>): Promise<Page<RateDeckView>> {
    const after = decodeCursor(q.cursor);
    const rows = (await this.db.query(`${DECK_SELECT} WHERE ($1::uuid IS NULL OR d.id > $1) ORDER BY d.id LIMIT $2`, [after ?? null, q.limit + 1])) as DeckRow[];
    return toPage(rows, q.limit, deckView);
  }

  async get(id: string): Promise<RateDeckView> {
    const [row] = (await this.db.query(`${DECK_SELECT} WHERE d.id = $1`, [id])) as DeckRow[];
    if (!row) throw notFound('rate deck', id);
    return deckView(row);
  }

  async rates(id: string, q: z.infer<typeof rateQuery>): Promise<Page<Rate>> {
    await this.get(id);
    const after = decodeCursor(q.cursor);
    const rows = (await this.db.query(
      `SELECT r.*, d.currency FROM rates r JOIN rate_decks d ON d.id = r.rate_deck_id
       WHERE r.rate_deck_id = $1 AND ($2::uuid IS NULL OR r.id > $2) AND ($3::text IS NULL OR r.prefix LIKE $3 || '%')
       ORDER BY r.id LIMIT $4`,
      [id, after ?? null, q.prefix?.replace(/^\+/, '') ?? null, q.limit + 1],
    )) as RateRow[];
    return toPage(rows, q.limit, rateView);
  }

  async importCsv(id: string, body: Readable): Promise<{ imported: number }> {
    await this.get(id);
    return importRates(this.db, id, body);
  }

  /** Prices an answered call of `seconds` to `destination` for an account, now (POST /v1/rating/quote). */
  async quote(q: z.infer<typeof quoteInput>) {
    const [acc] = (await this.db.query('SELECT rate_deck_id, currency FROM accounts WHERE id = $1', [q.accountId])) as { rate_deck_id: string | null; currency: string }[];
    if (!acc) throw notFound('account', q.accountId);
    if (!acc.rate_deck_id) throw new DomainError('unprocessable', 'the account has no rate deck', [{ field: 'accountId', message: 'the account has no rate deck' }]);
    const rate = await this.findRate(acc.rate_deck_id, q.destination);
    if (!rate) throw new DomainError('unprocessable', `no rate for ${q.destination}`, [{ field: 'destination', message: 'no rate in the account\'s rate deck' }]);
    const { billableSeconds, cost } = rateCall(rate, q.seconds);
    return {
      cost,
      currency: rate.currency,
      prefix: rate.prefix,
      destination: rate.destination,
      ratePerMinute: rate.ratePerMinute,
      connectionFee: rate.connectionFee,
      firstIncrement: rate.firstIncrement,
      nextIncrement: rate.nextIncrement,
      billableSeconds,
      seconds: q.seconds,
    };
  }

  /** findRate for many (deck, number, time) at once, in one query; results in the same order. */
  async findRates(queries: { deckId: string; e164: string; at: Date }[], tx?: EntityManager): Promise<(Rate | null)[]> {
    if (!queries.length) return [];
    const rows = (await (tx ?? this.db).query(
      `SELECT q.i, r.*, d.currency
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS q(deck, digits, at, i)
       CROSS JOIN LATERAL (
         SELECT * FROM rates r
         WHERE r.rate_deck_id = q.deck AND r.effective_from <= q.at AND (r.effective_to IS NULL OR r.effective_to > q.at)
           AND r.prefix = ANY (ARRAY(SELECT left(q.digits, n) FROM generate_series(1, least(15, length(q.digits))) n))
         ORDER BY length(r.prefix) DESC, r.effective_from DESC LIMIT 1) r
       JOIN rate_decks d ON d.id = r.rate_deck_id`,
      [queries.map((q) => q.deckId), queries.map((q) => q.e164.replace(/^\+/, '')), queries.map((q) => q.at)],
    )) as (RateRow & { i: string })[];
    const out: (Rate | null)[] = queries.map(() => null);
    for (const r of rows) out[Number(r.i) - 1] = rateView(r);
    return out;
  }

  /** The rate for `e164` in a deck at `at`: longest prefix wins, then the latest effectiveFrom. */
  async findRate(deckId: string, e164: string, at: Date = new Date(), tx?: EntityManager): Promise<Rate | null> {
    // Inside a caller's transaction, use its connection: a second one per transaction could
    // exhaust the pool under load and wait forever.
    const [row] = (await (tx ?? this.db).query(
      `SELECT r.*, d.currency FROM rates r JOIN rate_decks d ON d.id = r.rate_deck_id
       WHERE r.rate_deck_id = $1 AND r.prefix = ANY($2::text[]) AND r.effective_from <= $3 AND (r.effective_to IS NULL OR r.effective_to > $3)
       ORDER BY length(r.prefix) DESC, r.effective_from DESC LIMIT 1`,
      [deckId, prefixesOf(e164), at],
    )) as RateRow[];
    return row ? rateView(row) : null;
  }
}

export const quoteInput = z.strictObject({
  accountId: z.uuid('expected a UUID'),
  destination: z.string().regex(/^\+[1-9]\d{1,14}$/, 'expected an E.164 number such as +442071234567'),
  seconds: z.number().int().min(0).max(86_400),
});
