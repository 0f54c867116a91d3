/** What the accounts, rate decks and billing endpoints answer, as zod for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { moneyOut, timestamp } from '../platform/openapi';
import { accountStatuses } from './account.entity';

export const accountOut = z.object({
  id: z.string(),
  name: z.string(),
  currency: z.string().describe('ISO 4217'),
  balance: moneyOut.describe('prepaid balance; changed only by top-ups and rated calls (the ledger)'),
  creditLimit: moneyOut.describe('how far below zero the balance may go'),
  maxConcurrentCalls: z.number().int().nullable().describe('null: DEFAULT_MAX_CONCURRENT_CALLS'),
  allowedCountries: z.array(z.string()).nullable().describe('ISO country codes callable; null: any'),
  maxRatePerMinute: moneyOut.nullable().describe('destinations dearer than this are refused; null: no cap'),
  dailySpendLimit: moneyOut.nullable().describe('calls are refused once the day’s spend reaches this; null: no cap'),
  rateDeckId: z.string().nullable().describe('the rate deck calls are priced with; null: every outbound call is refused (403 no rate)'),
  status: z.enum(accountStatuses),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const topUpOut = z.object({
  id: z.string(),
  accountId: z.string(),
  amount: moneyOut,
  currency: z.string(),
  reference: z.string().nullable(),
  ledgerEntryId: z.string(),
  balance: moneyOut.describe('the balance after this top-up'),
  createdAt: timestamp,
});

export const ledgerEntryOut = z.object({
  id: z.string(),
  accountId: z.string(),
  seq: z.number().int().describe('the account’s entry number, gapless'),
  kind: z.enum(['topup', 'call', 'rental']),
  amount: moneyOut.describe('positive credits, negative debits'),
  balanceAfter: moneyOut,
  currency: z.string(),
  cdrId: z.string().nullable(),
  topupId: z.string().nullable(),
  number: z.string().nullable().describe('rental: the number charged'),
  period: z.string().nullable().describe('rental: YYYY-MM'),
  description: z.string().nullable(),
  createdAt: timestamp,
});

export const balanceOut = z.object({
  accountId: z.string(),
  balance: moneyOut,
  ledgerSum: moneyOut.describe('the sum of the ledger; equal to balance'),
  creditLimit: moneyOut,
  currency: z.string(),
  ledgerSeq: z.number().int(),
});

export const rateDeckOut = z.object({
  id: z.string(),
  name: z.string(),
  currency: z.string(),
  rates: z.number().int().describe('how many rates the deck holds'),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const rateOut = z.object({
  id: z.string(),
  rateDeckId: z.string(),
  prefix: z.string().describe('E.164 digits without +; the longest matching prefix prices a call'),
  destination: z.string(),
  currency: z.string(),
  ratePerMinute: moneyOut,
  connectionFee: moneyOut,
  firstIncrement: z.number().int().describe('seconds billed at least'),
  nextIncrement: z.number().int().describe('then billed in steps of this many seconds'),
  effectiveFrom: timestamp,
  effectiveTo: timestamp.nullable(),
});

export const quoteOut = z.object({
  cost: moneyOut,
  currency: z.string(),
  prefix: z.string(),
  destination: z.string(),
  ratePerMinute: moneyOut,
  connectionFee: moneyOut,
  firstIncrement: z.number().int(),
  nextIncrement: z.number().int(),
  billableSeconds: z.number().int(),
  seconds: z.number().int(),
});

export const cdrOut = z.object({
  id: z.string(),
  callId: z.string().describe('the gateway’s call id (GET /v1/calls/{callId}/sip)'),
  direction: z.string().describe('outbound, inbound or internal'),
  accountId: z.string().nullable(),
  userId: z.string().nullable(),
  trunkId: z.string().nullable(),
  caller: z.string().nullable(),
  dialed: z.string().nullable().describe('as the caller dialled it'),
  callee: z.string().nullable().describe('E.164 after normalisation, a user name or a configured target'),
  translatedTo: z.string().nullable().describe('toll-free calls: the target the rules chose'),
  startedAt: timestamp,
  ringingAt: timestamp.nullable(),
  answeredAt: timestamp.nullable(),
  endedAt: timestamp.nullable(),
  durationSeconds: z.number().int(),
  billableSeconds: z.number().int().nullable(),
  disposition: z.string().describe('answered, busy, noAnswer, failed, cancelled or rejected'),
  sipCode: z.number().int().nullable(),
  sipReason: z.string().nullable(),
  hangupBy: z.string().nullable(),
  ratePrefix: z.string().nullable(),
  rateDestination: z.string().nullable(),
  ratePerMinute: moneyOut.nullable(),
  cost: moneyOut.nullable(),
  currency: z.string().nullable(),
  status: z.string().describe('rating status: pending, rated or failed'),
  failureReason: z.string().nullable(),
  ratedAt: timestamp.nullable(),
});

export const usageOut = z.object({
  groupBy: z.enum(['day', 'destination', 'account']),
  from: timestamp.describe('the period used (inclusive)'),
  to: timestamp.describe('the period used (exclusive)'),
  data: z.array(
    z
      .object({
        day: z.string().optional(),
        prefix: z.string().optional(),
        destination: z.string().nullable().optional(),
        accountId: z.string().optional(),
        currency: z.string().nullable(),
        calls: z.number().int(),
        answered: z.number().int(),
        durationSeconds: z.number().int(),
        billableSeconds: z.number().int(),
        cost: moneyOut,
      })
      .describe('one of day, prefix (with destination) or accountId, by groupBy'),
  ),
});

export const importedOut = z.object({ imported: z.number().int().describe('rows imported (all or none)') });
