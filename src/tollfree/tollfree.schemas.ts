/**
 * Toll-free request schemas and the rule-set checks.
 *
 * Two steps, so one answer names every problem: zod checks the shape (types, formats, unknown
 * fields: 400), then `checkEntry` checks the rules a well-formed entry must follow (targets routable
 * and not toll-free, percentages summing to 100, time and date ranges, the time zone: 422, all
 * problems at once). Pure: the number checks come in as functions.
 */
import { IANAZone } from 'luxon';
import { z } from 'zod';
import type { Normalisation, NormalisedNumber } from '../numbers/number-format';
import { pageQuery } from '../platform/pagination';
import type { FieldError } from '../platform/problem';
import { uuid } from '../platform/validation';
import { blockCodes, callerTypes, DateRange, RuleAction, TimeRange, TollFreeEntry, TollFreeRule, weekdays } from './translate';

export const MAX_RULES = 256;
export const MAX_SPLIT_TARGETS = 32;

const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'expected HH:MM (00:00 to 23:59)');
const hhmmEnd = z.string().regex(/^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/, 'expected HH:MM (00:00 to 24:00)');
const isoDate = z.string().regex(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/, 'expected YYYY-MM-DD');
const prefix = z.string().regex(/^\+[1-9][0-9]{0,14}$/, 'expected + and the leading digits of an E.164 number, e.g. +1212');
const numberText = z.string().trim().min(1).max(32);
const nonEmpty = 'must not be empty (leave the condition out to match every call)';

export const conditionsInput = z.strictObject({
  callerPrefixes: z.array(prefix).min(1, nonEmpty).max(1000).optional(),
  callerTypes: z.array(z.enum(callerTypes)).min(1, nonEmpty).optional(),
  days: z.array(z.enum(weekdays)).min(1, nonEmpty).optional(),
  timeRanges: z.array(z.strictObject({ from: hhmm, to: hhmmEnd })).min(1, nonEmpty).max(48).optional(),
  dateRanges: z.array(z.strictObject({ from: isoDate, to: isoDate })).min(1, nonEmpty).max(366).optional(),
});

/** Exactly one of route, split, block; `sipCode` (403 or 603, default 403) goes with block. */
export const actionInput = z.strictObject({
  route: numberText.optional(),
  split: z.array(z.strictObject({ target: numberText, percent: z.number().gt(0).max(100) })).optional(),
  block: z.string().trim().min(1).max(200).optional(),
  sipCode: z.union(blockCodes.map((c) => z.literal(c))).optional(),
});

export const ruleInput = z.strictObject({
  /** Kept when given (so a rule keeps its id across edits); the server makes one otherwise. */
  id: uuid.optional(),
  name: z.string().trim().min(1).max(100),
  when: conditionsInput.default({}).describe('every condition given must hold (AND); within one, any value (OR); {} or absent matches every call'),
  action: actionInput.describe('exactly one of route (a number), split (shares summing to 100, stable per call id) or block (reason, sipCode 403 or 603)'),
});

const entryFields = {
  accountId: uuid,
  timezone: z.string().trim().min(1).max(64),
  defaultTarget: numberText,
  rules: z
    .array(ruleInput)
    .max(MAX_RULES)
    .default([])
    .describe('tried in order: the first rule whose conditions all hold acts; none matching routes to defaultTarget'),
};
export const createEntry = z.strictObject({ e164: numberText, ...entryFields });
/** PUT replaces the whole entry; `e164` may be repeated but must be the number in the path. */
export const replaceEntry = z.strictObject({ e164: numberText.optional(), ...entryFields });

export const entryQuery = pageQuery.extend({
  accountId: uuid.optional(),
  prefix: z.string().regex(/^\+?[0-9]{1,15}$/, 'expected leading digits of an E.164 number').optional(),
});

export const translateInput = z.strictObject({
  /** E.164 (national input is normalised with DEFAULT_COUNTRY); null, absent or `anonymous`: a withheld caller. */
  caller: z.string().trim().max(64).nullable().default(null),
  at: z.iso.datetime({ offset: true, message: 'expected an ISO-8601 timestamp such as 2026-11-23T09:00:00Z' }).optional(),
  callId: z.string().min(1).max(256).default('dry-run'),
});

export const versionQuery = pageQuery;

export const rangeInput = z.strictObject({
  prefix,
  kind: z.enum(['tollFree', 'payphone']),
  note: z.string().trim().max(200).nullable().default(null),
});

/** How numbers are judged: injected so this file stays pure. */
export interface NumberChecks {
  normalise(input: string): Normalisation;
  /** libphonenumber says toll-free, or an operator toll-free range covers it. */
  isTollFree(n: NormalisedNumber | string): boolean;
}

export type EntryInput = z.infer<typeof createEntry>;
type RuleIn = z.infer<typeof ruleInput>;

const validDate = (s: string): boolean => {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
};

export function isKnownZone(tz: string): boolean {
  return IANAZone.isValidZone(tz);
}

/**
 * Checks a well-formed entry against every rule, normalising its numbers. Answers the entry ready
 * to store, or every problem found (none is skipped because another was found first).
 */
export function checkEntry(
  input: EntryInput,
  numbers: NumberChecks,
  newRuleId: () => string,
): { entry: TollFreeEntry; errors: [] } | { entry?: undefined; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string) => errors.push({ field, message });

  let e164 = input.e164;
  const n = numbers.normalise(input.e164);
  if (n.ok) e164 = n.number.e164;
  if (!(n.ok ? numbers.isTollFree(n.number) : /^\+[1-9][0-9]{1,14}$/.test(input.e164) && numbers.isTollFree(input.e164))) {
    fail('e164', n.ok ? `${n.number.e164} is a ${n.number.type} number, not toll-free (add an operator toll-free range if it is one)` : n.message);
  }

  const target = (field: string, value: string): string => {
    const t = numbers.normalise(value);
    if (!t.ok) {
      fail(field, t.message);
      return value;
    }
    if (numbers.isTollFree(t.number)) fail(field, `${t.number.e164} is toll-free; a target must be a routable number`);
    return t.number.e164;
  };

  if (!isKnownZone(input.timezone)) fail('timezone', `unknown time zone ${input.timezone}; expected an IANA name such as America/New_York or Asia/Tokyo`);
  const defaultTarget = target('defaultTarget', input.defaultTarget);

  const ids = new Map<string, number>();
  const rules = input.rules.map((r, i): TollFreeRule => {
    const at = `rules.${i}`;
    if (r.id !== undefined) {
      const first = ids.get(r.id);
      if (first !== undefined) fail(`${at}.id`, `repeats the id of rules.${first}`);
      else ids.set(r.id, i);
    }
    checkWhen(r, at, fail);
    return { id: r.id ?? newRuleId(), name: r.name, when: r.when, action: checkAction(r.action, `${at}.action`, fail, target) };
  });

  if (errors.length) return { errors };
  return { entry: { e164, accountId: input.accountId, timezone: input.timezone, defaultTarget, rules }, errors: [] };
}

function checkWhen(r: RuleIn, at: string, fail: (field: string, message: string) => void): void {
  r.when.timeRanges?.forEach((t: TimeRange, j) => {
    if (t.from === t.to || (t.from === '00:00' && t.to === '24:00')) {
      fail(`${at}.when.timeRanges.${j}`, `from ${t.from} to ${t.to} is the whole day or nothing; leave timeRanges out to match all day`);
    }
  });
  r.when.dateRanges?.forEach((d: DateRange, j) => {
    const field = `${at}.when.dateRanges.${j}`;
    if (!validDate(d.from)) fail(`${field}.from`, `${d.from} is not a calendar date`);
    if (!validDate(d.to)) fail(`${field}.to`, `${d.to} is not a calendar date`);
    if (validDate(d.from) && validDate(d.to) && d.from > d.to) fail(field, `from ${d.from} is after to ${d.to}`);
  });
  for (const key of ['callerPrefixes', 'callerTypes', 'days'] as const) {
    const list = r.when[key] as string[] | undefined;
    const dup = list?.find((v, j) => list.indexOf(v) !== j);
    if (dup !== undefined) fail(`${at}.when.${key}`, `${dup} is listed twice`);
  }
}

function checkAction(
  a: RuleIn['action'],
  at: string,
  fail: (field: string, message: string) => void,
  target: (field: string, value: string) => string,
): RuleAction {
  const given = (['route', 'split', 'block'] as const).filter((k) => a[k] !== undefined);
  if (given.length !== 1) {
    fail(at, given.length === 0 ? 'expected one of route, split or block' : `expected only one of route, split or block, got ${given.join(' and ')}`);
    return { route: '' };
  }
  if (a.sipCode !== undefined && a.block === undefined) fail(`${at}.sipCode`, 'only a block action takes a sipCode');
  if (a.route !== undefined) return { route: target(`${at}.route`, a.route) };
  if (a.block !== undefined) return { block: a.block, sipCode: a.sipCode ?? 403 };
  const split = a.split!;
  if (split.length < 2 || split.length > MAX_SPLIT_TARGETS) fail(`${at}.split`, `expected 2 to ${MAX_SPLIT_TARGETS} targets, got ${split.length}`);
  let basisPoints = 0;
  const shares = split.map((s, j) => {
    const bp = s.percent * 100;
    if (Math.abs(bp - Math.round(bp)) > 1e-6) fail(`${at}.split.${j}.percent`, 'expected at most two decimals');
    basisPoints += Math.round(bp);
    return { target: target(`${at}.split.${j}.target`, s.target), percent: s.percent };
  });
  if (basisPoints !== 10_000) fail(`${at}.split`, `percentages sum to ${basisPoints / 100}, expected 100`);
  const seen = new Set<string>();
  shares.forEach((s, j) => {
    if (seen.has(s.target)) fail(`${at}.split.${j}.target`, `${s.target} appears twice in the split`);
    seen.add(s.target);
  });
  return { split: shares };
}
