/**
 * Rating: the pure pricing rules of API.md ("Rate deck"). Plain data in, plain data out; no I/O,
 * no Nest, no database. Imports only decimal.js.
 *
 * Money is exact: decimal.js with 40 significant digits, and every cost rounded once, up, to the
 * 6 decimals money columns hold (numeric(20,6)), so the total of any number of CDRs is exactly the
 * sum of what each one was charged. Rounding up means the carrier is never under-recovered by a
 * fraction of a micro-unit; it never changes a cost that is already a whole micro-unit.
 */
import Decimal from 'decimal.js';

/** A decimal type of its own so no other module's Decimal settings change ours. */
export const Money = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_UP, toExpNeg: -40, toExpPos: 40 });
export type Money = InstanceType<typeof Money>;

export interface Tariff {
  /** Decimal string, e.g. "0.012345". */
  ratePerMinute: string;
  /** Decimal string, charged once per answered call. */
  connectionFee: string;
  /** Seconds, >= 1. */
  firstIncrement: number;
  /** Seconds, >= 1. */
  nextIncrement: number;
}

export interface Rated {
  billableSeconds: number;
  /** Decimal string with 6 decimals. */
  cost: string;
}

/** 0 for 0 seconds; otherwise at least `first`, then rounded up to the next `next` boundary. */
export function billableSeconds(seconds: number, first: number, next: number): number {
  if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError(`seconds must be a non-negative integer, got ${seconds}`);
  if (!Number.isInteger(first) || first < 1 || !Number.isInteger(next) || next < 1) throw new RangeError('increments must be positive integers');
  if (seconds === 0) return 0;
  if (seconds <= first) return first;
  return first + Math.ceil((seconds - first) / next) * next;
}

/** Cost of `billable` seconds, with the connection fee, rounded up to 6 decimals. */
export function costOf(t: Tariff, billable: number): Money {
  return new Money(t.connectionFee).plus(new Money(t.ratePerMinute).times(billable).div(60)).toDecimalPlaces(6, Money.ROUND_UP);
}

/**
 * Prices a call. An answered call of 0 seconds pays the connection fee alone; an unanswered call
 * costs nothing.
 */
export function rateCall(t: Tariff, seconds: number, answered = true): Rated {
  if (!answered) return { billableSeconds: 0, cost: '0.000000' };
  const b = billableSeconds(seconds, t.firstIncrement, t.nextIncrement);
  return { billableSeconds: b, cost: costOf(t, b).toFixed(6) };
}

/**
 * The longest call `available` can pay at this tariff, as whole billing increments (so the call may
 * last exactly that many seconds), capped at `cap` seconds. 0 when it cannot pay the first increment.
 */
export function affordableSeconds(t: Tariff, available: Money | string, cap: number): number {
  const avail = new Money(available);
  const { firstIncrement: first, nextIncrement: next } = t;
  if (cap < first || costOf(t, first).gt(avail)) return 0;
  const steps = Math.floor((cap - first) / next);
  const perStep = new Money(t.ratePerMinute).times(next).div(60);
  let k = steps;
  if (perStep.gt(0)) {
    const room = avail.minus(costOf(t, first));
    k = Math.min(steps, room.div(perStep).floor().toNumber());
  }
  // The estimate ignores that each cost is rounded up once: settle it on the exact rounded costs.
  while (k > 0 && costOf(t, first + k * next).gt(avail)) k--;
  while (k < steps && costOf(t, first + (k + 1) * next).lte(avail)) k++;
  return first + k * next;
}

/** Decimal string (up to 6 decimals) → integer micro-units, exactly. */
export function toMicros(amount: Money | string): bigint {
  const d = new Money(amount).times(1_000_000);
  if (!d.isInteger()) throw new RangeError(`${amount.toString()} has more than 6 decimals`);
  return BigInt(d.toFixed(0));
}

export function fromMicros(micros: bigint): string {
  return new Money(micros.toString()).div(1_000_000).toFixed(6);
}
