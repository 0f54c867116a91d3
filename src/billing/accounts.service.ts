/**
 * Billing accounts: create, read, update, delete. Money movement (balance, ledger, top-ups)
 * belongs to the ledger; this service never writes `balance`. Storage: accounts.repository.ts.
 */
import { Injectable } from '@nestjs/common';
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { conflict, notFound } from '../platform/problem';
import { money, uuid } from '../platform/validation';
import { Account, accountStatuses } from './account.entity';
import { AccountsRepository } from './accounts.repository';
import { CreditControlService } from './credit-control.service';

/**
 * ISO 3166-1 alpha-2 codes (upper case; lower case is accepted and upper-cased), each one a country
 * libphonenumber knows numbers of (the only countries a destination can resolve to); duplicates
 * are dropped. null: every country.
 */
const countryMessage = 'expected ISO 3166-1 alpha-2 country codes such as US or GB';
const allowedCountries = z
  .array(
    z
      .string()
      .regex(/^[A-Za-z]{2}$/, countryMessage)
      .transform((c) => c.toUpperCase())
      .refine((c) => isSupportedCountry(c), { message: countryMessage }),
  )
  .max(300)
  .transform((list) => [...new Set(list)])
  .nullable()
  .describe('ISO 3166-1 alpha-2 codes of the countries this account may call (the country libphonenumber gives the destination); null: every country');
const maxRatePerMinute = money.nullable().describe("The highest per-minute rate of a destination this account may call (exact; equal is allowed); null: any rate");
const dailySpendLimit = money
  .nullable()
  .describe("The most the account's calls may cost per UTC day: rated CDRs started today + open holds + the new call's hold; null: no limit");
const maxConcurrentCalls = z
  .number()
  .int()
  .min(0)
  .max(1_000_000)
  .nullable()
  .describe('Calls in progress at once, on every node; null: DEFAULT_MAX_CONCURRENT_CALLS of the configuration (10 unless set)');

export const createAccount = z.strictObject({
  name: z.string().trim().min(1).max(200),
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code such as USD').describe('ISO 4217; the same as the rate deck’s'),
  creditLimit: money.default('0').describe('how far below zero the balance may go'),
  maxConcurrentCalls: maxConcurrentCalls.default(null),
  allowedCountries: allowedCountries.default(null),
  maxRatePerMinute: maxRatePerMinute.default(null),
  dailySpendLimit: dailySpendLimit.default(null),
  rateDeckId: uuid.nullable().default(null).describe('the rate deck that prices this account’s calls (POST /v1/rate-decks); without one every outbound call is refused (SIP 403 no rate)'),
  status: z.enum(accountStatuses).default('active'),
});
export const updateAccount = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  creditLimit: money.optional(),
  maxConcurrentCalls: maxConcurrentCalls.optional(),
  allowedCountries: allowedCountries.optional(),
  maxRatePerMinute: maxRatePerMinute.optional(),
  dailySpendLimit: dailySpendLimit.optional(),
  rateDeckId: uuid.nullable().optional().describe('the rate deck that prices this account’s calls (POST /v1/rate-decks); without one every outbound call is refused (SIP 403 no rate)'),
  status: z.enum(accountStatuses).optional(),
});
export const accountQuery = pageQuery.extend({ status: z.enum(accountStatuses).optional() });

export interface AccountView {
  id: string;
  name: string;
  currency: string;
  balance: string;
  creditLimit: string;
  /** null: DEFAULT_MAX_CONCURRENT_CALLS. */
  maxConcurrentCalls: number | null;
  allowedCountries: string[] | null;
  maxRatePerMinute: string | null;
  dailySpendLimit: string | null;
  rateDeckId: string | null;
  status: string;
  createdAt: string;
  updatedAt: string;
}

export const accountView = (a: Account): AccountView => ({
  id: a.id,
  name: a.name,
  currency: a.currency,
  balance: a.balance,
  creditLimit: a.creditLimit,
  maxConcurrentCalls: a.maxConcurrentCalls,
  allowedCountries: a.allowedCountries,
  maxRatePerMinute: a.maxRatePerMinute,
  dailySpendLimit: a.dailySpendLimit,
  rateDeckId: a.rateDeckId,
  status: a.status,
  createdAt: a.createdAt.toISOString(),
  updatedAt: a.updatedAt.toISOString(),
});

@Injectable()
export class AccountsService {
  constructor(
    private readonly accounts: AccountsRepository,
    private readonly credit: CreditControlService,
  ) {}

  async create(input: z.infer<typeof createAccount>): Promise<AccountView> {
    const saved = await this.accounts.create({ id: newId(), ...input });
    return accountView(await this.require(saved.id));
  }

  async list(q: z.infer<typeof accountQuery>): Promise<Page<AccountView>> {
    const rows = await this.accounts.page({ after: decodeCursor(q.cursor), status: q.status }, q.limit + 1);
    return toPage(rows, q.limit, accountView);
  }

  async get(id: string): Promise<AccountView> {
    return accountView(await this.require(id));
  }

  /** The entity itself, for other modules (users check the account exists). */
  async find(id: string): Promise<Account | null> {
    return this.accounts.findById(id);
  }

  async update(id: string, patch: z.infer<typeof updateAccount>): Promise<AccountView> {
    await this.require(id);
    const version = await this.accounts.update(id, patch);
    // After the commit: credit control reads the account again and never writes back an older read.
    // If Redis is away, the snapshot's age bounds how long the old settings hold.
    await this.credit.invalidate(id, version).catch(() => undefined);
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    await this.require(id);
    const users = await this.accounts.userCount(id);
    if (users > 0) throw conflict(`account ${id} still has ${users} user(s); delete or move them first`, 'id');
    await this.accounts.delete(id);
    await this.credit.invalidate(id, String(Number.MAX_SAFE_INTEGER)).catch(() => undefined);
  }

  private async require(id: string): Promise<Account> {
    const a = await this.accounts.findById(id);
    if (!a) throw notFound('account', id);
    return a;
  }
}
