/**
 * Telephone number normalisation to E.164 and type detection, with libphonenumber-js's full
 * ("max") metadata: the default metadata has no number types for some countries.
 * Pure: plain data in, plain data out.
 */
import { CountryCode, NumberType, parsePhoneNumberFromString } from 'libphonenumber-js/max';

export type NumberKind =
  | 'geographic'
  | 'mobile'
  | 'fixedLineOrMobile'
  | 'tollFree'
  | 'premiumRate'
  | 'sharedCost'
  | 'voip'
  | 'personal'
  | 'pager'
  | 'uan'
  | 'voicemail'
  | 'unknown';

const kinds: Record<NonNullable<NumberType>, NumberKind> = {
  FIXED_LINE: 'geographic',
  MOBILE: 'mobile',
  FIXED_LINE_OR_MOBILE: 'fixedLineOrMobile',
  TOLL_FREE: 'tollFree',
  PREMIUM_RATE: 'premiumRate',
  SHARED_COST: 'sharedCost',
  VOIP: 'voip',
  PERSONAL_NUMBER: 'personal',
  PAGER: 'pager',
  UAN: 'uan',
  VOICEMAIL: 'voicemail',
};

export interface NormalisedNumber {
  e164: string;
  country: string | null;
  type: NumberKind;
}

export type Normalisation = { ok: true; number: NormalisedNumber } | { ok: false; message: string };

const separators = /[\s().\-/]/g;

/**
 * Normalises `input` to E.164.
 * - `+…` (or `00…`) is international.
 * - Otherwise the number is national to `defaultCountry`; if that is not a valid number and the
 *   digits could be a full international number (as SIP user agents often dial without `+`),
 *   it is tried as `+digits`.
 */
export function normaliseNumber(input: string, defaultCountry: string): Normalisation {
  const key = `${defaultCountry}|${input}`;
  let result = recent.get(key);
  if (!result) {
    result = parse(input, defaultCountry);
    recent.set(key, result);
    if (recent.size > RECENT_MAX) recent.delete(recent.keys().next().value!);
  }
  // A copy: callers own what they get, the memo stays as parsed.
  return result.ok ? { ok: true, number: { ...result.number } } : { ...result };
}

/**
 * The last RECENT_MAX answers: a call asks about the same number several times (the dialled
 * string, then its E.164 form for the destination policy and the toll-free check), and a
 * libphonenumber parse with the full metadata costs tens of microseconds. The function is pure,
 * so a remembered answer is the answer.
 */
const RECENT_MAX = 4096;
const recent = new Map<string, Normalisation>();

function parse(input: string, defaultCountry: string): Normalisation {
  const raw = input.trim().replace(separators, '');
  if (!/^(\+|00)?[0-9]{2,17}$/.test(raw)) return { ok: false, message: 'expected a telephone number: digits with an optional leading +' };
  const international = raw.startsWith('+') ? raw : raw.startsWith('00') ? `+${raw.slice(2)}` : undefined;
  const candidates = international ? [international] : [raw, `+${raw}`];
  for (const candidate of candidates) {
    const parsed = candidate.startsWith('+')
      ? parsePhoneNumberFromString(candidate)
      : parsePhoneNumberFromString(candidate, defaultCountry as CountryCode);
    if (parsed?.isValid()) {
      const type = parsed.getType();
      return { ok: true, number: { e164: parsed.number, country: parsed.country ?? null, type: type ? kinds[type] : 'unknown' } };
    }
  }
  return { ok: false, message: international ? 'not a valid international number' : `not a valid number in ${defaultCountry} or internationally` };
}

/** True for a string already in strict E.164 form. */
export const isE164 = (s: string): boolean => /^\+[1-9][0-9]{1,14}$/.test(s);
