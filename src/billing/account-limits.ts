/**
 * The fraud limits of an account as pure decisions (issue 11, after Telnyx's and Twilio's outbound
 * voice profiles): which countries it may call, the highest per-minute rate, and how much of the
 * UTC day's spending limit is left. Plain data in, plain data out; credit control does the reads
 * (from its Redis snapshot of the account, credit-control.service.ts) around them. Money stays exact (rating's Money, never floats).
 * Imports libphonenumber-js (the country of a number) and rating only.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { Money } from './rating';

/** The account fields that limit calls, named as the API names them (and as refusals name them). */
export type AccountLimit = 'allowedCountries' | 'maxRatePerMinute' | 'dailySpendLimit' | 'maxConcurrentCalls';

/**
 * The ISO 3166-1 alpha-2 country of an E.164 number (libphonenumber's full metadata, so +1 and +7
 * numbers resolve to US, CA, KZ...), or null when no country owns it (international networks such
 * as +882, invalid numbers).
 */
export function destinationCountry(e164: string): string | null {
  return parsePhoneNumberFromString(e164)?.country ?? null;
}

/** May an account with `allowed` (null: every country) call this number? A number of no country is allowed only to null. */
export function countryAllowed(allowed: readonly string[] | null, e164: string): boolean {
  if (allowed === null) return true;
  const country = destinationCountry(e164);
  return country !== null && allowed.includes(country);
}

/** Is `ratePerMinute` within `max` (null: no limit)? Exact decimal comparison: equal is allowed. */
export function rateAllowed(max: string | null, ratePerMinute: string): boolean {
  return max === null || new Money(ratePerMinute).lte(max);
}

/** The start of the UTC day `now` is in: today's CDRs are those that started since. */
export function utcDayStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/**
 * What the account may still spend today: the limit minus the rated cost of today's CDRs minus
 * every open hold (calls in progress at their worst case, ended calls not yet rated at their
 * exact cost). May be negative. A new call is granted only the seconds this room pays for.
 */
export function dailyRoom(limit: string, ratedToday: string, held: string): Money {
  return new Money(limit).minus(ratedToday).minus(held);
}
