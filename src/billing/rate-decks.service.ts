/**
 * Rate decks and their rates: create, read, CSV import, and the longest-prefix lookup that rating
 * and credit control use. Owns the rate_decks and rates tables (storage: rate-decks.repository.ts);
 * imports nothing from other domain modules.
 */
import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { DomainError, notFound } from '../platform/problem';
import { AccountsRepository } from './accounts.repository';
import { DeckRow, RateDecksRepository, RateRow } from './rate-decks.repository';
import { importRates } from './rates-import';
import { rateCall, Tariff } from './rating';
import type { Tx } from './sql.repository';

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

const deckView = (r: DeckRow): RateDeckView => ({
  id: r.id,
  name: r.name,
  currency: r.currency,
  rates: Number(r.rates),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

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

/** Every prefix of an E.164 number's digits, longest first: the candidates for longest-prefix match. */
export function prefixesOf(e164: string): string[] {
  const digits = e164.replace(/^\+/, '');
  const out: string[] = [];
  for (let i = Math.min(digits.length, 15); i >= 1; i--) out.push(digits.slice(0, i));
  return out;
}

@Injectable()
export class RateDecksService {
  constructor(
    private readonly decks: RateDecksRepository,
    private readonly accounts: AccountsRepository,
  ) {}

  async create(input: z.infer<typeof createRateDeck>): Promise<RateDeckView> {
    const id = newId();
    await this.decks.insertDeck({ id, name: input.name, currency: input.currency });
    return this.get(id);
  }

  async list(q: z.infer<typeof rateDeckQuery>): Promise<Page<RateDeckView>> {
    const rows = await this.decks.decksPage(decodeCursor(q.cursor), q.limit + 1);
    return toPage(rows, q.limit, deckView);
  }

  async get(id: string): Promise<RateDeckView> {
    const row = await this.decks.deck(id);
    if (!row) throw notFound('rate deck', id);
    return deckView(row);
  }

  async rates(id: string, q: z.infer<typeof rateQuery>): Promise<Page<Rate>> {
    await this.get(id);
    const rows = await this.decks.ratesPage(id, { after: decodeCursor(q.cursor), prefix: q.prefix?.replace(/^\+/, '') }, q.limit + 1);
    return toPage(rows, q.limit, rateView);
  }

  async importCsv(id: string, body: Readable): Promise<{ imported: number }> {
    await this.get(id);
    return importRates((rows) => this.decks.upsertRates(id, rows), body);
  }

  /** Prices an answered call of `seconds` to `destination` for an account, now (POST /v1/rating/quote). */
  async quote(q: z.infer<typeof quoteInput>) {
    const acc = await this.accounts.tariffOf(q.accountId);
    if (!acc) throw notFound('account', q.accountId);
    if (!acc.rateDeckId) throw new DomainError('unprocessable', 'the account has no rate deck', [{ field: 'accountId', message: 'the account has no rate deck' }]);
    const rate = await this.findRate(acc.rateDeckId, q.destination);
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
  async findRates(queries: { deckId: string; e164: string; at: Date }[], tx?: Tx): Promise<(Rate | null)[]> {
    if (!queries.length) return [];
    const rows = await this.decks.findRates(queries.map((q) => ({ deckId: q.deckId, digits: q.e164.replace(/^\+/, ''), at: q.at })), tx);
    return rows.map((r) => (r ? rateView(r) : null));
  }

  /**
   * The rate for `e164` in a deck at `at`: longest prefix wins, then the latest effectiveFrom.
   * Inside a caller's transaction, pass it: the lookup then runs on its connection.
   */
  async findRate(deckId: string, e164: string, at: Date = new Date(), tx?: Tx): Promise<Rate | null> {
    const row = await this.decks.findRate(deckId, prefixesOf(e164), at, tx);
    return row ? rateView(row) : null;
  }
}

export const quoteInput = z.strictObject({
  accountId: z.uuid('expected a UUID'),
  destination: z.string().regex(/^\+[1-9]\d{1,14}$/, 'expected an E.164 number such as +442071234567'),
  seconds: z.number().int().min(0).max(86_400),
});
