/**
 * Toll-free translation: the pure decision from a toll-free entry and the facts of one call (caller,
 * instant, call id) to a routable target, or a block. No I/O, no clock, no randomness: the same
 * input always gives the same answer, which is what lets retransmissions and failover of a call land
 * on the same target of a percentage split.
 *
 * Imports only luxon, the pure number normaliser and the stable hash; never Nest, TypeORM, Redis or another service.
 */
import { stableHash32 } from '../platform/stable-hash';
import { DateTime } from 'luxon';
import { isE164, normaliseNumber, NumberKind } from '../numbers/number-format';

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

/**
 * What a caller is, from its number. North American numbers are one range for both fixed and mobile
 * lines, so libphonenumber (and we) call them `fixedLineOrMobile`; payphones are operator-configured
 * prefixes; a withheld, anonymous or unparseable caller is `unknown`.
 */
export const callerTypes = ['fixedLine', 'mobile', 'fixedLineOrMobile', 'payphone', 'tollFree', 'voip', 'other', 'unknown'] as const;
export type CallerType = (typeof callerTypes)[number];

/** Local wall-clock times `HH:MM`; `from` inclusive, `to` exclusive (`24:00` allowed); from > to crosses midnight. */
export interface TimeRange {
  from: string;
  to: string;
}
/** Local calendar dates `YYYY-MM-DD`, both ends included. */
export interface DateRange {
  from: string;
  to: string;
}

/**
 * Every condition present must hold; an absent one matches every call. Each is read at the instant
 * of the call in the entry's time zone, independently: `days: [sat]` with `18:00–09:00` matches
 * Saturday evening and Saturday early morning, not the early morning of Sunday.
 */
export interface RuleConditions {
  callerPrefixes?: string[];
  callerTypes?: CallerType[];
  days?: Weekday[];
  timeRanges?: TimeRange[];
  dateRanges?: DateRange[];
}

export interface SplitShare {
  target: string;
  /** Up to two decimals; the shares of one split sum to exactly 100. */
  percent: number;
}

export const blockCodes = [403, 603] as const;
export type BlockCode = (typeof blockCodes)[number];

export type RuleAction = { route: string } | { split: SplitShare[] } | { block: string; sipCode: BlockCode };

export interface TollFreeRule {
  id: string;
  name: string;
  when: RuleConditions;
  action: RuleAction;
}

export interface TollFreeEntry {
  e164: string;
  accountId: string;
  /** IANA time zone the time and date conditions are read in. */
  timezone: string;
  defaultTarget: string;
  rules: TollFreeRule[];
}

/** The call a toll-free number is translated for (calls/call.ts's CallFacts are the B2BUA's record of a call). */
export interface TranslationInput {
  /** The caller in E.164; null, empty or anything else (e.g. `anonymous`) is an unknown caller. */
  caller: string | null;
  at: Date;
  callId: string;
}

/** Operator-configured prefixes that override libphonenumber's caller type. */
export interface CallerRanges {
  payphonePrefixes: readonly string[];
}
export const noRanges: CallerRanges = { payphonePrefixes: [] };

export type Routed = { target: string; ruleId: string | null; ruleName: string | null };
export type Blocked = { blocked: true; reason: string; sipCode: BlockCode; ruleId: string; ruleName: string };
export type Translation = Routed | Blocked;

export const isBlocked = (t: Translation): t is Blocked => 'blocked' in t;

/** A split resolves call ids to 1/100 of a percent. */
export const SPLIT_BUCKETS = 10_000;

interface CompiledRule {
  rule: TollFreeRule;
  callerTypes?: ReadonlySet<CallerType>;
  days?: ReadonlySet<Weekday>;
  /** [from, to) in seconds of the local day. */
  times?: ReadonlyArray<readonly [number, number]>;
  /** Cumulative upper bounds in buckets, paired with targets. */
  split?: ReadonlyArray<readonly [number, string]>;
}

/** An entry with its conditions pre-parsed, so a cached entry translates without re-parsing. */
export interface CompiledEntry {
  entry: TollFreeEntry;
  rules: CompiledRule[];
  /** Whether any rule reads the local time, so the time zone conversion is skipped when none does. */
  needsClock: boolean;
  needsCallerType: boolean;
}

const secondsOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 3600 + Number(hhmm.slice(3, 5)) * 60;

export function compileEntry(entry: TollFreeEntry): CompiledEntry {
  const rules = entry.rules.map((rule): CompiledRule => {
    const w = rule.when;
    const compiled: CompiledRule = { rule };
    if (w.callerTypes) compiled.callerTypes = new Set(w.callerTypes);
    if (w.days) compiled.days = new Set(w.days);
    if (w.timeRanges) compiled.times = w.timeRanges.map((r) => [secondsOf(r.from), secondsOf(r.to)] as const);
    if ('split' in rule.action) {
      let upTo = 0;
      compiled.split = rule.action.split.map((s) => {
        upTo += Math.round(s.percent * 100);
        return [upTo, s.target] as const;
      });
    }
    return compiled;
  });
  return {
    entry,
    rules,
    needsClock: entry.rules.some((r) => r.when.days || r.when.timeRanges || r.when.dateRanges),
    needsCallerType: entry.rules.some((r) => r.when.callerTypes),
  };
}

const kindToCaller: Partial<Record<NumberKind, CallerType>> = {
  geographic: 'fixedLine',
  mobile: 'mobile',
  fixedLineOrMobile: 'fixedLineOrMobile',
  tollFree: 'tollFree',
  voip: 'voip',
};

/** Memo of libphonenumber's answer per caller (parsing costs tens of microseconds); bounded. */
const typeOfCaller = new Map<string, CallerType>();
const MEMO_MAX = 50_000;

/** The caller's type; operator payphone prefixes win over libphonenumber's type. */
export function classifyCaller(caller: string | null, ranges: CallerRanges = noRanges): CallerType {
  if (!caller || !isE164(caller)) return 'unknown';
  if (ranges.payphonePrefixes.some((p) => caller.startsWith(p))) return 'payphone';
  let type = typeOfCaller.get(caller);
  if (type === undefined) {
    const n = normaliseNumber(caller, 'US'); // international input: the default country is not used
    type = n.ok ? (kindToCaller[n.number.type] ?? 'other') : 'unknown';
    if (typeOfCaller.size >= MEMO_MAX) typeOfCaller.clear();
    typeOfCaller.set(caller, type);
  }
  return type;
}

/** Which of SPLIT_BUCKETS buckets a call id falls in (a stable hash, so retries land alike). */
export function callBucket(callId: string): number {
  return Math.floor((stableHash32(callId) * SPLIT_BUCKETS) / 4294967296);
}

interface LocalTime {
  weekday: Weekday;
  second: number;
  date: string;
}

/**
 * UTC offsets (minutes) per zone and UTC hour, from luxon: converting through luxon costs tens of
 * microseconds a call, and calls arrive at nearby instants. An hour whose two ends differ in offset
 * (it holds a transition) is never memoised and is converted exactly every time.
 */
const offsets = new Map<string, number>();
const HOUR = 3_600_000;

function offsetMinutes(ms: number, zone: string): number | undefined {
  const hour = Math.floor(ms / HOUR);
  const key = `${zone} ${hour}`;
  const known = offsets.get(key);
  if (known !== undefined) return known;
  const start = DateTime.fromMillis(hour * HOUR, { zone });
  if (!start.isValid) return undefined;
  if (DateTime.fromMillis(hour * HOUR + HOUR - 1, { zone }).offset !== start.offset) return undefined;
  if (offsets.size >= MEMO_MAX) offsets.clear();
  offsets.set(key, start.offset);
  return start.offset;
}

function localTime(at: Date, zone: string): LocalTime {
  const ms = at.getTime();
  const offset = offsetMinutes(ms, zone);
  if (offset !== undefined) {
    // The wall clock is UTC shifted by the offset: read it with the UTC getters.
    const wall = new Date(ms + offset * 60_000);
    const iso = wall.toISOString();
    return { weekday: weekdays[(wall.getUTCDay() + 6) % 7], second: wall.getUTCHours() * 3600 + wall.getUTCMinutes() * 60 + wall.getUTCSeconds(), date: iso.slice(0, 10) };
  }
  const t = DateTime.fromMillis(ms, { zone });
  if (!t.isValid) throw new RangeError(`cannot read ${String(at)} in time zone ${zone}: ${t.invalidExplanation ?? t.invalidReason}`);
  return { weekday: weekdays[t.weekday - 1], second: t.hour * 3600 + t.minute * 60 + t.second, date: t.toISODate()! };
}

function inTimes(second: number, times: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [from, to] of times) {
    if (from < to ? second >= from && second < to : second >= from || second < to) return true;
  }
  return false;
}

function matches(r: CompiledRule, caller: string | null, callerType: () => CallerType, local: () => LocalTime): boolean {
  const w = r.rule.when;
  if (w.callerPrefixes && !(caller !== null && w.callerPrefixes.some((p) => caller.startsWith(p)))) return false;
  if (r.callerTypes && !r.callerTypes.has(callerType())) return false;
  if (r.days && !r.days.has(local().weekday)) return false;
  if (r.times && !inTimes(local().second, r.times)) return false;
  if (w.dateRanges) {
    const d = local().date;
    if (!w.dateRanges.some((range) => d >= range.from && d <= range.to)) return false;
  }
  return true;
}

/** Translates with an already compiled entry (what the service's cache holds). */
export function translateCompiled(c: CompiledEntry, call: TranslationInput, ranges: CallerRanges = noRanges): Translation {
  const caller = call.caller && isE164(call.caller) ? call.caller : null;
  let type: CallerType | undefined;
  let local: LocalTime | undefined;
  const callerType = () => (type ??= classifyCaller(caller, ranges));
  const clock = () => (local ??= localTime(call.at, c.entry.timezone));
  for (const r of c.rules) {
    if (!matches(r, caller, callerType, clock)) continue;
    const { rule } = r;
    const a = rule.action;
    if ('route' in a) return { target: a.route, ruleId: rule.id, ruleName: rule.name };
    if ('block' in a) return { blocked: true, reason: a.block, sipCode: a.sipCode, ruleId: rule.id, ruleName: rule.name };
    const bucket = callBucket(call.callId);
    const share = r.split!.find(([upTo]) => bucket < upTo) ?? r.split![r.split!.length - 1];
    return { target: share[1], ruleId: rule.id, ruleName: rule.name };
  }
  return { target: c.entry.defaultTarget, ruleId: null, ruleName: null };
}

/**
 * The routing of one call to a toll-free number: rules are tried in order, the first whose
 * conditions all hold acts; none matching routes to the default target.
 */
export function translate(entry: TollFreeEntry, call: TranslationInput, ranges: CallerRanges = noRanges): Translation {
  return translateCompiled(compileEntry(entry), call, ranges);
}
